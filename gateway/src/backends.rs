//! The way to the services: a lazily dialled gRPC channel per service over
//! TCP, a Unix socket or QUIC (`channel`), the registry of services with
//! their availability and the merged catalog they keep up to date
//! (`registry`), and what a service's gRPC status means to the client
//! (`grpc_status`). Reserved for the per-service resilience stack
//! (deadline, concurrency limit, circuit breaker, metrics):
//! `backends/stack.rs`, assembled in one named function.

pub mod channel;
mod grpc_status;
mod registry;

pub use self::channel::{BackendClient, channel_for};
pub use self::grpc_status::{Target, from_status};
pub use self::registry::{Backend, Backends};
