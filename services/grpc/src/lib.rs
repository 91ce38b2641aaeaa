//! Micro-MCP gRPC translator: serves an existing gRPC service (the target)
//! as a micro-service whose tools are the target's unary and server-
//! streaming methods. The descriptors come from server reflection (v1 or
//! v1alpha) or a descriptor set file; each call is a dynamic message built
//! from the tool's JSON arguments. Runs as `micromcp grpc-service`, next to
//! the gateway or as a child of `micromcp up` (`[[services]] kind = "grpc"`).
//!
//! Modules: `settings` (what to serve, validated), `channel` (the reach to
//! the target), `reflect` (reading descriptors), `methods` (descriptors to
//! tools), `schema` (input schemas), `codec` (dynamic messages on the wire),
//! `call` (one call), `translator` (the service), `probe` (what `micromcp
//! check` reports).

mod call;
mod channel;
mod codec;
mod error;
mod methods;
mod probe;
mod reflect;
mod schema;
mod settings;
mod translator;

pub use error::{GrpcError, GrpcResult};
pub use probe::probe;
pub use settings::{ForwardedMetadata, GrpcSettings, MAX_DEADLINE, MethodFilter};
pub use translator::GrpcTranslator;
