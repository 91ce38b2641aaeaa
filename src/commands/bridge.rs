//! `micromcp bridge`: one upstream MCP server as a micro-service. The
//! upstream comes from flags (`--command`/`--arg` or `--url`) or, as
//! `micromcp up` passes it, from a JSON `mcpServers` entry in the
//! `MICROMCP_BRIDGE_SPEC` environment variable (so per-server credentials
//! never appear on a command line). An HTTP entry's `principalTokens`
//! (each principal's own token, from a JSON file or environment variables)
//! is read here at start; a missing file or variable stops the start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use micromcp_bridge::{BridgeConfig, BridgeService, PrincipalTokens, UpstreamTarget};
use micromcp_gateway::config::RawMcpServer;
use tokio_util::sync::CancellationToken;

use crate::bridge_spec::{RESERVED_ENV_PREFIX, SPEC_ENV, era_of, principal_tokens_of, target_of};

/// Flags of `micromcp bridge`.
#[derive(clap::Args)]
pub struct BridgeArgs {
    /// Name of the bridged server (logs).
    #[arg(long)]
    name: String,
    /// Command that runs the server over stdio.
    #[arg(long, conflicts_with = "url")]
    command: Option<String>,
    /// Argument for --command (repeatable).
    #[arg(long = "arg", allow_hyphen_values = true)]
    args: Vec<String>,
    /// Working directory for --command.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Run --command as this user (name or uid; needs root).
    #[arg(long, requires = "command")]
    user: Option<String>,
    /// HTTP URL of the server (Streamable HTTP or legacy HTTP+SSE).
    #[arg(long)]
    url: Option<String>,
    /// Transport of --url: `http` or `sse` (default: try http, then sse).
    #[arg(long, requires = "url")]
    transport: Option<String>,
    /// Header sent to --url, as NAME=VALUE (repeatable); `Authorization=Bearer …`
    /// is the server's token. A value on the command line is visible to other
    /// local users (`ps`): for secrets prefer NAME=$VARIABLE from a script, or
    /// an `[mcp_servers]` entry.
    #[arg(long = "header", value_name = "NAME=VALUE", requires = "url")]
    headers: Vec<String>,
    /// Variable for --command's environment (repeatable): NAME passes this
    /// process's own value, NAME=VALUE sets one. The server starts from an
    /// otherwise empty environment.
    #[arg(long = "env", value_name = "NAME[=VALUE]", requires = "command")]
    envs: Vec<String>,
    /// Longest a forwarded call may take, in seconds.
    #[arg(long, default_value_t = 300)]
    call_timeout_secs: u64,
    /// Pin the protocol spoken to the server: `2025-11-25` (handshake only)
    /// or `2026-07-28` (default: probe and pick).
    #[arg(long)]
    protocol_version: Option<String>,
    #[command(flatten)]
    listen: crate::serve::ServiceListen,
}

/// The `--header NAME=VALUE` flags as a header map, each name and value
/// checked as HTTP allows.
fn headers_of_flags(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    for flag in flags {
        let Some((name, value)) = flag.split_once('=') else {
            anyhow::bail!("--header {flag:?}: give NAME=VALUE");
        };
        let name = name.trim();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            anyhow::bail!("--header {name:?}: not a valid HTTP header name");
        }
        if http::HeaderValue::from_str(value).is_err() {
            anyhow::bail!(
                "--header {name}: its value holds characters HTTP does not allow (control characters, line breaks)"
            );
        }
        if headers.insert(name.to_owned(), value.to_owned()).is_some() {
            anyhow::bail!("--header {name}: given twice");
        }
    }
    Ok(headers)
}

/// The `--env NAME[=VALUE]` flags as the server's environment.
fn env_of_flags(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for flag in flags {
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_owned()),
            None => match crate::child_env::var(flag) {
                Some(value) => (flag.as_str(), value),
                None => anyhow::bail!(
                    "--env {flag}: not set in this environment (give {flag}=VALUE to set it)"
                ),
            },
        };
        let well_formed = name
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && name
                .chars()
                .all(|part| part.is_ascii_alphanumeric() || part == '_');
        if !well_formed {
            anyhow::bail!("--env {name:?}: a variable name is letters, digits and _");
        }
        if name.starts_with(RESERVED_ENV_PREFIX) {
            anyhow::bail!(
                "--env {name}: {RESERVED_ENV_PREFIX}* are the gateway's own variables, never handed to a server"
            );
        }
        env.insert(name.to_owned(), value);
    }
    Ok(env)
}

/// Runs the bridge until a shutdown signal.
pub async fn run(args: BridgeArgs) -> anyhow::Result<()> {
    let (target, era, principal_tokens_opt) = match crate::child_env::var(SPEC_ENV) {
        Some(spec) if args.command.is_none() && args.url.is_none() => {
            let entry: RawMcpServer = serde_json::from_str(&spec)
                .map_err(|error| anyhow::anyhow!("{SPEC_ENV}: {error}"))?;
            let era = era_of(entry.protocol_version.as_deref())?;
            let raw_tokens = entry.principal_tokens.clone();
            // The gateway exchanges each caller's token and sends the result.
            let exchanged = entry.token_exchange.is_some();
            let target = target_of(entry)?;
            let tokens = match exchanged {
                true => Some(PrincipalTokens::FromGateway),
                false => principal_tokens_of(raw_tokens.as_ref())?,
            };
            (target, era, tokens)
        }
        _ => (
            target_of(RawMcpServer {
                command: args.command,
                args: args.args,
                env: env_of_flags(&args.envs)?,
                headers: headers_of_flags(&args.headers)?,
                cwd: args.cwd,
                user: args.user,
                url: args.url,
                transport_type: args.transport,
                ..RawMcpServer::default()
            })?,
            era_of(args.protocol_version.as_deref())?,
            None,
        ),
    };
    if matches!(
        target,
        UpstreamTarget::Command {
            run_as_opt: None,
            ..
        }
    ) && crate::run_as::is_root()
    {
        tracing::warn!(
            server = %args.name,
            "this stdio server runs as root and can read everything; give its entry \"user\" (e.g. \"nobody\") to run it as another user"
        );
    }
    // Orphans of the server's tree become ours: reaped while running,
    // killed at the end (their sessions escape every other signal).
    micromcp_bridge::process_tree::become_subreaper();
    let reaper = tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            micromcp_bridge::process_tree::reap_orphans();
        }
    });
    let shutdown = CancellationToken::new();
    let config = BridgeConfig {
        name: args.name.clone(),
        target,
        call_timeout: Duration::from_secs(args.call_timeout_secs),
        era,
        principal_tokens_opt,
    };
    let service = BridgeService::start(config, shutdown.clone());
    let outcome = crate::serve::serve(service, args.listen, &args.name).await;
    shutdown.cancel();
    reaper.abort();
    micromcp_bridge::process_tree::end_descendants();
    micromcp_bridge::private_home::remove();
    outcome
}
