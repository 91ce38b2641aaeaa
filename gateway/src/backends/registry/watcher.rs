//! One service's catalog watcher: follows its `WatchCatalog` stream,
//! installs each catalog it delivers, reopens a stream that ended (at once
//! when it had delivered, once per endpoint for a service with several)
//! and otherwise retries with backoff, marking the service unavailable with
//! the reason. It ends when the service is retired (removed or replaced by
//! a reconfiguration) or the gateway shuts down.

use std::sync::Arc;
use std::time::Duration;

use micromcp_proto::WatchCatalogRequest;

use super::{Backend, Backends};

/// How long a catalog stream must have run for its end to start a fresh
/// round of quick reopenings.
const STREAM_RETRY_AT_ONCE_AFTER: Duration = Duration::from_secs(1);
/// The pause between quick reopenings after the first.
const QUICK_REOPEN_PAUSE: Duration = Duration::from_millis(50);

/// A failed call's message with its causes (connection refused, TLS
/// handshake refusals and the like sit in the source chain).
fn failure_text(status: &tonic::Status) -> String {
    // A cause that only wraps the status again (its text repeats the
    // message) adds nothing.
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        if !cause.to_string().contains(status.message()) {
            break;
        }
        source = cause.source();
    }
    crate::error::with_causes(status.message().to_owned(), source)
}

/// Follows `backend`'s catalog until it is retired.
pub(super) async fn watch(backends: &Backends, backend: &Arc<Backend>) {
    backend
        .retired
        .clone()
        .run_until_cancelled(follow(backends, backend))
        .await;
}

async fn follow(backends: &Backends, backend: &Arc<Backend>) {
    let name = &backend.config.name;
    let mut backoff = Duration::from_millis(50);
    let mut reported_down = false;
    let mut failures = 0u32;
    let mut ever_connected = false;
    let mut quick_reopens = 0usize;
    loop {
        let last_failure: String;
        let mut client = backend.client.clone();
        let mut lasted_opt = None;
        match client.watch_catalog(WatchCatalogRequest {}).await {
            Ok(response) => {
                let mut updates = response.into_inner();
                let opened = std::time::Instant::now();
                loop {
                    match updates.message().await {
                        Ok(Some(update)) => {
                            lasted_opt = Some(opened);
                            backend.set_available(true);
                            backend.set_down_reason(None);
                            if reported_down {
                                tracing::info!(service = %name, "service is back");
                                reported_down = false;
                            }
                            backoff = Duration::from_millis(50);
                            failures = 0;
                            ever_connected = true;
                            backends.install(backend, Arc::new(update.catalog.unwrap_or_default()));
                        }
                        Ok(None) => {
                            last_failure = "the service ended its catalog stream".into();
                            break;
                        }
                        Err(status) => {
                            tracing::debug!(service = %name, %status, "catalog stream ended");
                            last_failure = failure_text(&status);
                            break;
                        }
                    }
                }
            }
            Err(status) => {
                tracing::debug!(service = %name, %status, "catalog watch failed");
                last_failure = failure_text(&status);
            }
        }
        // A stream that ended (its endpoint went away or is draining) is
        // reopened before the service counts as unavailable: at once when
        // it had delivered, and, for a service with several endpoints,
        // once per endpoint with a short pause (the balancer meanwhile
        // ejects one that stopped accepting). A service that keeps
        // ending its streams quickly still gets the backoff.
        if lasted_opt.is_some_and(|opened| opened.elapsed() >= STREAM_RETRY_AT_ONCE_AFTER) {
            quick_reopens = 0;
        }
        let endpoints = backend.endpoint_count();
        let may_reopen = lasted_opt.is_some() || endpoints > 1;
        if may_reopen && quick_reopens < endpoints.max(1) {
            if quick_reopens > 0 {
                tokio::time::sleep(QUICK_REOPEN_PAUSE).await;
            }
            quick_reopens += 1;
            tracing::debug!(service = %name, reason = %last_failure, "catalog stream ended; reopening");
            continue;
        }
        quick_reopens = 0;
        backend.set_available(false);
        backend.set_down_reason(Some(&last_failure));
        failures = failures.saturating_add(1);
        // A service starting next to the gateway takes a moment: stay quiet briefly.
        if !reported_down && (ever_connected || failures > 4) {
            tracing::warn!(service = %name, reason = %last_failure, "service unavailable; retrying with backoff");
            reported_down = true;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
