//! `micromcp tools held` and `micromcp tools approve NAME --sha256 DIGEST`:
//! the tools a running gateway holds because their definition changed
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
    let listing = admin
        .call(reqwest::Method::GET, "/api/tools/held", None)
        .await?;
    let held = listing["held"].as_array().cloned().unwrap_or_default();
    match args.command {
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

/// Prints a held tool: its name, service, both full digests and the
/// definition offered (pretty JSON).
fn print_held(tool: &Value) {
    println!(
        "{}  (service {})",
        tool["name"].as_str().unwrap_or("?"),
        tool["service"].as_str().unwrap_or("?"),
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
