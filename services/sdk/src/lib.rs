//! Micro-MCP service SDK: implement [`McpService`] for one small service and
//! hand it to [`serve`], which exposes it as `micromcp.v1.McpService` over
//! gRPC (TCP, TCP with TLS, Unix socket or QUIC) with `grpc.health.v1`, request size limits and
//! graceful shutdown. The gateway does everything client-facing; a service only
//! sees routed, un-prefixed names and raw JSON arguments.

mod adapter;
mod blocking;
mod call_stream;
mod child_isolation;
mod corpus;
mod error;
mod events;
mod file_uri;
mod output;
mod regular_file;
mod rounds;
mod server;
mod service;
mod tasks;
mod telemetry;
mod tls_incoming;

pub use blocking::BlockingPool;
pub use child_isolation::isolate_child;
pub use corpus::fuzz_corpus;
pub use error::{ServiceError, ServiceResult};
pub use events::ToolEvents;
pub use file_uri::file_uri;
pub use output::ToolOutput;
pub use regular_file::{OpenRegularError, open_regular_file};
pub use rounds::{Round, input_request, input_required, is_replay_state};
pub use server::{Listener, ServeError, ServeOptions, serve};
pub use service::{
    Caller, CatalogPublisher, McpService, ResourceContent, ToolCall, UpdateStream, UpstreamToken,
    call_tool_json,
};
pub use tasks::{TASKS_EXTENSION, TaskSupport, task_support};
pub use telemetry::serve_metrics;

/// The generated protobuf types, re-exported for service authors.
pub use micromcp_proto as proto;
