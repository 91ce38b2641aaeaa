//! `micromcp tools held` and `micromcp tools approve NAME`: the tools a
//! running gateway holds because their definition changed since it was
//! approved, and approving one's new definition — through the admin API
//! (`--admin`, with `MICROMCP_ADMIN_TOKEN`). An approval names the digest
//! of the definition approved (`--sha256`, or the one it shows): the
//! gateway refuses it if the tool offers another by then.

use serde_json::{Value, json};

/// Flags of `micromcp tools`.
#[derive(clap::Args)]
pub struct ToolsArgs {
    #[command(subcommand)]
    command: ToolsCommand,
    /// The gateway's admin listener.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9464")]
    admin: String,
}

#[derive(clap::Subcommand)]
enum ToolsCommand {
    /// Lists the tools held because their definition changed.
    Held,
    /// Approves the definition the held tool NAME (its exposed name) offers,
    /// if it is still the one shown (or the one `--sha256` names).
    Approve {
        name: String,
        /// The digest of the definition reviewed (as `tools held` shows
        /// it: a prefix of 12 or more hex digits, or all 64).
        #[arg(long)]
        sha256: Option<String>,
    },
}

/// Runs the subcommand.
pub async fn run(args: ToolsArgs) -> anyhow::Result<()> {
    let listing =
        crate::admin_api::call(reqwest::Method::GET, &args.admin, "/api/tools/held", None).await?;
    let held = listing["held"].as_array().cloned().unwrap_or_default();
    match args.command {
        ToolsCommand::Held => {
            if held.is_empty() {
                println!("no tool is held");
            }
            for tool in held {
                println!(
                    "{}  (service {}, approved {}…, offered {}…)",
                    tool["name"].as_str().unwrap_or("?"),
                    tool["service"].as_str().unwrap_or("?"),
                    &tool["pinned_sha256"]
                        .as_str()
                        .unwrap_or("")
                        .get(..12)
                        .unwrap_or(""),
                    &tool["offered_sha256"]
                        .as_str()
                        .unwrap_or("")
                        .get(..12)
                        .unwrap_or(""),
                );
            }
        }
        ToolsCommand::Approve { name, sha256 } => {
            let reviewed = reviewed_digest(&held, &name, sha256.as_deref())?;
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            let path = format!("/api/tools/{encoded}/approve");
            let body = json!({ "sha256": reviewed });
            crate::admin_api::call(reqwest::Method::POST, &args.admin, &path, Some(&body)).await?;
            println!("approved {name} (definition sha256 {reviewed})");
        }
    }
    Ok(())
}

/// The digest to approve `name` under: `given_opt` (a prefix is completed
/// from the offered digest it starts), else the offered one listed now.
fn reviewed_digest(held: &[Value], name: &str, given_opt: Option<&str>) -> anyhow::Result<String> {
    let offered = held
        .iter()
        .find(|tool| tool["name"].as_str() == Some(name))
        .and_then(|tool| tool["offered_sha256"].as_str())
        .ok_or_else(|| {
            anyhow::anyhow!("no held tool is named {name:?} (micromcp tools held lists them)")
        })?;
    let Some(given) = given_opt else {
        println!("{name} offers the definition with sha256 {offered}");
        return Ok(offered.to_owned());
    };
    let given = given.trim().to_ascii_lowercase();
    if given.len() < 12 || !given.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        anyhow::bail!("--sha256: give 12 to 64 hex digits of the digest reviewed");
    }
    if offered.starts_with(&given) {
        return Ok(offered.to_owned());
    }
    // Not what is offered now: the gateway refuses it, naming what is.
    Ok(given)
}
