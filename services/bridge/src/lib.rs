//! Micro-MCP `bridge` service: runs one existing MCP server — a stdio
//! command, a Streamable HTTP URL or a legacy HTTP+SSE URL — and exposes it as a micro-service, so
//! any server in the MCP ecosystem plugs into the gateway.
//!
//! One upstream connection (one child process) serves every client session.
//! [`upstream::Upstream`] connects with rmcp's client (era detected by
//! probing `server/discover` and falling back to `initialize`; the verdict is
//! kept for reconnects), mirrors the upstream catalog (refreshed on
//! `list_changed`; pages read within bounds, [`paged`]; a probe answered after rmcp's wait still settles the
//! era, [`late_probe`]), and reconnects with backoff when the connection or the
//! child dies. Child processes die with the bridge (`PR_SET_PDEATHSIG`),
//! run in sessions of their own with no descriptor above 2 of the bridge's,
//! their stderr logged ([`child_stderr`]), and their whole process tree is
//! killed with the bridge on shutdown ([`process_tree`]); a server run as a
//! user without a home gets a private one ([`private_home`]); a tool call's answer
//! from a stdio server is parsed straight as a tool result ([`stdio_transport`]). Progress, logs and the upstream's
//! requests for sampling, elicitation and roots are routed to the calls in
//! flight ([`routing`]); a 2026-07-28 upstream's `input_required` rounds pass
//! through; resource watches share one upstream subscription per URI
//! ([`watches`]). With per-user credentials (`principalTokens`, HTTP
//! upstreams) each principal's tool calls and resource reads use a session
//! of its own, opened with its own token ([`principal_sessions`]); the
//! shared session keeps the catalog.
//!
//! Layers, lowest first (a module uses only modules of a lower layer;
//! `gateway/tests/layers.rs` checks every `crate::` path): `config`,
//! `convert`, `process_tree`, `child_stderr`, `http_pool`, `liveness`,
//! `paged`, `routing`, `watches`; `private_home` and the transports
//! `stdio_transport`, `legacy_sse`, `late_probe`, and `handler`; `connect`; `upstream`;
//! `principal_sessions`; `call`; `service`.

mod call;
mod child_stderr;
mod config;
mod connect;
mod convert;
mod handler;
mod http_pool;
mod late_probe;
mod legacy_sse;
mod liveness;
mod paged;
mod principal_sessions;
pub mod private_home;
pub mod process_tree;
mod routing;
mod service;
mod stdio_transport;
mod upstream;
mod watches;

pub use call::{request_params, tool_result_json};
pub use config::{BridgeConfig, PrincipalTokens, RunAs, UpstreamEra, UpstreamTarget, UrlTransport};
pub use connect::{INHERITED_ENV, inherited_env};
pub use legacy_sse::{LegacySseError, LegacySseTransport};
pub use service::BridgeService;
