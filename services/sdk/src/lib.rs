//! Micro-MCP service SDK: implement [`McpService`] for one small service and
//! hand it to [`serve`], which exposes it as `micromcp.v1.McpService` over
//! gRPC (TCP, TCP with TLS, Unix socket or QUIC) with `grpc.health.v1`, request size limits and
//! graceful shutdown. The gateway does everything client-facing; a service only
//! sees routed, un-prefixed names and raw JSON arguments.
//!
//! A whole service — one tool, served on a TCP port until a shutdown signal
//! (`services/sdk/README.md` walks through the rest: resources, prompts,
//! progress, elicitation, cancellation, errors; `examples/notes.rs` does it
//! all):
//!
//! ```
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use micromcp_sdk::proto::{Catalog, Tool};
//! use micromcp_sdk::{
//!     CatalogPublisher, Listener, McpService, ResourceContent, ServeOptions, ServiceError,
//!     ServiceResult, ToolCall, ToolEvents, ToolOutput,
//! };
//!
//! struct Greeter {
//!     catalog: CatalogPublisher,
//! }
//!
//! impl McpService for Greeter {
//!     fn catalog(&self) -> &CatalogPublisher {
//!         &self.catalog
//!     }
//!
//!     async fn call_tool(&self, call: ToolCall, _events: ToolEvents) -> ServiceResult<ToolOutput> {
//!         #[derive(serde::Deserialize)]
//!         struct Arguments {
//!             name: String,
//!         }
//!         let arguments: Arguments = call.parse_arguments()?;
//!         Ok(ToolOutput::text(format!("hello, {}", arguments.name)))
//!     }
//!
//!     async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
//!         Err(ServiceError::NotFound(format!("no such resource: {uri}")))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = CatalogPublisher::new(Catalog {
//!     tools: vec![Tool {
//!         name: "greet".into(),
//!         description: "Greets someone".into(),
//!         input_schema_json: Bytes::from_static(
//!             br#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#,
//!         ),
//!         ..Tool::default()
//!     }],
//!     ..Catalog::default()
//! });
//! let service = Arc::new(Greeter { catalog });
//!
//! // In-process, as a test would call it:
//! let result = micromcp_sdk::call_tool_json(&*service, "greet", &serde_json::json!({"name": "Ada"})).await?;
//! assert_eq!(result["content"][0]["text"], "hello, Ada");
//!
//! // Served over gRPC; the gateway names it in a `[[services]]` entry.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let shutdown = async {}; // e.g. `async { let _ = tokio::signal::ctrl_c().await; }`
//! micromcp_sdk::serve(service, Listener::Tcp(listener), ServeOptions::default(), shutdown).await?;
//! # Ok(())
//! # }
//! ```

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
mod secret_names;
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
pub use secret_names::{has_secret_component, is_secret_name};
pub use server::{Listener, ServeError, ServeOptions, serve};
pub use service::{
    Caller, CatalogPublisher, McpService, ResourceContent, ToolCall, UpdateStream, UpstreamToken,
    call_tool_json,
};
pub use tasks::{TASKS_EXTENSION, TaskSupport, task_support};
pub use telemetry::serve_metrics;

/// The generated protobuf types, re-exported for service authors.
pub use micromcp_proto as proto;
