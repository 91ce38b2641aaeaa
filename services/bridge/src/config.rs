//! `BridgeConfig`: which upstream MCP server to run and how.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where each principal's own token for an HTTP upstream comes from.
/// Its `Debug` shows the principals, never the tokens.
#[derive(Clone)]
pub enum PrincipalTokens {
    /// Configured per principal (`principalTokens`).
    Configured(Arc<HashMap<String, String>>),
    /// Sent by the gateway with each call: what it exchanged the caller's
    /// token for (`tokenExchange`, RFC 8693).
    FromGateway,
}

impl PrincipalTokens {
    pub fn new(tokens: HashMap<String, String>) -> Self {
        Self::Configured(Arc::new(tokens))
    }

    /// `principal`'s token: configured, or the one the gateway sent.
    pub fn get<'a>(&'a self, principal: &str, sent_opt: Option<&'a str>) -> Option<&'a str> {
        match self {
            Self::Configured(tokens) => tokens.get(principal).map(String::as_str),
            Self::FromGateway => sent_opt,
        }
    }
}

impl std::fmt::Debug for PrincipalTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured(tokens) => {
                let mut principals: Vec<&String> = tokens.keys().collect();
                principals.sort();
                formatter
                    .debug_struct("PrincipalTokens")
                    .field("principals", &principals)
                    .finish_non_exhaustive()
            }
            Self::FromGateway => formatter.write_str("PrincipalTokens::FromGateway"),
        }
    }
}

/// How to reach the upstream server.
#[derive(Debug, Clone)]
pub enum UpstreamTarget {
    /// Launch a command speaking MCP over stdio.
    Command {
        program: String,
        args: Vec<String>,
        /// Extra environment for the child (on top of a minimal inherited one).
        env: BTreeMap<String, String>,
        cwd_opt: Option<PathBuf>,
        /// Another user to run the child as (the bridge runs as root).
        run_as_opt: Option<RunAs>,
    },
    /// Connect to an HTTP endpoint (Streamable HTTP or legacy HTTP+SSE).
    Url {
        url: String,
        transport: UrlTransport,
        /// Extra request headers (e.g. an API key for that server only).
        headers: BTreeMap<String, String>,
        /// Bearer token for that server (never the gateway client's token).
        token_opt: Option<String>,
    },
}

/// A user a stdio child runs as: its ids, and the name and home its
/// environment then carries (`USER`, `LOGNAME`, `HOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: PathBuf,
}

impl UpstreamTarget {
    /// True for an HTTP upstream.
    pub fn is_url(&self) -> bool {
        matches!(self, Self::Url { .. })
    }
}

/// Settings of one bridge.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Name used in logs.
    pub name: String,
    pub target: UpstreamTarget,
    /// Longest a forwarded call may take.
    pub call_timeout: Duration,
    /// Which protocol era to speak to the upstream.
    pub era: UpstreamEra,
    /// Per-user credentials: each principal's calls in a session of its
    /// own with its own token (HTTP upstreams only).
    pub principal_tokens_opt: Option<PrincipalTokens>,
}

/// Which protocol era the bridge speaks to its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamEra {
    /// 2026-07-28 when the upstream speaks it (probed with
    /// `server/discover`), else the 2025-11-25 handshake; the verdict is
    /// kept for reconnects.
    #[default]
    Auto,
    /// The 2025-11-25 handshake only (`initialize`), even with an upstream
    /// that speaks 2026-07-28 too.
    Handshake,
    /// 2026-07-28 only: an upstream that does not speak it is not reached.
    Stateless,
}

impl UpstreamEra {
    /// The era pinned by an `mcpServers` entry's `protocolVersion` (`None`
    /// when absent: `Auto`).
    pub fn from_version(version_opt: Option<&str>) -> Result<Self, String> {
        match version_opt {
            None => Ok(Self::Auto),
            Some("2026-07-28") => Ok(Self::Stateless),
            Some("2025-11-25" | "2025-06-18" | "2025-03-26") => Ok(Self::Handshake),
            Some(other) => Err(format!(
                "unknown protocolVersion {other:?} (use \"2026-07-28\" or \"2025-11-25\"; leave it out to let the bridge pick)"
            )),
        }
    }
}

/// Which HTTP transport an upstream URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlTransport {
    /// Try Streamable HTTP, then legacy HTTP+SSE (the specification's
    /// backwards-compatibility procedure); the first that works is kept.
    Auto,
    /// Streamable HTTP (2025-03-26 and later).
    StreamableHttp,
    /// HTTP+SSE (2024-11-05): GET an event stream, POST to its endpoint.
    LegacySse,
}

impl UrlTransport {
    /// The transport named by an `mcpServers` entry's `type` (`None` when
    /// absent): `http`/`streamable-http`/`streamableHttp` or `sse`.
    pub fn from_type(type_opt: Option<&str>) -> Result<Self, String> {
        match type_opt {
            None => Ok(Self::Auto),
            Some("http" | "streamable-http" | "streamableHttp" | "streamable_http") => {
                Ok(Self::StreamableHttp)
            }
            Some("sse") => Ok(Self::LegacySse),
            Some(other) => Err(format!(
                "unknown transport type {other:?} for a url (use \"http\" or \"sse\")"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_version_pins_an_era() {
        assert_eq!(UpstreamEra::from_version(None), Ok(UpstreamEra::Auto));
        assert_eq!(
            UpstreamEra::from_version(Some("2025-11-25")),
            Ok(UpstreamEra::Handshake)
        );
        assert_eq!(
            UpstreamEra::from_version(Some("2026-07-28")),
            Ok(UpstreamEra::Stateless)
        );
        let unknown = UpstreamEra::from_version(Some("2024-01-01")).expect_err("unknown");
        assert!(unknown.contains("2024-01-01"), "{unknown}");
    }
}
