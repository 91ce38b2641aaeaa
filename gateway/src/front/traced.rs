//! The span of one request on either front, when traces are on: made once
//! the body is parsed — so that it is named for its method and target
//! (`tools/call fs.read_file`) and its parent is the client's W3C
//! `traceparent`, from the HTTP header or else from a 2026-07-28 client's
//! `_meta` (stdio has only the latter) — and covering the request's
//! dispatch and answer. Authentication and parsing happen before it (they
//! need no trace to say who asked: the span records the principal).

use micromcp_telemetry::traces;

use crate::principal::Principal;
use crate::wire::protocol::ParamsHead;

/// The request's span; none when traces are off. `header_traceparent_opt`
/// is the HTTP `traceparent` header, if any.
pub(super) fn request_span(
    header_traceparent_opt: Option<&str>,
    method: &str,
    head: &ParamsHead<'_>,
    principal: &Principal,
) -> tracing::Span {
    if !traces::enabled() {
        return tracing::Span::none();
    }
    let target = head
        .name
        .as_deref()
        .or(head.uri.as_deref())
        .unwrap_or_default();
    let span = tracing::info_span!(
        target: traces::TARGET,
        "mcp.request",
        otel.name = format!("{method} {target}").trim_end(),
        otel.kind = "server",
        mcp.method = method,
        mcp.target = target,
        mcp.principal = principal.id.as_str(),
        trace_id = tracing::field::Empty,
    );
    let traceparent_opt = header_traceparent_opt.or_else(|| {
        head.meta
            .as_ref()
            .and_then(|meta| meta.traceparent.as_deref())
    });
    if let Some(traceparent) = traceparent_opt {
        traces::set_parent(&span, traceparent);
    }
    traces::record_trace_id(&span);
    span
}
