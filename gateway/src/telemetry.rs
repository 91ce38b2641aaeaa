//! The gateway's Prometheus metrics: the names it records under, the
//! bounded label values they take and the recording calls of the hot path
//! (with per-thread cached handles); the recorder itself and the `/metrics`
//! plumbing are `micromcp-telemetry`'s. Nothing is recorded until
//! [`install`] is called (the admin listener does); before that every
//! recording call is a no-op. Label values never come from what a client
//! sends: a method outside the MCP methods is `other`, a tool is labelled
//! only once its service's catalog holds it and at most
//! [`TOOLS_PER_SERVICE`] distinct tools per service are (the rest are
//! `other`), services are the configured ones.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::Gauge;
use micromcp_telemetry::{CountAndTime, count_and_time};

/// Requests answered, by method, era, outcome and error category.
pub const REQUESTS: &str = "micromcp_requests_total";
/// Time from a request's arrival to the end of its answer, by method.
pub const REQUEST_SECONDS: &str = "micromcp_request_duration_seconds";
/// Requests being served now.
pub const REQUESTS_IN_FLIGHT: &str = "micromcp_requests_in_flight";
/// Calls sent to a service, by service, tool and outcome.
pub const BACKEND_CALLS: &str = "micromcp_backend_calls_total";
/// Time a call held its place at a service (the backend part), by service.
pub const BACKEND_SECONDS: &str = "micromcp_backend_call_duration_seconds";
/// Audit records written, their bytes, write failures and write time.
pub const AUDIT_RECORDS: &str = "micromcp_audit_records_total";
pub const AUDIT_BYTES: &str = "micromcp_audit_bytes_total";
pub const AUDIT_FAILURES: &str = "micromcp_audit_write_failures_total";
pub const AUDIT_WRITE_SECONDS: &str = "micromcp_audit_write_duration_seconds";

/// The shared store of `[cluster]`: answering (1) or not (0), the round
/// trip of each command by kind, and decisions taken by a fallback while it
/// could not answer, by decision.
pub const CLUSTER_STORE_UP: &str = "micromcp_cluster_store_up";
pub const CLUSTER_STORE_SECONDS: &str = "micromcp_cluster_store_duration_seconds";
pub const CLUSTER_FALLBACKS: &str = "micromcp_cluster_fallbacks_total";
/// Values found in the shared store and not honoured (not sealed by a
/// replica, or out of bounds), by kind; the store refusing this replica's
/// credentials (1) or not (0).
pub const CLUSTER_IGNORED_VALUES: &str = "micromcp_cluster_ignored_values_total";
pub const CLUSTER_STORE_AUTH_REFUSED: &str = "micromcp_cluster_store_auth_refused";

/// Per service, read at scrape time: reachable (1) or not (0); breaker
/// state (0 closed, 1 half-open, 2 open) and times opened; calls running
/// and shed; catalog items by kind; endpoints by state.
pub const SERVICE_AVAILABLE: &str = "micromcp_service_available";
pub const BREAKER_STATE: &str = "micromcp_breaker_state";
pub const BREAKER_OPENED: &str = "micromcp_breaker_opened_total";
pub const CALLS_RUNNING: &str = "micromcp_calls_running";
pub const CALLS_SHED: &str = "micromcp_calls_shed_total";
pub const CATALOG_ITEMS: &str = "micromcp_catalog_items";
pub const ENDPOINTS: &str = "micromcp_endpoints";

/// `find_tools` searches answered (by whether they found any tool), the
/// tools they returned, and the time of one search (the index's words,
/// the ranking filtered by the caller's view, the answer rendered).
pub const FIND_TOOLS_SEARCHES: &str = "micromcp_find_tools_searches_total";
pub const FIND_TOOLS_HITS: &str = "micromcp_find_tools_hits_total";
pub const FIND_TOOLS_SECONDS: &str = "micromcp_find_tools_duration_seconds";

/// Distinct tool labels kept per service; further tools are `other`.
pub const TOOLS_PER_SERVICE: usize = 200;

/// Installs the process-wide recorder (once) with the gateway's help texts.
pub fn install() -> Result<(), String> {
    micromcp_telemetry::install(describe).map(|_| ())
}

pub use micromcp_telemetry::{enabled, render, static_label};

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "MCP requests answered, by method, era, outcome and error category"
    );
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Time from a request's arrival to the end of its answer"
    );
    describe_gauge!(REQUESTS_IN_FLIGHT, "MCP requests being served now");
    describe_counter!(
        BACKEND_CALLS,
        "Calls sent to a service, by service, tool and outcome"
    );
    describe_histogram!(
        BACKEND_SECONDS,
        Unit::Seconds,
        "Time a call held its place at its service"
    );
    describe_gauge!(
        SERVICE_AVAILABLE,
        "1 while the service's catalog stream is up"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(BREAKER_OPENED, "Times the service's circuit breaker opened");
    describe_gauge!(CALLS_RUNNING, "Calls holding a place at the service now");
    describe_counter!(
        CALLS_SHED,
        "Calls shed at once because the service was at capacity"
    );
    describe_gauge!(CATALOG_ITEMS, "Items the service lists, by kind");
    describe_gauge!(ENDPOINTS, "Endpoints of a service with several, by state");
    describe_counter!(AUDIT_RECORDS, "Audit records written");
    describe_counter!(AUDIT_BYTES, Unit::Bytes, "Bytes of audit records written");
    describe_counter!(AUDIT_FAILURES, "Audit records that could not be written");
    describe_histogram!(
        AUDIT_WRITE_SECONDS,
        Unit::Seconds,
        "Time to hand one audit record to the kernel"
    );
    describe_gauge!(
        CLUSTER_STORE_UP,
        "Whether the shared store ([cluster] redis_url) answered its last command"
    );
    describe_histogram!(
        CLUSTER_STORE_SECONDS,
        Unit::Seconds,
        "Round trip of one command to the shared store, by command"
    );
    describe_counter!(
        CLUSTER_FALLBACKS,
        "Shared decisions taken by their fallback while the store could not answer"
    );
    describe_counter!(
        FIND_TOOLS_SEARCHES,
        "find_tools searches answered, by whether they found a tool"
    );
    describe_counter!(FIND_TOOLS_HITS, "Tools returned by find_tools searches");
    describe_histogram!(
        FIND_TOOLS_SECONDS,
        Unit::Seconds,
        "Time of one find_tools search, ranking and answer"
    );
    describe_counter!(
        CLUSTER_IGNORED_VALUES,
        "Values in the shared store not honoured (not sealed by a replica, or out of bounds), by kind"
    );
    describe_gauge!(
        CLUSTER_STORE_AUTH_REFUSED,
        "Whether the shared store refuses this replica's credentials (a configuration error)"
    );
    // Present at 0 from the start, so that `increase()` sees the first failure.
    metrics::counter!(AUDIT_FAILURES).absolute(0);
}

/// A bounded label for the JSON-RPC method `method`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "initialize" => "initialize",
        "ping" => "ping",
        "server/discover" => "server/discover",
        "tools/list" => "tools/list",
        "tools/call" => "tools/call",
        "resources/list" => "resources/list",
        "resources/templates/list" => "resources/templates/list",
        "resources/read" => "resources/read",
        "resources/subscribe" => "resources/subscribe",
        "resources/unsubscribe" => "resources/unsubscribe",
        "prompts/list" => "prompts/list",
        "prompts/get" => "prompts/get",
        "completion/complete" => "completion/complete",
        "logging/setLevel" => "logging/setLevel",
        "subscriptions/listen" => "subscriptions/listen",
        "" => "none",
        _ => "other",
    }
}

/// The label of tool `tool` of `service` (a name its catalog holds):
/// itself for the first [`TOOLS_PER_SERVICE`] distinct tools of that
/// service, `other` after.
pub fn tool_label(service: &'static str, tool: &str) -> &'static str {
    type Tools = HashMap<&'static str, HashMap<String, &'static str>>;
    static TOOLS: OnceLock<Mutex<Tools>> = OnceLock::new();
    let mut tools = TOOLS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let of_service = tools.entry(service).or_default();
    if let Some(label) = of_service.get(tool) {
        return label;
    }
    if of_service.len() >= TOOLS_PER_SERVICE {
        return "other";
    }
    let label: &'static str = Box::leak(tool.to_owned().into_boxed_str());
    of_service.insert(tool.to_owned(), label);
    label
}

/// Records one answered request.
pub fn request_finished(
    method: &'static str,
    era: &'static str,
    outcome: &'static str,
    category: &'static str,
    elapsed: Duration,
) {
    thread_local! {
        static HANDLES: CountAndTime<4> = RefCell::default();
    }
    count_and_time(
        &HANDLES,
        [method, era, outcome, category],
        || {
            (
                metrics::counter!(REQUESTS, "method" => method, "era" => era, "outcome" => outcome, "category" => category),
                metrics::histogram!(REQUEST_SECONDS, "method" => method),
            )
        },
        elapsed,
    );
}

/// Records one call that held a place at `service` for `elapsed`.
pub fn backend_call_finished(
    service: &'static str,
    tool: &'static str,
    outcome: &'static str,
    elapsed: Duration,
) {
    thread_local! {
        static HANDLES: CountAndTime<3> = RefCell::default();
    }
    count_and_time(
        &HANDLES,
        [service, tool, outcome],
        || {
            (
                metrics::counter!(BACKEND_CALLS, "service" => service, "tool" => tool, "outcome" => outcome),
                metrics::histogram!(BACKEND_SECONDS, "service" => service),
            )
        },
        elapsed,
    );
}

/// Records one answered `find_tools` search that returned `hits` tools.
pub fn find_tools_finished(hits: usize, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let found = if hits == 0 { "none" } else { "some" };
    metrics::counter!(FIND_TOOLS_SEARCHES, "found" => found).increment(1);
    metrics::counter!(FIND_TOOLS_HITS).increment(hits as u64);
    metrics::histogram!(FIND_TOOLS_SECONDS).record(elapsed.as_secs_f64());
}

/// Counts a request in flight until the guard drops.
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    /// Counts one more request in flight (when recording).
    pub fn start() -> Option<Self> {
        in_flight_gauge().map(|gauge| {
            gauge.increment(1.0);
            Self(())
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(gauge) = in_flight_gauge() {
            gauge.decrement(1.0);
        }
    }
}

fn in_flight_gauge() -> Option<&'static Gauge> {
    static GAUGE: OnceLock<Gauge> = OnceLock::new();
    enabled().then(|| GAUGE.get_or_init(|| metrics::gauge!(REQUESTS_IN_FLIGHT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label("tools/call"), "tools/call");
        assert_eq!(method_label("x".repeat(10_000).as_str()), "other");
        let service = static_label("bounded-service");
        assert_eq!(static_label("bounded-service"), service);
        for index in 0..TOOLS_PER_SERVICE {
            assert_eq!(
                tool_label(service, &format!("tool{index}")),
                format!("tool{index}")
            );
        }
        assert_eq!(tool_label(service, "one-too-many"), "other");
        assert_eq!(tool_label(service, "tool0"), "tool0");
    }
}
