//! What every request to a backend service carries: the deadline
//! (`grpc-timeout`), the gateway's request id, the principal's name, the
//! W3C traceparent (the gateway's current span when traces are on, else
//! the client's) and, for services holding other services'
//! content, which of those the principal may read. Never the client's token.

use micromcp_telemetry::traces;
use tonic::metadata::{Ascii, MetadataValue};

use crate::context::CallContext;
use crate::gateway::Gateway;

/// `message` as a gRPC request carrying the context of `context` and, for
/// a service holding other services' content, the sources the principal
/// may read (what `route` worked out).
pub fn request<T>(
    gateway: &Gateway,
    context: &CallContext,
    readable_sources_opt: Option<&str>,
    message: T,
    traceparent_opt: Option<&str>,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(gateway.config.request_timeout);
    let metadata = request.metadata_mut();
    // Values unique to each call are marked never-indexed: HPACK would
    // otherwise add each to the connection's header table, evicting the
    // entries that repeat (and comparing against every id still in it).
    if let Ok(mut value) = context.request_id.parse::<MetadataValue<Ascii>>() {
        value.set_sensitive(true);
        metadata.insert(micromcp_proto::REQUEST_ID_METADATA, value);
    }
    if let Ok(value) = context.principal.id.parse() {
        metadata.insert(micromcp_proto::PRINCIPAL_METADATA, value);
    }
    if let Some(sources) = readable_sources_opt
        && let Ok(value) = sources.parse()
    {
        metadata.insert(micromcp_proto::READABLE_SOURCES_METADATA, value);
    }
    // With traces on, the service continues the gateway's own span (a
    // child of the client's); otherwise the client's traceparent passes.
    let own_opt = traces::enabled()
        .then(|| traces::traceparent_of(&tracing::Span::current()))
        .flatten();
    if let Some(traceparent) = own_opt.as_deref().or(traceparent_opt)
        && let Ok(mut value) = traceparent.parse::<MetadataValue<Ascii>>()
    {
        value.set_sensitive(true);
        metadata.insert(micromcp_proto::TRACEPARENT_METADATA, value);
    }
    request
}
