//! Prometheus plumbing shared by the gateway and the services: one
//! process-wide recorder (`metrics` + `metrics-exporter-prometheus`,
//! histogram buckets from 50 µs to 10 s for every `*_seconds` metric),
//! nothing recorded until [`install`]; per-thread caches of metric handles
//! keyed by `'static` label values ([`HandleCache`]) so a hot path hashes a
//! few pointers instead of building a key in the shared registry; bounded
//! `'static` labels for configured names ([`static_label`]); and the
//! `/metrics` answer with its access rule ([`access`]) on a listener with
//! connection caps and timeouts ([`listener`]); OpenTelemetry
//! traces over OTLP when the environment asks for them ([`traces`]).

pub mod access;
mod handles;
pub mod listener;
pub mod traces;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use self::handles::{CountAndTime, HandleCache, PointerHasher, count_and_time};

/// Histogram buckets, in seconds: 50 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once, then runs `describe` (help
/// texts, series that must exist at 0); later calls change nothing.
pub fn install(describe: fn()) -> Result<&'static PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .map_err(|error| format!("metrics buckets: {error}"))?
        .build_recorder();
    let handle = recorder.handle();
    if HANDLE.set(handle).is_ok() {
        metrics::set_global_recorder(recorder)
            .map_err(|error| format!("metrics recorder: {error}"))?;
        describe();
    }
    HANDLE
        .get()
        .ok_or_else(|| "metrics recorder not installed".to_owned())
}

/// True once [`install`] ran: recording is worth its cost.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// The exposition text of every metric, or `None` before [`install`].
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// A `'static` label for a configured name (a service, an endpoint):
/// leaked once per distinct name; callers pass only names from
/// configuration or a bounded set, never what a client sends.
pub fn static_label(name: &str) -> &'static str {
    static LABELS: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut labels = LABELS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(label) = labels.get(name) {
        return label;
    }
    let label: &'static str = Box::leak(name.to_owned().into_boxed_str());
    labels.insert(name.to_owned(), label);
    label
}
