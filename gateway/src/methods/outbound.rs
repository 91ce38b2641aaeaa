//! What every request to a backend service carries: the deadline
//! (`grpc-timeout`), the gateway's request id, the principal's name, the
//! W3C traceparent (the gateway's current span when traces are on, else
//! the client's) and, for services holding other services'
//! content, which of those the principal may read; for a service with
//! `token_exchange`, the token exchanged for the caller. Never the
//! client's own token.
//! Also the backend call's span and the error of a call ended at its deadline.

use std::time::Duration;

use bytes::Bytes;
use micromcp_proto::{
    CallToolClientMessage, InputResponse, WatchResourceRequest, call_tool_client_message,
};
use micromcp_telemetry::traces;
use tonic::metadata::{Ascii, MetadataValue};

use crate::context::CallContext;
use crate::error::GatewayError;
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
    if let Some(token) = &context.upstream_token_opt
        && let Ok(mut value) = token.parse::<MetadataValue<Ascii>>()
    {
        value.set_sensitive(true);
        metadata.insert(micromcp_proto::UPSTREAM_TOKEN_METADATA, value);
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

/// The request following `uri`'s changes: what every request carries, and
/// no deadline (a watch lives as long as the subscription that opened it).
pub fn watch_request(
    gateway: &Gateway,
    context: &CallContext,
    readable_sources_opt: Option<&str>,
    uri: &str,
) -> tonic::Request<WatchResourceRequest> {
    let message = WatchResourceRequest {
        uri: uri.to_owned(),
    };
    let mut request = request(gateway, context, readable_sources_opt, message, None);
    request.metadata_mut().remove("grpc-timeout");
    request
}

/// The span of the call to the service, when traces are on (else none).
pub fn backend_span(service: &str, tool: &str) -> tracing::Span {
    if !traces::enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        target: traces::TARGET,
        "mcp.backend",
        otel.name = format!("{service} tools/call {tool}"),
        otel.kind = "client",
        rpc.system = "grpc",
        mcp.service = service,
        mcp.tool = tool,
    )
}

/// The error of a call ended at its deadline.
pub fn deadline_error(service: &str, timeout: Duration) -> GatewayError {
    GatewayError::transient(
        service,
        format!(
            "service {service:?} did not finish within {} s (gateway.request_timeout_secs); the call was cancelled",
            timeout.as_secs_f64()
        ),
    )
}

/// The answer to a service's input request, as the call's next message.
pub fn input_response(
    key: String,
    result_json: Bytes,
    error_message: String,
) -> CallToolClientMessage {
    CallToolClientMessage {
        message: Some(call_tool_client_message::Message::InputResponse(
            InputResponse {
                key,
                result_json,
                error_message,
            },
        )),
    }
}

/// True when input requests can reach this call's client: a 2025-11-25
/// session whose client declared elicitation, sampling or roots.
pub fn relays_input(context: &CallContext) -> bool {
    !context.is_modern() && context.declared.takes_input()
}
