//! The Micro-MCP edge gateway.
//!
//! Request flow: a transport front (`http` for Streamable HTTP, `stdio`)
//! authenticates and parses one JSON-RPC envelope, works out the protocol
//! era (2026-07-28 stateless or a 2025-11-25 session), and hands the request
//! to `dispatch`, which answers list requests from the merged `catalog`
//! snapshot and routes calls, reads, prompts and completions over gRPC to
//! the owning service (`backends`) once `policy` allows it; every request
//! leaves one `audit` record. Results travel back as raw JSON spliced
//! into the response; streamed events (progress, logs, input requests)
//! become SSE events or stdio lines.

pub mod audit;
pub mod auth;
pub mod backends;
pub mod catalog;
pub mod channel;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod http;
pub mod jsonrpc;
pub mod policy;
pub mod protocol;
pub mod runtime;
pub mod session;
pub mod stdio;

mod calls;
mod gateway;
mod inputs;
mod keyfile;
mod prompts;
mod reads;
mod status;
mod subscriptions;

pub use gateway::{CallContext, EraState, Gateway, Reply};
pub use keyfile::load_or_create_key;
pub use reads::ContentEncoder;
