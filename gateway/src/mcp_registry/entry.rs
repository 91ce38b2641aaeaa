//! One registry entry (`server.json` of the official MCP Registry) turned
//! into a bridge entry (`RawMcpServer`): a remote (Streamable HTTP or SSE)
//! becomes a `url`, a package a `command` — npm through `npx`, PyPI through
//! `uvx`, OCI images through `docker run`, NuGet through `dnx` (`package`
//! builds that command line; `checks` says what else an entry may set).
//! Values the entry declares as required
//! (environment variables, headers, arguments) come from what the operator
//! gives, else the entry's value or default; a required one still missing
//! is an error naming it, never a bridge that cannot start.

use std::collections::BTreeMap;

use serde_json::Value;

use super::RegistryError;
use super::checks::{
    MAX_ITEMS, checked_word, env_name, header_name, header_value, list, remote_url, text,
};
use super::package::command_line;
use crate::config::RawMcpServer;

/// Which way of running the server to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// A remote when the entry has one, else a package (the default: it
    /// runs nothing on the gateway's host).
    #[default]
    Remote,
    /// A package when the entry has a usable one, else a remote.
    Package,
}

/// What the operator gives for an entry.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub prefer: Prefer,
    /// Environment variables of a package (declared or not).
    pub env: BTreeMap<String, String>,
    /// Headers of a remote.
    pub headers: BTreeMap<String, String>,
}

/// The service name an entry gets by default: the part of its registry
/// name after the last `/`, in the characters service names allow.
pub fn local_name(server_name: &str) -> String {
    let last = server_name.rsplit('/').next().unwrap_or(server_name);
    let cleaned: String = last
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '-' || character == '_' {
                character
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() {
        "server".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The bridge entry for `server` (a `server.json` object).
pub fn bridge_entry(server: &Value, choices: &Choices) -> Result<RawMcpServer, RegistryError> {
    let remotes = list(server, "remotes");
    let packages = list(server, "packages");
    let first_remote = remotes.first();
    let mut refusals = Vec::new();
    let package =
        packages.iter().take(MAX_ITEMS).enumerate().find_map(
            |(index, package)| match from_package(package, index, choices) {
                Ok(entry) => Some(entry),
                Err(refusal) => {
                    refusals.push(refusal);
                    None
                }
            },
        );
    match (choices.prefer, first_remote, package) {
        (Prefer::Remote, Some(remote), _) | (Prefer::Package, Some(remote), None) => {
            from_remote(remote, choices)
        }
        (_, _, Some(package)) => Ok(package),
        (_, None, None) if refusals.is_empty() => Err(RegistryError::Unusable(
            "the entry has neither packages nor remotes".into(),
        )),
        (_, None, None) => Err(RegistryError::Unusable(refusals.join("; "))),
    }
}

fn from_remote(remote: &Value, choices: &Choices) -> Result<RawMcpServer, RegistryError> {
    let unusable = |error: String| RegistryError::Unusable(format!("remotes[0].{error}"));
    let url = text(remote, "url").ok_or_else(|| unusable("url: missing".into()))?;
    remote_url(url).map_err(unusable)?;
    let transport = match text(remote, "type") {
        Some("streamable-http") | None => "http",
        Some("sse") => "sse",
        Some(other) => {
            return Err(unusable(format!(
                "type: {other:?} is not a transport a bridge speaks"
            )));
        }
    };
    let headers = inputs(list(remote, "headers"), &choices.headers, "header")?;
    for (name, value) in &headers {
        header_name(name)
            .and_then(|()| header_value(name, value))
            .map_err(|error| unusable(format!("headers: {error}")))?;
    }
    Ok(RawMcpServer {
        url: Some(url.to_owned()),
        transport_type: Some(transport.to_owned()),
        headers,
        ..RawMcpServer::default()
    })
}

fn from_package(package: &Value, index: usize, choices: &Choices) -> Result<RawMcpServer, String> {
    let registry_type = text(package, "registryType").unwrap_or("?");
    let identifier = text(package, "identifier").unwrap_or("?");
    let transport = package
        .get("transport")
        .and_then(|transport| text(transport, "type"))
        .unwrap_or("stdio");
    if transport != "stdio" {
        return Err(format!(
            "{registry_type} package {identifier} serves {transport} itself: run it and add its URL, or use a remote"
        ));
    }
    let env = inputs(
        list(package, "environmentVariables"),
        &choices.env,
        "environment variable",
    )
    .map_err(|error| error.to_string())?;
    for (name, value) in &env {
        env_name(name)
            .and_then(|()| checked_word(value))
            .map_err(|error| format!("packages[{index}].environmentVariables: {error}"))?;
    }
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    let (command, args) = command_line(package, index, &names)?;
    Ok(RawMcpServer {
        command: Some(command),
        args,
        env,
        ..RawMcpServer::default()
    })
}

/// Declared inputs (environment variables, headers) with their values:
/// given, else the entry's value or default; given ones not declared are
/// kept too. A required input without a value is an error naming it.
fn inputs(
    declared: &[Value],
    given: &BTreeMap<String, String>,
    noun: &str,
) -> Result<BTreeMap<String, String>, RegistryError> {
    if declared.len() > MAX_ITEMS || given.len() > MAX_ITEMS {
        return Err(RegistryError::Unusable(format!(
            "more than {MAX_ITEMS} {noun}s"
        )));
    }
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for input in declared {
        let Some(name) = text(input, "name") else {
            continue;
        };
        let value = given
            .get(name)
            .map(String::as_str)
            .or_else(|| text(input, "value"))
            .or_else(|| text(input, "default"));
        match value {
            Some(value) => {
                values.insert(name.to_owned(), value.to_owned());
            }
            None if input.get("isRequired").and_then(Value::as_bool) == Some(true) => {
                missing.push(name.to_owned());
            }
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(RegistryError::MissingInputs(format!(
            "required {noun}{} without a value: {}",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        )));
    }
    for (name, value) in given {
        values.entry(name.clone()).or_insert_with(|| value.clone());
    }
    Ok(values)
}

/// Runtime or package arguments as command-line words; a required one
/// without a value is an error naming it.
pub(super) fn arguments(declared: &[Value]) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    for argument in declared {
        let value = text(argument, "value").or_else(|| text(argument, "default"));
        let required = argument.get("isRequired").and_then(Value::as_bool) == Some(true);
        match (text(argument, "type"), value) {
            (Some("named"), value) => {
                let Some(name) = text(argument, "name") else {
                    continue;
                };
                match value {
                    Some(value) => {
                        words.push(name.to_owned());
                        words.push(value.to_owned());
                    }
                    None if required => {
                        return Err(format!("required argument {name} has no value"));
                    }
                    // A flag without a value.
                    None => words.push(name.to_owned()),
                }
            }
            (_, Some(value)) => words.push(value.to_owned()),
            (_, None) if required => {
                let hint = text(argument, "valueHint").unwrap_or("value");
                return Err(format!("required argument <{hint}> has no value"));
            }
            (_, None) => {}
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn names_come_from_the_last_part() {
        assert_eq!(local_name("io.github.someone/weather-mcp"), "weather-mcp");
        assert_eq!(local_name("com.example/My Server.v2"), "My-Server-v2");
        assert_eq!(local_name("///"), "server");
    }

    #[test]
    fn packages_become_commands() {
        let npm = json!({"packages": [{"registryType": "npm", "identifier": "@acme/mcp", "version": "1.2.0",
            "transport": {"type": "stdio"}, "packageArguments": [{"type": "positional", "value": "stdio"}],
            "environmentVariables": [{"name": "LOG", "default": "info"}, {"name": "KEY", "isRequired": true, "isSecret": true}]}]});
        let choices = Choices {
            env: given(&[("KEY", "s3cret")]),
            ..Choices::default()
        };
        let entry = bridge_entry(&npm, &choices).expect("npm");
        assert_eq!(entry.command.as_deref(), Some("npx"));
        assert_eq!(entry.args, ["-y", "@acme/mcp@1.2.0", "stdio"]);
        assert_eq!(entry.env, given(&[("KEY", "s3cret"), ("LOG", "info")]));
        let missing = bridge_entry(&npm, &Choices::default()).expect_err("KEY missing");
        assert!(missing.to_string().contains("KEY"), "{missing}");

        let pypi = json!({"packages": [{"registryType": "pypi", "identifier": "mcp-server-time", "version": "1.0",
            "packageArguments": [{"type": "named", "name": "--local-timezone", "value": "UTC"}]}]});
        let entry = bridge_entry(&pypi, &Choices::default()).expect("pypi");
        assert_eq!(entry.command.as_deref(), Some("uvx"));
        assert_eq!(
            entry.args,
            ["mcp-server-time==1.0", "--local-timezone", "UTC"]
        );

        let oci = json!({"packages": [{"registryType": "oci", "identifier": "docker.io/acme/mcp", "version": "2",
            "environmentVariables": [{"name": "TOKEN", "isRequired": true}]}]});
        let choices = Choices {
            env: given(&[("TOKEN", "t")]),
            ..Choices::default()
        };
        let entry = bridge_entry(&oci, &choices).expect("oci");
        assert_eq!(entry.command.as_deref(), Some("docker"));
        assert_eq!(
            entry.args,
            ["run", "-i", "--rm", "-e", "TOKEN", "docker.io/acme/mcp:2"]
        );
    }

    #[test]
    fn remotes_become_urls_and_are_preferred() {
        let both = json!({
            "packages": [{"registryType": "npm", "identifier": "x", "version": "1.0.0"}],
            "remotes": [{"type": "sse", "url": "https://mcp.example.com/sse",
                         "headers": [{"name": "Authorization", "isRequired": true, "isSecret": true}]}]});
        let choices = Choices {
            headers: given(&[("Authorization", "Bearer abc")]),
            ..Choices::default()
        };
        let remote = bridge_entry(&both, &choices).expect("remote");
        assert_eq!(remote.url.as_deref(), Some("https://mcp.example.com/sse"));
        assert_eq!(remote.transport_type.as_deref(), Some("sse"));
        assert_eq!(remote.headers, given(&[("Authorization", "Bearer abc")]));
        let package = bridge_entry(
            &both,
            &Choices {
                prefer: Prefer::Package,
                ..Choices::default()
            },
        )
        .expect("package");
        assert_eq!(package.args, ["-y", "x@1.0.0"]);
        assert!(
            bridge_entry(&both, &Choices::default()).is_err(),
            "the header is required"
        );
    }

    #[test]
    fn unusable_entries_say_why() {
        let http_package = json!({"packages": [{"registryType": "npm", "identifier": "srv", "transport": {"type": "streamable-http"}}]});
        let refused = bridge_entry(&http_package, &Choices::default()).expect_err("http package");
        assert!(
            refused
                .to_string()
                .contains("serves streamable-http itself"),
            "{refused}"
        );
        let mcpb =
            json!({"packages": [{"registryType": "mcpb", "identifier": "https://x/y.mcpb"}]});
        assert!(bridge_entry(&mcpb, &Choices::default()).is_err());
        assert!(bridge_entry(&json!({}), &Choices::default()).is_err());
        let required_argument = json!({"packages": [{"registryType": "npm", "identifier": "fs", "version": "1.0.0",
            "packageArguments": [{"type": "positional", "valueHint": "root", "isRequired": true}]}]});
        let refused = bridge_entry(&required_argument, &Choices::default()).expect_err("argument");
        assert!(refused.to_string().contains("<root>"), "{refused}");
    }
}
