//! Traces: OpenTelemetry spans for requests, routing, backend calls and the
//! services' handling of them, exported over OTLP/HTTP (protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
//! set (the standard variables; `OTEL_SERVICE_NAME` names the process,
//! `OTEL_BSP_SCHEDULE_DELAY` and the other batch settings apply); off, and
//! costing nothing, otherwise. The W3C `traceparent` links the processes:
//! taken from the client (HTTP header, or MCP `_meta`), sent to services
//! in gRPC metadata as the gateway's own span, continued there. Spans use
//! the target [`TARGET`], filtered apart from the logs, so `MICROMCP_LOG`
//! never hides them.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` target of every span meant for traces.
pub const TARGET: &str = "micromcp_trace";

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// True when spans are exported (create them only then).
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The exporting layer, when the environment asks for traces; `role`
/// names the process (`micromcp-gateway`, `micromcp-fs`) unless
/// `OTEL_SERVICE_NAME` does. Build it before any async runtime starts (the
/// exporter's HTTP client has a runtime of its own).
pub fn layer<S>(role: &str) -> Result<Option<Box<dyn Layer<S> + Send + Sync>>, String>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let configured = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if !configured {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|error| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {error}"))?;
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| role.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name)
                .build(),
        )
        .build();
    let tracer = provider.tracer("micromcp");
    let _ = PROVIDER.set(provider);
    ON.store(true, Ordering::Relaxed);
    let only_traces = Targets::new().with_target(TARGET, tracing::Level::TRACE);
    Ok(Some(Box::new(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(only_traces),
    )))
}

/// Sends the spans still batched (at exit).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
        let _ = provider.shutdown();
    }
}

/// Makes `traceparent` (W3C) the parent of `span`; an invalid one is
/// ignored (the span starts a trace of its own).
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

/// The trace id of `span` (32 hex digits), for log lines: recorded as the
/// span's `trace_id` field, which every log line inside it carries.
pub fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::TraceContextExt;
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

/// The W3C `traceparent` of `span`, to send where the trace continues.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}
