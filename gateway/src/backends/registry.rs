//! The service registry: one lazily-connected gRPC channel per service (TCP,
//! Unix socket or QUIC; see `channel`), a watcher task per service that follows its catalog stream
//! and reconnects with backoff, and the merged catalog snapshot they keep up
//! to date. A service that goes away keeps its last catalog listed and is
//! marked unavailable; calls to it fail fast with a transient error while the
//! others are unaffected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use micromcp_proto::mcp_service_client::McpServiceClient;
use micromcp_proto::{Catalog, WatchCatalogRequest};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::channel::{
    BackendClient, BalanceSettings, EndpointState, Pool, channel_for_service, spawn_upkeep,
};
use super::stack::ServiceStack;
use crate::catalog::{ListKind, MergedCatalog, ServiceCatalog};
use crate::config::ServiceConfig;
use crate::error::GatewayError;

/// How long a catalog stream must have run for its end to start a fresh
/// round of quick reopenings.
const STREAM_RETRY_AT_ONCE_AFTER: Duration = Duration::from_secs(1);
/// The pause between quick reopenings after the first.
const QUICK_REOPEN_PAUSE: Duration = Duration::from_millis(50);

/// One backend service.
pub struct Backend {
    pub config: ServiceConfig,
    pub client: BackendClient,
    /// Breaker and concurrency limit every call crosses.
    pub stack: Arc<ServiceStack>,
    /// The endpoints behind `client`, when it has several.
    pool_opt: Option<Arc<Pool>>,
    available: AtomicBool,
    /// Why its catalog stream is down, while it is.
    down_reason: Mutex<Option<String>>,
}

// === impl Backend ===

impl Backend {
    /// True while the service's catalog stream is up.
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// Why the service is unavailable (the last failure of its catalog
    /// stream), while it is.
    pub fn down_reason(&self) -> Option<String> {
        self.down_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_down_reason(&self, reason_opt: Option<&str>) {
        let mut reason = self
            .down_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reason.as_deref() != reason_opt {
            *reason = reason_opt.map(str::to_owned);
        }
    }

    /// How many endpoints it has now.
    pub fn endpoint_count(&self) -> usize {
        self.pool_opt
            .as_ref()
            .map_or(1, |pool| pool.endpoint_count())
    }

    /// Its endpoints' states, when it has several (or a `dns:` name).
    pub fn endpoint_states(&self) -> Option<Vec<EndpointState>> {
        self.pool_opt.as_ref().map(|pool| pool.endpoint_states())
    }
}

/// All backends and the merged catalog.
pub struct Backends {
    services: Vec<Backend>,
    snapshots: Mutex<Vec<Option<Arc<Catalog>>>>,
    merged: ArcSwap<MergedCatalog>,
    changes: broadcast::Sender<ListKind>,
    catalog_ready: tokio::sync::watch::Sender<usize>,
    separator: String,
}

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

// === impl Backends ===

impl Backends {
    /// Creates (lazy) channels to every service, each with its own stack
    /// (`[backends]`, with the service's own keys over it); nothing is
    /// dialled yet.
    pub fn new(configs: &[ServiceConfig], separator: &str) -> Result<Arc<Self>, GatewayError> {
        let services = configs
            .iter()
            .map(|config| {
                let stack_config = &config.backends;
                let (channel, pool_opt) = channel_for_service(
                    &config.name,
                    &config.endpoints,
                    BalanceSettings {
                        eject_after_failures: stack_config.eject_after_failures,
                        eject_for: stack_config.eject_for,
                        health_check_every: stack_config.health_check_every,
                        dns_refresh: stack_config.dns_refresh,
                    },
                )?;
                Ok(Backend {
                    client: McpServiceClient::new(channel)
                        .max_decoding_message_size(64 * 1024 * 1024),
                    stack: ServiceStack::new(&config.name, stack_config),
                    config: config.clone(),
                    pool_opt,
                    available: AtomicBool::new(false),
                    down_reason: Mutex::default(),
                })
            })
            .collect::<Result<Vec<_>, GatewayError>>()?;
        let (changes, _) = broadcast::channel(64);
        let (catalog_ready, _) = tokio::sync::watch::channel(0);
        Ok(Arc::new(Self {
            snapshots: Mutex::new(vec![None; services.len()]),
            services,
            merged: ArcSwap::from_pointee(MergedCatalog::default()),
            changes,
            catalog_ready,
            separator: separator.to_owned(),
        }))
    }

    /// The services, in config order.
    pub fn services(&self) -> &[Backend] {
        &self.services
    }

    /// The current merged catalog.
    pub fn catalog(&self) -> Arc<MergedCatalog> {
        self.merged.load_full()
    }

    /// Notified with each list kind that changed.
    pub fn subscribe(&self) -> broadcast::Receiver<ListKind> {
        self.changes.subscribe()
    }

    /// Starts one catalog watcher per service, and the upkeep (DNS,
    /// health checks) of services with several endpoints.
    pub fn spawn_watchers(self: &Arc<Self>, shutdown: &CancellationToken) {
        for pool in self
            .services
            .iter()
            .filter_map(|backend| backend.pool_opt.as_ref())
        {
            spawn_upkeep(pool, shutdown);
        }
        for index in 0..self.services.len() {
            let backends = self.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = backends.watch(index) => {}
                    () = shutdown.cancelled() => {}
                }
            });
        }
    }

    /// Waits until every service has delivered a catalog, or `timeout`.
    /// Returns the names of services still missing.
    pub async fn wait_for_catalogs(&self, timeout: Duration) -> Vec<String> {
        let mut ready = self.catalog_ready.subscribe();
        let total = self.services.len();
        let _ = tokio::time::timeout(timeout, ready.wait_for(|count| *count >= total)).await;
        let snapshots = self
            .snapshots
            .lock()
            .map(|guard| guard.clone())
            .unwrap_or_default();
        self.services
            .iter()
            .zip(snapshots)
            .filter(|(_, snapshot)| snapshot.is_none())
            .map(|(backend, _)| backend.config.name.clone())
            .collect()
    }

    async fn watch(&self, index: usize) {
        let backend = &self.services[index];
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
                                backend.available.store(true, Ordering::Relaxed);
                                backend.set_down_reason(None);
                                if reported_down {
                                    tracing::info!(service = %name, "service is back");
                                    reported_down = false;
                                }
                                backoff = Duration::from_millis(50);
                                failures = 0;
                                ever_connected = true;
                                self.install(index, Arc::new(update.catalog.unwrap_or_default()));
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
            backend.available.store(false, Ordering::Relaxed);
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

    /// Replaces one service's catalog and rebuilds the merged snapshot
    /// (serialised by the snapshot lock, so merges land in order).
    fn install(&self, index: usize, catalog: Arc<Catalog>) {
        let Ok(mut snapshots) = self.snapshots.lock() else {
            return;
        };
        snapshots[index] = Some(catalog);
        let contributions: Vec<ServiceCatalog> = snapshots
            .iter()
            .enumerate()
            .filter_map(|(service, snapshot)| {
                let config = &self.services[service].config;
                snapshot.as_ref().map(|catalog| ServiceCatalog {
                    service,
                    service_name: config.name.clone(),
                    namespace: config.namespace.clone(),
                    catalog: catalog.clone(),
                })
            })
            .collect();
        let ready = snapshots
            .iter()
            .filter(|snapshot| snapshot.is_some())
            .count();
        let names: Vec<&str> = self
            .services
            .iter()
            .map(|backend| backend.config.name.as_str())
            .collect();
        let merged = MergedCatalog::merge(&contributions, &self.separator, &names);
        for collision in &merged.collisions {
            tracing::error!(%collision, "catalog collision; the first service in config order wins");
        }
        // Swap while still holding the snapshot lock: a watcher that merged
        // an older set of snapshots must never overwrite a newer merge.
        let previous = self.merged.swap(Arc::new(merged));
        drop(snapshots);
        let current = self.merged.load();
        for kind in [
            ListKind::Tools,
            ListKind::Prompts,
            ListKind::Resources,
            ListKind::ResourceTemplates,
        ] {
            let changed = previous.page(kind, None, usize::MAX).ok()
                != current.page(kind, None, usize::MAX).ok();
            if changed {
                let _ = self.changes.send(kind);
            }
        }
        self.catalog_ready.send_replace(ready);
    }
}
