//! A service's own Prometheus metrics, on an optional listener
//! (`micromcp fs --metrics-listen ADDR`): calls by MCP method and outcome
//! (`ok` or the gRPC code it failed with) with their duration, and each
//! [`BlockingPool`](crate::BlockingPool)'s work running, waiting and
//! refused. Nothing is recorded until [`serve_metrics`] installs the
//! recorder; labels are fixed names, never what a caller sends. The
//! listener caps its connections and times out idle and slow ones
//! (`micromcp_telemetry::listener`).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use axum::Router;
use axum::middleware;
use axum::routing::get;
use micromcp_telemetry::access::{self, Access};
use micromcp_telemetry::traces;
use micromcp_telemetry::{CountAndTime, count_and_time};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::ServiceError;

/// Calls answered, by method and outcome.
pub const CALLS: &str = "micromcp_service_calls_total";
/// Time from a call's arrival to its answer (to the first chunk of a read).
pub const CALL_SECONDS: &str = "micromcp_service_call_duration_seconds";
/// Blocking work running and waiting now, and refused, by pool.
pub const BLOCKING_RUNNING: &str = "micromcp_service_blocking_running";
pub const BLOCKING_WAITING: &str = "micromcp_service_blocking_waiting";
pub const BLOCKING_REFUSED: &str = "micromcp_service_blocking_refused_total";

/// Installs the recorder and serves `/metrics` (and `/healthz`) on
/// `listener` until `shutdown`; `token_opt` guards it (without one, loopback
/// `Host`s only).
pub async fn serve_metrics(
    listener: TcpListener,
    token_opt: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    micromcp_telemetry::install(describe).map_err(std::io::Error::other)?;
    let access = Access::new(token_opt.as_deref(), "MICROMCP_METRICS_TOKEN");
    let app = Router::new()
        .route("/metrics", get(|| async { access::metrics_response() }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn_with_state(access, access::check));
    micromcp_telemetry::listener::serve_bounded(app, listener, shutdown).await
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        CALLS,
        "Calls the service answered, by MCP method and outcome"
    );
    describe_histogram!(CALL_SECONDS, Unit::Seconds, "Time to answer a call");
    describe_gauge!(BLOCKING_RUNNING, "Blocking work running now, by pool");
    describe_gauge!(
        BLOCKING_WAITING,
        "Blocking work waiting for a place, by pool"
    );
    describe_counter!(
        BLOCKING_REFUSED,
        "Blocking work refused at once because its pool and queue were full"
    );
}

/// Records one answered call of `method` (`"tools/call"`, …).
fn call_finished(method: &'static str, outcome: Result<(), tonic::Code>, elapsed: Duration) {
    if !micromcp_telemetry::enabled() {
        return;
    }
    thread_local! {
        static HANDLES: CountAndTime<2> = RefCell::default();
    }
    let outcome = match outcome {
        Ok(()) => "ok",
        Err(code) => code_label(code),
    };
    count_and_time(
        &HANDLES,
        [method, outcome],
        || {
            (
                metrics::counter!(CALLS, "method" => method, "outcome" => outcome),
                metrics::histogram!(CALL_SECONDS, "method" => method),
            )
        },
        elapsed,
    );
}

/// The span of one call of `method`, continuing the gateway's trace
/// (`traceparent` from the call's metadata), when traces are on; none
/// otherwise.
pub(crate) fn call_span(method: &'static str, traceparent_opt: Option<&str>) -> tracing::Span {
    if !traces::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: traces::TARGET,
        "mcp.service",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        trace_id = tracing::field::Empty,
    );
    if let Some(traceparent) = traceparent_opt {
        traces::set_parent(&span, traceparent);
    }
    traces::record_trace_id(&span);
    span
}

/// Runs `work`, a call of `method`, in `span`, and records how it ended and
/// how long it took.
pub(crate) async fn timed<T>(
    method: &'static str,
    span: tracing::Span,
    work: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, ServiceError> {
    let started = Instant::now();
    let outcome = work.instrument(span).await;
    call_finished(
        method,
        outcome.as_ref().map(|_| ()).map_err(ServiceError::code),
        started.elapsed(),
    );
    outcome
}

/// Sets pool `pool`'s gauges (running, waiting) and counts a refusal.
pub(crate) fn blocking_pool(pool: &'static str, running: usize, waiting: usize, refused: bool) {
    if !micromcp_telemetry::enabled() {
        return;
    }
    metrics::gauge!(BLOCKING_RUNNING, "pool" => pool).set(running as f64);
    metrics::gauge!(BLOCKING_WAITING, "pool" => pool).set(waiting as f64);
    if refused {
        metrics::counter!(BLOCKING_REFUSED, "pool" => pool).increment(1);
    }
}

fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}
