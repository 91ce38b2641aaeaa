//! `micromcp tools held` and `micromcp tools approve NAME`: the tools a
//! running gateway holds because their definition changed since it was
//! approved, and approving one's new definition — through the admin API
//! (`--admin`, with `MICROMCP_ADMIN_TOKEN`).

use serde_json::Value;

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
    /// Approves the definition the held tool NAME (its exposed name) offers now.
    Approve { name: String },
}

/// Runs the subcommand.
pub async fn run(args: ToolsArgs) -> anyhow::Result<()> {
    let admin = args.admin.trim_end_matches('/');
    let client = reqwest::Client::new();
    let token = std::env::var("MICROMCP_ADMIN_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    let request = match &args.command {
        ToolsCommand::Held => client.get(format!("{admin}/api/tools/held")),
        ToolsCommand::Approve { name } => {
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            client.post(format!("{admin}/api/tools/{encoded}/approve"))
        }
    };
    let request = match &token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request
        .send()
        .await
        .map_err(|error| anyhow::anyhow!("{admin}: {error}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| body.to_string(), str::to_owned);
        anyhow::bail!("{status}: {message}");
    }
    match args.command {
        ToolsCommand::Held => {
            let held = body["held"].as_array().cloned().unwrap_or_default();
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
        ToolsCommand::Approve { name } => println!("approved {name}"),
    }
    Ok(())
}
