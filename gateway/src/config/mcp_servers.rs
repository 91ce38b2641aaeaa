//! `mcpServers` entries: third-party MCP servers run behind bridges, as
//! desktop clients write them (`command`/`args`/`env` or `url`/`headers`),
//! plus the gateway's own fields (`namespace`, `protocolVersion`,
//! `principalTokens`, `user`). The bridge validates an entry when it starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// One third-party MCP server: a stdio `command` or an HTTP `url`.
#[derive(Debug, Default, Clone, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcpServer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Namespace for its tools; default the entry's name; "" for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Transport of a `url`: `http` (Streamable HTTP) or `sse` (legacy
    /// HTTP+SSE); absent = try Streamable HTTP, then HTTP+SSE. `stdio` is
    /// accepted for a `command`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub transport_type: Option<String>,
    /// Pins the era spoken to the server: `2025-11-25` (the handshake
    /// only) or `2026-07-28`; absent = probe and pick.
    #[serde(
        default,
        rename = "protocolVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol_version: Option<String>,
    /// Per-user credentials for an HTTP server: each calling principal's
    /// own token, in an upstream session of its own (see
    /// [`RawPrincipalTokens`]); absent = one shared session.
    #[serde(
        default,
        rename = "principalTokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub principal_tokens: Option<RawPrincipalTokens>,
    /// Per-user credentials by OAuth 2.0 Token Exchange (RFC 8693): the
    /// gateway trades each caller's token for one for this server.
    #[serde(
        default,
        rename = "tokenExchange",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_exchange: Option<super::RawTokenExchange>,
    /// Runs a stdio server as this user (a name or a numeric uid), with
    /// that user's groups, `HOME` and `USER`; needs the gateway started as
    /// root. Absent = the gateway's own user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Desktop-client field: a disabled entry is skipped.
    #[serde(default, skip_serializing)]
    pub disabled: Option<bool>,
}

/// The `{"mcpServers": {...}}` file desktop clients use.
#[derive(Debug, Deserialize)]
pub struct McpServersFile {
    #[serde(rename = "mcpServers")]
    pub mcp_servers: BTreeMap<String, RawMcpServer>,
}

/// `principalTokens`: where each principal's token for the upstream comes
/// from — a JSON file `{"alice": "…", "corp:bob": "…"}` (`file`, kept
/// `0600`) or environment variables by principal (`env`: `{"alice":
/// "ALICE_UPSTREAM_TOKEN"}`). Read when the bridge starts.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrincipalTokens {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}
