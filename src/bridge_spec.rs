//! What a bridge child is given and how an `mcpServers` entry reads: the
//! upstream target it names, the era its `protocolVersion` pins, the
//! `principalTokens` it holds, and the environment a bridge child of `up`
//! or `stdio` gets (the entry as JSON in `MICROMCP_BRIDGE_SPEC`, never on a
//! command line).

use std::collections::HashMap;

use micromcp_bridge::{PrincipalTokens, UpstreamEra, UpstreamTarget, UrlTransport};
use micromcp_gateway::config::{RawMcpServer, RawPrincipalTokens};

/// Environment variable carrying a JSON `mcpServers` entry.
pub const SPEC_ENV: &str = "MICROMCP_BRIDGE_SPEC";

/// Prefix of the gateway's own variables (`MICROMCP_TOKEN`,
/// `MICROMCP_ADMIN_TOKEN`, …): never handed to a bridge as a credential.
pub(crate) const RESERVED_ENV_PREFIX: &str = "MICROMCP_";

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
