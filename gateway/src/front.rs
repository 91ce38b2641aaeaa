//! The client-facing transports, the top of the crate: Streamable HTTP
//! (`http`: `/mcp` POST, GET stream and DELETE, health endpoints, one
//! single-threaded runtime per core) and stdio (`stdio`: one JSON-RPC
//! message per line). Each authenticates, parses one envelope, works out
//! the era, builds the [`CallContext`](crate::context::CallContext) and
//! hands the request to `dispatch`. What one client may hold of the front
//! (connections in total and per source; header, idle and body timeouts)
//! is `limits`. Operators' routes (`/metrics`, health) have their own
//! listener, `admin`.

pub mod admin;
pub mod http;
pub mod limits;
pub mod stdio;
mod traced;
