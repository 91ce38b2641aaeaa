//! `micromcp registry`: find MCP servers in a registry that speaks the
//! official MCP Registry API and add one to a running gateway behind a
//! bridge. `search` asks the registry itself (no gateway needed); `add`
//! asks the running gateway's admin API (the one `up` recorded in its
//! state directory, with its admin token): first
//! what it would run (`POST /api/registry/plan`: the exact command,
//! arguments and environment names, and their digest), printed, nothing
//! added; `add --digest D` then registers exactly that plan
//! (`POST /api/registry/add`), which the gateway refuses if the entry
//! changed since. `add --print` only shows the registration it would make.

use std::collections::BTreeMap;
use std::path::PathBuf;

use micromcp_gateway::mcp_registry::{
    Choices, DEFAULT_REGISTRY_URL, Prefer, RegistryClient, bridge_entry, local_name, reorders_text,
};
use serde_json::{Value, json};

/// Flags of `micromcp registry`.
#[derive(clap::Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
    /// The registry (default: admin.registry_url of --config, else the official one).
    #[arg(long, global = true)]
    registry: Option<String>,
    /// Config file whose admin.registry_url to use.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum RegistryCommand {
    /// Lists the servers whose name or description matches QUERY.
    Search {
        query: String,
        /// At most this many.
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// Registers the server NAME (its registry name) with a running gateway.
    Add {
        name: String,
        /// Its service name (default: the last part of NAME).
        #[arg(long = "as")]
        local: Option<String>,
        /// `remote` (default, when the entry has one) or `package`.
        #[arg(long, default_value = "remote")]
        prefer: String,
        /// Namespace of its tools (default: the service name).
        #[arg(long)]
        namespace: Option<String>,
        /// An environment variable of a package, NAME=VALUE (repeatable).
        #[arg(long = "env", value_parser = pair)]
        env: Vec<(String, String)>,
        /// A header of a remote, NAME=VALUE (repeatable).
        #[arg(long = "header", value_parser = pair)]
        headers: Vec<(String, String)>,
        #[command(flatten)]
        admin: crate::admin_api::AdminArgs,
        /// Print the registration instead of making it.
        #[arg(long)]
        print: bool,
        /// The digest of the plan shown by `add` without it: adds exactly that plan.
        #[arg(long)]
        digest: Option<String>,
    },
}

fn pair(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Runs the subcommand.
pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    if let RegistryCommand::Add { print: false, .. } = &args.command
        && (args.registry.is_some() || args.config.is_some())
    {
        // Said, not ignored: the gateway fetches the entry it runs.
        anyhow::bail!(
            "--registry and --config choose the registry of `search` and `add --print`; `add` asks the running gateway, \
             which reads the entry from its own admin.registry_url — set that key in its config (or see another registry's entry with `add --print --registry URL`)"
        );
    }
    let registry = match (args.registry, &args.config) {
        (Some(url), _) => url,
        (None, Some(path)) => {
            let raw = crate::config_source::read_config(Some(path))?;
            raw.admin
                .registry_url
                .unwrap_or_else(|| DEFAULT_REGISTRY_URL.to_owned())
        }
        (None, None) => DEFAULT_REGISTRY_URL.to_owned(),
    };
    match args.command {
        RegistryCommand::Search { query, limit } => search(&registry, &query, limit).await,
        RegistryCommand::Add {
            name,
            local,
            prefer,
            namespace,
            env,
            headers,
            admin,
            print,
            digest,
        } => {
            let request = json!({
                "name": name,
                "as": local,
                "prefer": prefer,
                "namespace": namespace,
                "env": env.into_iter().collect::<BTreeMap<_, _>>(),
                "headers": headers.into_iter().collect::<BTreeMap<_, _>>(),
            });
            if print {
                print_registration(&registry, &request).await
            } else {
                add(&crate::admin_api::AdminTarget::of(&admin), request, digest).await
            }
        }
    }
}

async fn search(registry: &str, query: &str, limit: usize) -> anyhow::Result<()> {
    let servers = RegistryClient::new(registry)?.search(query, limit).await?;
    if servers.is_empty() {
        println!("no server matches {query:?} in {registry}");
        return Ok(());
    }
    for server in servers {
        println!(
            "{}  {}  (adds as {})",
            shown(&server.name),
            shown(&server.version),
            server.local_name
        );
        if !server.description.is_empty() {
            println!("    {}", shown(&server.description));
        }
        for way in &server.ways {
            println!("    - {}", shown(way));
        }
    }
    Ok(())
}

/// The registration `add` would make, printed (secrets included: it is the
/// operator's own input).
async fn print_registration(registry: &str, request: &Value) -> anyhow::Result<()> {
    let name = request["name"].as_str().unwrap_or_default();
    let server = RegistryClient::new(registry)?.latest(name).await?;
    let strings = |key: &str| -> BTreeMap<String, String> {
        serde_json::from_value(request[key].clone()).unwrap_or_default()
    };
    let choices = Choices {
        prefer: if request["prefer"] == "package" {
            Prefer::Package
        } else {
            Prefer::Remote
        },
        env: strings("env"),
        headers: strings("headers"),
    };
    let mut entry = bridge_entry(&server, &choices)?;
    entry.namespace = request["namespace"].as_str().map(str::to_owned);
    let local = request["as"]
        .as_str()
        .map_or_else(|| local_name(name), str::to_owned);
    let printed = serde_json::to_string_pretty(&json!({ "name": local, "mcp_server": entry }))?;
    println!("{}", json_escaped(&printed));
    Ok(())
}

/// JSON text with the characters that reorder or hide text written as
/// `\uXXXX` escapes (the same JSON; a terminal shows it as it reads).
fn json_escaped(json_text: &str) -> String {
    json_text
        .chars()
        .map(|character| {
            if reorders_text(character) {
                format!("\\u{:04x}", u32::from(character))
            } else {
                character.to_string()
            }
        })
        .collect()
}

async fn add(
    admin: &crate::admin_api::AdminTarget,
    mut request: Value,
    digest_opt: Option<String>,
) -> anyhow::Result<()> {
    if !admin.has_token() {
        anyhow::bail!(
            "set MICROMCP_ADMIN_TOKEN to the gateway's admin token (`micromcp up` keeps it in .micromcp/admin-token)"
        );
    }
    let Some(digest) = digest_opt else {
        let shown = admin
            .call(reqwest::Method::POST, "/api/registry/plan", Some(&request))
            .await?;
        print_plan(&shown["plan"]);
        println!(
            "nothing was added: to add exactly this, run the same command with --digest {}",
            shown["digest"].as_str().unwrap_or("?")
        );
        return Ok(());
    };
    request["digest"] = digest.into();
    let body = admin
        .call(reqwest::Method::POST, "/api/registry/add", Some(&request))
        .await?;
    let service = &body["service"];
    println!(
        "registered {} ({})",
        service["name"].as_str().unwrap_or("?"),
        if service["available"] == true {
            "available"
        } else {
            "starting; see GET /api/services"
        }
    );
    Ok(())
}

/// A registry's text for a terminal: control characters (escape
/// sequences) and characters that reorder text escaped, never sent as is.
fn shown(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() || reorders_text(character) {
                character.escape_unicode().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

/// A plan of `POST /api/registry/plan` as lines for a person.
fn print_plan(plan: &Value) {
    let field = |key: &str| shown(plan[key].as_str().unwrap_or("?"));
    println!(
        "{} {} would be registered as {}:",
        field("server"),
        field("version"),
        field("service")
    );
    let inputs = |key: &str| -> String {
        let listed: Vec<String> = plan[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|input| {
                let name = shown(input["name"].as_str().unwrap_or("?"));
                match input["value"].as_str() {
                    Some(value) => format!("{name}=\"{}\" (from the entry)", shown(value)),
                    None => format!("{name} (yours)"),
                }
            })
            .collect();
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed.join(", ")
        }
    };
    if plan["kind"] == "package" {
        println!("  runs: {}", field("command_line"));
        println!("  environment: {}", inputs("env"));
    } else {
        println!("  connects to: {} ({})", field("url"), field("transport"));
        println!("  headers: {}", inputs("headers"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printed_entry_shows_reordering_characters_escaped() {
        let printed =
            serde_json::to_string(&json!({"X-Mode": "safe\u{202E}\u{2066} ;gnol-os\u{2069}"}))
                .expect("json");
        let escaped = json_escaped(&printed);
        assert!(!escaped.chars().any(reorders_text), "{escaped}");
        let read: Value = serde_json::from_str(&escaped).expect("still json");
        assert_eq!(read["X-Mode"], "safe\u{202E}\u{2066} ;gnol-os\u{2069}");
    }
}
