//! `BridgeConfig`: which upstream MCP server to run and how.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
    },
    /// Connect to a Streamable HTTP endpoint.
    Url {
        url: String,
        /// Extra request headers (e.g. an API key for that server only).
        headers: BTreeMap<String, String>,
        /// Bearer token for that server (never the gateway client's token).
        token_opt: Option<String>,
    },
}

/// Settings of one bridge.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Name used in logs.
    pub name: String,
    pub target: UpstreamTarget,
    /// Longest a forwarded call may take.
    pub call_timeout: Duration,
}
