//! `micromcp bridge`: one upstream MCP server as a micro-service. The
//! upstream comes from flags (`--command`/`--arg` or `--url`) or, as
//! `micromcp up` passes it, from a JSON `mcpServers` entry in the
//! `MICROMCP_BRIDGE_SPEC` environment variable (so per-server credentials
//! never appear on a command line). An HTTP entry's `principalTokens`
//! (each principal's own token, from a JSON file or environment variables)
//! is read here at start; a missing file or variable stops the start.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use micromcp_bridge::{
    BridgeConfig, BridgeService, PrincipalTokens, UpstreamEra, UpstreamTarget, UrlTransport,
};
use micromcp_gateway::config::{RawMcpServer, RawPrincipalTokens};
use tokio_util::sync::CancellationToken;

/// Environment variable carrying a JSON `mcpServers` entry.
pub const SPEC_ENV: &str = "MICROMCP_BRIDGE_SPEC";

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
    listen: crate::service_cmd::ServiceListen,
}

/// Prefix of the gateway's own variables (`MICROMCP_TOKEN`,
/// `MICROMCP_ADMIN_TOKEN`, …): never handed to a bridge as a credential.
const RESERVED_ENV_PREFIX: &str = "MICROMCP_";

/// The environment of the bridge child running `entry` (as `spec_json`):
/// the entry, and the variables its `principalTokens.env` names (the
/// child's environment is otherwise cleared).
pub fn child_env(entry: &RawMcpServer, spec_json: String) -> Vec<(String, String)> {
    let named = entry
        .principal_tokens
        .iter()
        .flat_map(|tokens| tokens.env.values())
        .map(String::as_str)
        .filter(|variable| !variable.starts_with(RESERVED_ENV_PREFIX));
    let mut env = crate::supervise::from_parent(named);
    env.push((SPEC_ENV.to_owned(), spec_json));
    env
}

/// The upstream described by an `mcpServers` entry.
pub fn target_of(entry: RawMcpServer) -> anyhow::Result<UpstreamTarget> {
    era_of(entry.protocol_version.as_deref())?;
    if let Some(tokens) = &entry.principal_tokens {
        if entry.url.is_none() {
            anyhow::bail!(
                "principalTokens needs a url: a stdio server is one process for every caller"
            );
        }
        if tokens.file.is_some() != tokens.env.is_empty() {
            anyhow::bail!("principalTokens: give either file or env");
        }
        if let Some((principal, variable)) = tokens
            .env
            .iter()
            .find(|(_, variable)| variable.starts_with(RESERVED_ENV_PREFIX))
        {
            anyhow::bail!(
                "principalTokens.env.{principal}: {variable} is one of the gateway's own variables ({RESERVED_ENV_PREFIX}*), never a server's credential"
            );
        }
    }
    if entry.token_exchange.is_some() {
        if entry.url.is_none() {
            anyhow::bail!(
                "tokenExchange needs a url: a stdio server is one process for every caller"
            );
        }
        if entry.principal_tokens.is_some() {
            anyhow::bail!("give either principalTokens or tokenExchange, not both");
        }
    }
    if entry.user.is_some() && entry.command.is_none() {
        anyhow::bail!("user needs a command: it is who a stdio server runs as");
    }
    match (entry.command, entry.url) {
        (Some(_), None) if !matches!(entry.transport_type.as_deref(), None | Some("stdio")) => {
            anyhow::bail!(
                "type {:?} needs a url; a command speaks stdio",
                entry.transport_type.unwrap_or_default()
            )
        }
        (Some(program), None) => Ok(UpstreamTarget::Command {
            program,
            args: entry.args,
            env: entry.env,
            cwd_opt: entry.cwd,
            run_as_opt: entry
                .user
                .as_deref()
                .map(crate::run_as::resolve)
                .transpose()?,
        }),
        (None, Some(url)) => {
            let mut headers = entry.headers;
            let token_opt = headers
                .remove("Authorization")
                .and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned));
            let transport = UrlTransport::from_type(entry.transport_type.as_deref())
                .map_err(|error| anyhow::anyhow!("type: {error}"))?;
            Ok(UpstreamTarget::Url {
                url,
                transport,
                headers,
                token_opt,
            })
        }
        (Some(_), Some(_)) => anyhow::bail!("give either command or url, not both"),
        (None, None) => anyhow::bail!("give a command or a url"),
    }
}

/// Each principal's token of an entry's `principalTokens`: a JSON object
/// of principal → token in `file`, or principal → environment variable.
pub fn principal_tokens_of(
    raw_opt: Option<&RawPrincipalTokens>,
) -> anyhow::Result<Option<PrincipalTokens>> {
    let Some(raw) = raw_opt else {
        return Ok(None);
    };
    let tokens: HashMap<String, String> = match &raw.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                anyhow::anyhow!("principalTokens.file: {}: {error}", path.display())
            })?;
            serde_json::from_str(&text).map_err(|error| {
                anyhow::anyhow!(
                    "principalTokens.file: {}: expected a JSON object of principal → token: {error}",
                    path.display()
                )
            })?
        }
        None => raw
            .env
            .iter()
            .map(|(principal, variable)| match crate::child_env::var(variable) {
                Some(token) if !token.is_empty() => Ok((principal.clone(), token)),
                _ => Err(anyhow::anyhow!(
                    "principalTokens.env.{principal}: environment variable {variable} is not set"
                )),
            })
            .collect::<anyhow::Result<_>>()?,
    };
    if let Some(principal) = tokens.iter().find_map(|(principal, token)| {
        (principal.is_empty() || token.is_empty()).then_some(principal)
    }) {
        anyhow::bail!("principalTokens: an empty principal or token (principal {principal:?})");
    }
    Ok(Some(PrincipalTokens::new(tokens)))
}

/// The era an entry's `protocolVersion` (or `--protocol-version`) pins.
pub fn era_of(version_opt: Option<&str>) -> anyhow::Result<UpstreamEra> {
    UpstreamEra::from_version(version_opt)
        .map_err(|error| anyhow::anyhow!("protocolVersion: {error}"))
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
    let outcome = crate::service_cmd::serve(service, args.listen, &args.name).await;
    shutdown.cancel();
    reaper.abort();
    micromcp_bridge::process_tree::end_descendants();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_with_token_variable(variable: &str) -> RawMcpServer {
        RawMcpServer {
            url: Some("https://mcp.example/mcp".into()),
            principal_tokens: Some(RawPrincipalTokens {
                file: None,
                env: BTreeMap::from([("alice".to_owned(), variable.to_owned())]),
            }),
            ..RawMcpServer::default()
        }
    }

    #[test]
    fn principal_tokens_never_name_the_gateways_own_variables() {
        for variable in [
            "MICROMCP_TOKEN",
            "MICROMCP_ADMIN_TOKEN",
            "MICROMCP_EMBEDDINGS_KEY",
        ] {
            let error = target_of(entry_with_token_variable(variable)).expect_err(variable);
            assert!(error.to_string().contains(variable), "{error}");
        }
        assert!(target_of(entry_with_token_variable("ALICE_UPSTREAM_TOKEN")).is_ok());
    }

    #[test]
    fn a_bridge_child_gets_its_entry_and_the_variables_it_names_only() {
        let entry = entry_with_token_variable("PATH");
        let env = child_env(&entry, "{}".into());
        let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["PATH", SPEC_ENV]);
        let reserved = child_env(&entry_with_token_variable("MICROMCP_TOKEN"), "{}".into());
        assert_eq!(reserved.len(), 1, "{reserved:?}");
    }

    #[test]
    fn user_is_for_a_command() {
        let entry = RawMcpServer {
            url: Some("https://mcp.example/mcp".into()),
            user: Some("nobody".into()),
            ..RawMcpServer::default()
        };
        let error = target_of(entry).expect_err("url with user");
        assert!(
            error.to_string().contains("user needs a command"),
            "{error}"
        );
    }
}
