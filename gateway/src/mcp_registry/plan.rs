//! What adding a registry entry will do, shown before anything runs: the
//! exact command, arguments and environment variable names of a package
//! (or the URL, transport and header names of a remote), the values that
//! come from the entry (the operator's own are only named), and a digest
//! of all of it. Adding needs that digest back, so what runs is what was
//! shown: an entry changed in between gives another digest.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Choices;
use crate::config::RawMcpServer;

/// What a registration from the registry runs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Plan {
    /// The service name it is registered as.
    pub service: String,
    pub namespace: Option<String>,
    /// The entry's registry name and version.
    pub server: String,
    pub version: String,
    #[serde(flatten)]
    pub runs: Runs,
}

/// A package's command line, or a remote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Runs {
    Package {
        command: String,
        args: Vec<String>,
        /// The command line as a shell would show it.
        command_line: String,
        env: Vec<Input>,
    },
    Remote {
        url: String,
        transport: String,
        headers: Vec<Input>,
    },
}

/// An environment variable or header: its name, and its value when the
/// entry gives it (the operator's own values are not shown).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    /// `entry` or `operator`.
    pub from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

// === impl Plan ===

impl Plan {
    /// The plan of `entry`, made from the registry's `server` with
    /// `choices`, registered as `service`.
    pub fn of(server: &Value, service: &str, entry: &RawMcpServer, choices: &Choices) -> Self {
        let text = |key: &str| {
            server
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let runs = match (&entry.command, &entry.url) {
            (Some(command), _) => Runs::Package {
                command: command.clone(),
                args: entry.args.clone(),
                command_line: std::iter::once(command)
                    .chain(&entry.args)
                    .map(|word| shell_word(word))
                    .collect::<Vec<_>>()
                    .join(" "),
                env: inputs(&entry.env, &choices.env),
            },
            (None, url) => Runs::Remote {
                url: url.clone().unwrap_or_default(),
                transport: entry.transport_type.clone().unwrap_or_default(),
                headers: inputs(&entry.headers, &choices.headers),
            },
        };
        Self {
            service: service.to_owned(),
            namespace: entry.namespace.clone(),
            server: text("name"),
            version: text("version"),
            runs,
        }
    }

    /// `sha256:` and the hex SHA-256 of the plan as JSON.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }
}

fn inputs(values: &BTreeMap<String, String>, given: &BTreeMap<String, String>) -> Vec<Input> {
    values
        .iter()
        .map(|(name, value)| {
            if given.contains_key(name) {
                Input {
                    name: name.clone(),
                    from: "operator",
                    value: None,
                }
            } else {
                Input {
                    name: name.clone(),
                    from: "entry",
                    value: Some(value.clone()),
                }
            }
        })
        .collect()
}

/// `word` as a POSIX shell would need it to stay one word.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "@%+=:,./_-".contains(character));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mcp_registry::bridge_entry;

    #[test]
    fn the_plan_shows_the_command_and_names_the_operators_values() {
        let server = json!({"name": "io.github.acme/weather", "version": "1.4.0",
            "packages": [{"registryType": "npm", "identifier": "@acme/weather", "version": "1.4.0",
                "packageArguments": [{"type": "positional", "value": "it's"}],
                "environmentVariables": [{"name": "KEY", "isRequired": true}, {"name": "UNITS", "default": "metric"}]}]});
        let choices = Choices {
            env: BTreeMap::from([("KEY".to_owned(), "s3cret".to_owned())]),
            ..Choices::default()
        };
        let entry = bridge_entry(&server, &choices).expect("entry");
        let plan = Plan::of(&server, "weather", &entry, &choices);
        let shown = serde_json::to_value(&plan).expect("json");
        assert_eq!(shown["kind"], "package");
        assert_eq!(
            shown["command_line"],
            r"npx -y @acme/weather@1.4.0 'it'\''s'"
        );
        assert_eq!(
            shown["env"],
            json!([{"name": "KEY", "from": "operator"}, {"name": "UNITS", "from": "entry", "value": "metric"}])
        );
        assert!(!shown.to_string().contains("s3cret"), "{shown}");
        let digest = plan.digest();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
        let changed = json!({"name": "io.github.acme/weather", "version": "1.4.0",
            "packages": [{"registryType": "npm", "identifier": "@acme/weather", "version": "1.4.1",
                "environmentVariables": [{"name": "KEY", "isRequired": true}]}]});
        let other = Plan::of(
            &changed,
            "weather",
            &bridge_entry(&changed, &choices).expect("entry"),
            &choices,
        );
        assert_ne!(other.digest(), digest);
    }
}
