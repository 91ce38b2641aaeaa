//! `micromcp.v1`: the protobuf messages and tonic client/server code shared by
//! the gateway and every micro-service. Generated at build time from
//! `micromcp/v1/service.proto`; see that file for the meaning of each field.
//! [`quic`] holds the second wire for the same messages: gRPC over HTTP/3.

pub mod quic;

/// Generated code for package `micromcp.v1`.
#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("micromcp.v1");
}

pub use v1::*;

/// gRPC metadata key carrying the gateway's request id.
pub const REQUEST_ID_METADATA: &str = "x-request-id";
/// gRPC metadata key carrying the authenticated principal (never a credential).
pub const PRINCIPAL_METADATA: &str = "x-principal";
/// gRPC metadata key naming, comma-separated, the services whose content
/// the caller may read (sent to services that hold content from other
/// services, e.g. a search index of fs files); absent: no such limit.
pub const READABLE_SOURCES_METADATA: &str = "x-readable-sources";
/// gRPC metadata key carrying, only to a service configured with token
/// exchange, the token the gateway exchanged for the caller (RFC 8693) —
/// the caller's credential for that service's upstream, never the
/// caller's own token.
pub const UPSTREAM_TOKEN_METADATA: &str = "x-upstream-token";
/// gRPC trailer naming the client capability a request needs and did not
/// declare (with status FAILED_PRECONDITION): the gateway answers -32021
/// naming it (`sampling`, or `extensions/<id>` for an extension).
pub const MISSING_CAPABILITY_METADATA: &str = "x-missing-capability";
/// MCP log levels, least severe first (syslog order): a level's rank is
/// its index.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];
/// gRPC metadata key carrying W3C trace context.
pub const TRACEPARENT_METADATA: &str = "traceparent";
/// Largest data chunk a service sends in one `ReadResourceChunk`.
pub const MAX_RESOURCE_CHUNK_BYTES: usize = 64 * 1024;
