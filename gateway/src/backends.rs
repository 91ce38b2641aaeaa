//! The way to the services: a lazily dialled gRPC channel per service over
//! TCP, a Unix socket or QUIC (`channel`), the registry of services with
//! their availability and the merged catalog they keep up to date
//! (`registry`), and what a service's gRPC status means to the client
//! (`grpc_status`), and the resilience stack every call to a service
//! crosses — circuit breaker, concurrency limit with a bounded queue,
//! deadline (`stack`, assembled by `ServiceStack::new`); and the pinned
//! tool definitions every catalog is checked against (`pins`).

pub mod channel;
mod grpc_status;
pub mod pins;
mod registry;
pub mod stack;

pub use self::channel::{BackendClient, EndpointState, channel_for};
pub use self::grpc_status::{Target, from_status};
pub use self::registry::{Backend, Backends, SetChanges};
pub use self::stack::{CallPermit, ServiceStack};
