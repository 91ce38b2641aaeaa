//! `micromcp tools held` and `micromcp tools approve NAME`: the tools a
//! running gateway holds because their definition changed since it was
//! approved, and approving one's new definition — through the admin API
//! (`--admin`, with `MICROMCP_ADMIN_TOKEN`).

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
    let (method, path) = match &args.command {
        ToolsCommand::Held => (reqwest::Method::GET, "/api/tools/held".to_owned()),
        ToolsCommand::Approve { name } => {
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            (
                reqwest::Method::POST,
                format!("/api/tools/{encoded}/approve"),
            )
        }
    };
    let body = crate::admin_api::call(method, &args.admin, &path, None).await?;
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
