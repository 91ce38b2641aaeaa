//! `micromcp tools list`, `micromcp tools held` and `micromcp tools approve
//! NAME --sha256 DIGEST`: the merged catalog a running gateway serves (as
//! its operator sees it), the tools it holds because their definition changed
//! since it was approved, and approving one's new definition — through the
//! admin API (`--admin`, else the gateway `up` recorded in `--state-dir`;
//! its admin token). `tools held` prints
//! each definition offered with its full sha256; an approval names that
//! digest, all 64 hex digits, and the gateway compares it whole: it refuses
//! the approval if the tool offers another by then. Without `--sha256`,
//! `approve` prints the definition offered and its digest and approves
//! nothing (review first, then approve what was reviewed).

use serde_json::{Value, json};

/// Flags of `micromcp tools`.
#[derive(clap::Args)]
pub struct ToolsArgs {
    #[command(subcommand)]
    command: ToolsCommand,
    #[command(flatten)]
    admin: crate::admin_api::AdminArgs,
}

#[derive(clap::Subcommand)]
enum ToolsCommand {
    /// Lists every tool the gateway serves (its operator's view: all of
    /// them), each with the first line of its description.
    List {
        /// Only the tools whose name starts with this (e.g. a namespace: `fs.`).
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Lists the tools held because their definition changed, each with the
    /// definition offered and its sha256.
    Held,
    /// Approves the definition of the held tool NAME (its exposed name)
    /// whose sha256 is `--sha256` — if the tool still offers that one.
    Approve {
        name: String,
        /// The sha256 of the definition reviewed, all 64 hex digits (as
        /// `tools held` prints it). Without it the definition offered is
        /// printed and nothing is approved.
        #[arg(long)]
        sha256: Option<String>,
    },
}

/// Why `tools approve` approved nothing before asking the gateway.
#[derive(Debug, thiserror::Error)]
enum ApproveError {
    #[error("no held tool is named {0:?} (micromcp tools held lists them)")]
    NotHeld(String),
    #[error("nothing approved: review the definition above, then re-run with --sha256 {offered}")]
    NoDigest { offered: String },
    #[error(
        "--sha256: give all 64 hex digits of the digest reviewed (as `micromcp tools held` prints it)"
    )]
    NotADigest,
}

/// Runs the subcommand.
pub async fn run(args: ToolsArgs) -> anyhow::Result<()> {
    let admin = crate::admin_api::AdminTarget::of(&args.admin);
    if let ToolsCommand::List { prefix } = &args.command {
        return list(&admin, prefix.as_deref().unwrap_or("")).await;
    }
    let listing = admin
        .call(reqwest::Method::GET, "/api/tools/held", None)
        .await?;
    let held = listing["held"].as_array().cloned().unwrap_or_default();
    match args.command {
        ToolsCommand::List { .. } => {}
        ToolsCommand::Held => {
            if held.is_empty() {
                println!("no tool is held");
            }
            for tool in &held {
                print_held(tool);
            }
        }
        ToolsCommand::Approve { name, sha256 } => {
            let tool = held
                .iter()
                .find(|tool| tool["name"].as_str() == Some(name.as_str()))
                .ok_or_else(|| ApproveError::NotHeld(name.clone()))?;
            let reviewed = match sha256 {
                Some(given) => full_digest(&given)?,
                None => {
                    print_held(tool);
                    let offered = tool["offered_sha256"].as_str().unwrap_or("?").to_owned();
                    return Err(ApproveError::NoDigest { offered }.into());
                }
            };
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            let path = format!("/api/tools/{encoded}/approve");
            let body = json!({ "sha256": reviewed });
            admin
                .call(reqwest::Method::POST, &path, Some(&body))
                .await?;
            println!("approved {name} (definition sha256 {reviewed})");
        }
    }
    Ok(())
}

/// Most pages `tools list` follows (a hostile gateway cannot keep it going).
const MAX_PAGES: usize = 1000;

/// Prints the gateway's tools, page after page, through its operator's
/// MCP endpoint (`/api/mcp`).
async fn list(admin: &crate::admin_api::AdminTarget, prefix: &str) -> anyhow::Result<()> {
    let mut cursor_opt: Option<String> = None;
    let mut shown = 0usize;
    for _ in 0..MAX_PAGES {
        let params = match &cursor_opt {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let body = json!({ "method": "tools/list", "params": params });
        let answer = admin
            .call(reqwest::Method::POST, "/api/mcp", Some(&body))
            .await?;
        if let Some(error) = answer.get("error") {
            anyhow::bail!(
                "tools/list: {} ({})",
                error["message"].as_str().unwrap_or("error"),
                error["code"]
            );
        }
        let result = &answer["result"];
        for tool in result["tools"].as_array().into_iter().flatten() {
            let name = tool["name"].as_str().unwrap_or("?");
            if !name.starts_with(prefix) {
                continue;
            }
            let summary = tool["description"]
                .as_str()
                .and_then(|text| text.lines().next())
                .unwrap_or("");
            println!("{}  {}", printable(name), printable(summary));
            shown += 1;
        }
        match result["nextCursor"].as_str() {
            Some(next) if !next.is_empty() => cursor_opt = Some(next.to_owned()),
            _ => {
                eprintln!("{shown} tools");
                return Ok(());
            }
        }
    }
    anyhow::bail!("tools/list: more than {MAX_PAGES} pages; stopped")
}

/// `text` with its control characters escaped: what a service wrote in a
/// name or description must not move the cursor or rewrite the operator's
/// terminal.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|character| {
            let escaped: Vec<char> = if character.is_control() {
                character.escape_default().collect()
            } else {
                vec![character]
            };
            escaped
        })
        .collect()
}

/// Prints a held tool: its name, service, both full digests and the
/// definition offered (pretty JSON).
fn print_held(tool: &Value) {
    println!(
        "{}  (service {})",
        printable(tool["name"].as_str().unwrap_or("?")),
        printable(tool["service"].as_str().unwrap_or("?")),
    );
    println!(
        "  approved sha256 {}",
        tool["pinned_sha256"].as_str().unwrap_or("-")
    );
    println!(
        "  offered  sha256 {}",
        tool["offered_sha256"].as_str().unwrap_or("-")
    );
    let definition = serde_json::to_string_pretty(&tool["offered"]).unwrap_or_default();
    println!("  offered definition:");
    for line in definition.lines() {
        println!("    {line}");
    }
}

/// `given` as a full lowercase sha256 (64 hex digits), else an error: a
/// prefix is never completed from what is offered now.
fn full_digest(given: &str) -> Result<String, ApproveError> {
    let given = given.trim().to_ascii_lowercase();
    if given.len() != 64 || !given.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ApproveError::NotADigest);
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_of_a_service_are_shown_escaped() {
        assert_eq!(printable("a\u{1b}[1Ab\tc"), "a\\u{1b}[1Ab\\tc");
        assert_eq!(printable("plain words"), "plain words");
    }

    #[test]
    fn only_a_full_digest_is_sent() {
        let digest = "ab".repeat(32);
        assert_eq!(
            full_digest(&digest.to_uppercase()).ok(),
            Some(digest.clone())
        );
        assert!(full_digest(&digest[..12]).is_err(), "a prefix is refused");
        assert!(full_digest(&digest[..63]).is_err());
        assert!(full_digest(&format!("{digest}0")).is_err());
        assert!(full_digest(&"zz".repeat(32)).is_err());
    }
}
