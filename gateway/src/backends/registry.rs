//! The service registry: one lazily-connected gRPC channel per service (TCP,
//! Unix socket or QUIC; see `channel`), a watcher task per service that
//! follows its catalog stream and reconnects with backoff (`watcher`), and
//! the merged catalog snapshot they keep up to date. A service that goes
//! away keeps its last catalog listed and is marked unavailable; calls to
//! it fail fast with a transient error while the others are unaffected.
//!
//! The set of services changes at run time ([`Backends::apply`]: a reload
//! or a registration): a service whose config is unchanged keeps its
//! connections, stack and catalog; a changed one is replaced, a removed
//! one retired (its watcher stops; calls already under way finish). Every
//! service sits at the index `ServiceNames` gave its name, so catalog
//! snapshots taken before a change still name the right service.

mod watcher;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use micromcp_proto::Catalog;
use micromcp_proto::mcp_service_client::McpServiceClient;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::channel::{
    BackendClient, BalanceSettings, EndpointState, Pool, channel_for_service, spawn_upkeep,
};
use super::pins::{Approval, ToolPins};
use super::stack::ServiceStack;
use crate::catalog::{
    ListKind, MAX_SERVICE_NAMES, MergedCatalog, ServiceCatalog, ServiceNames, take_out_reserved,
};
use crate::config::ServiceConfig;
use crate::error::GatewayError;

/// One backend service.
pub struct Backend {
    pub config: ServiceConfig,
    /// Its index in the gateway's `ServiceNames`.
    pub index: usize,
    pub client: BackendClient,
    /// Breaker and concurrency limit every call crosses.
    pub stack: Arc<ServiceStack>,
    /// The endpoints behind `client`, when it has several.
    pool_opt: Option<Arc<Pool>>,
    available: AtomicBool,
    /// Why its catalog stream is down, while it is.
    down_reason: Mutex<Option<String>>,
    /// The last catalog it delivered, as delivered.
    offered: Mutex<Option<Arc<Catalog>>>,
    /// That catalog without its held tools (what is merged).
    catalog: Mutex<Option<Arc<Catalog>>>,
    /// Cancelled when it leaves the set (or the gateway stops).
    retired: CancellationToken,
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
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    fn has_catalog(&self) -> bool {
        self.catalog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn set_down_reason(&self, reason_opt: Option<&str>) {
        let mut reason = self
            .down_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
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

/// What [`Backends::apply`] changed, by service name.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SetChanges {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    pub removed: Vec<String>,
}

impl SetChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }
}

/// The services by name index (`None` where a name has no service now).
type Slots = Vec<Option<Arc<Backend>>>;

/// All backends and the merged catalog.
pub struct Backends {
    names: Arc<ServiceNames>,
    slots: ArcSwap<Slots>,
    merged: ArcSwap<MergedCatalog>,
    /// Serialises merges, so that a newer merge is never overwritten.
    merge_lock: Mutex<()>,
    /// Serialises changes of the set.
    apply_lock: Mutex<()>,
    changes: broadcast::Sender<ListKind>,
    /// Bumped after every merge (how many services have a catalog).
    catalog_ready: tokio::sync::watch::Sender<usize>,
    separator: String,
    /// Tool names the gateway's own tools take (`catalog::reserved`).
    reserved_tools: &'static [&'static str],
    /// The pinned tool definitions catalogs are checked against.
    pins: Arc<ToolPins>,
    /// Parent of every backend's `retired` token; cancelled at shutdown.
    root: CancellationToken,
    /// Set once watchers run: services added later get theirs at once.
    running: AtomicBool,
}

// === impl Backend (construction) ===

impl Backend {
    /// A backend for `config` at name index `index`; nothing is dialled.
    fn new(
        config: &ServiceConfig,
        index: usize,
        root: &CancellationToken,
    ) -> Result<Self, GatewayError> {
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
        Ok(Self {
            client: McpServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024),
            stack: ServiceStack::new(&config.name, stack_config),
            config: config.clone(),
            index,
            pool_opt,
            available: AtomicBool::new(false),
            down_reason: Mutex::default(),
            offered: Mutex::default(),
            catalog: Mutex::default(),
            retired: root.child_token(),
        })
    }
}

// === impl Backends ===

impl Backends {
    /// Creates (lazy) channels to every service, each with its own stack
    /// (`[backends]`, with the service's own keys over it); nothing is
    /// dialled yet. Services get name indices in config order.
    pub fn new(
        configs: &[ServiceConfig],
        separator: &str,
        reserved_tools: &'static [&'static str],
        pins: Arc<ToolPins>,
    ) -> Result<Arc<Self>, GatewayError> {
        let (changes, _) = broadcast::channel(64);
        let (catalog_ready, _) = tokio::sync::watch::channel(0);
        let backends = Arc::new(Self {
            names: Arc::new(ServiceNames::default()),
            slots: ArcSwap::from_pointee(Vec::new()),
            merged: ArcSwap::from_pointee(MergedCatalog::default()),
            merge_lock: Mutex::default(),
            apply_lock: Mutex::default(),
            changes,
            catalog_ready,
            separator: separator.to_owned(),
            reserved_tools,
            pins,
            root: CancellationToken::new(),
            running: AtomicBool::new(false),
        });
        backends.apply(configs)?;
        Ok(backends)
    }

    /// The pinned tool definitions.
    pub fn pins(&self) -> &Arc<ToolPins> {
        &self.pins
    }

    /// Approves the held definition of `service`'s `tool` if it is the one
    /// reviewed (`reviewed_sha256`), and offers the tool again.
    pub fn approve_tool(&self, service: &str, tool: &str, reviewed_sha256: &str) -> Approval {
        let approval = self.pins.approve(service, tool, reviewed_sha256);
        if approval != Approval::Approved {
            return approval;
        }
        if let Some(backend) = self.named(service) {
            let offered = backend
                .offered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(offered) = offered {
                self.install(&backend, offered);
            }
        }
        approval
    }

    /// The definition of `tool` that `service` offers now (held or not).
    pub fn offered_tool(&self, service: &str, tool: &str) -> Option<micromcp_proto::Tool> {
        let backend = self.named(service)?;
        let offered = backend
            .offered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        offered
            .tools
            .iter()
            .find(|offered| offered.name == tool)
            .cloned()
    }

    /// The index every service name has (shared with the policy).
    pub fn names(&self) -> &Arc<ServiceNames> {
        &self.names
    }

    /// The services now, in name-index order (config order first).
    pub fn services(&self) -> Vec<Arc<Backend>> {
        self.slots.load().iter().flatten().cloned().collect()
    }

    /// The service at name index `index`, when there is one now.
    pub fn service(&self, index: usize) -> Option<Arc<Backend>> {
        self.slots.load().get(index).cloned().flatten()
    }

    /// The service named `name`, when there is one now.
    pub fn named(&self, name: &str) -> Option<Arc<Backend>> {
        self.names
            .index_of(name)
            .and_then(|index| self.service(index))
    }

    /// How many name indices there are (an upper bound of service indices).
    pub fn index_count(&self) -> usize {
        self.slots.load().len()
    }

    /// The current merged catalog.
    pub fn catalog(&self) -> Arc<MergedCatalog> {
        self.merged.load_full()
    }

    /// Notified with each list kind that changed.
    pub fn subscribe(&self) -> broadcast::Receiver<ListKind> {
        self.changes.subscribe()
    }

    /// Makes the set of services `configs`: unchanged services are kept,
    /// changed ones replaced, new ones added, the others retired; watchers
    /// of new services start at once when the gateway runs. Nothing
    /// changes when a channel cannot be made (an error naming it).
    pub fn apply(self: &Arc<Self>, configs: &[ServiceConfig]) -> Result<SetChanges, GatewayError> {
        let _applying = self
            .apply_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.slots.load_full();
        let mut next: Slots = Vec::new();
        let mut changes = SetChanges::default();
        let mut started = Vec::new();
        for config in configs {
            let index = self.names.index_for(&config.name).ok_or_else(|| {
                GatewayError::Internal(format!(
                    "service {:?}: this gateway has known {MAX_SERVICE_NAMES} service names; restart it to register more",
                    config.name
                ))
            })?;
            if next.len() <= index {
                next.resize(index + 1, None);
            }
            let backend = match current.get(index).cloned().flatten() {
                Some(kept) if kept.config == *config => kept,
                previous => {
                    let backend = Arc::new(Backend::new(config, index, &self.root)?);
                    match previous {
                        Some(_) => changes.replaced.push(config.name.clone()),
                        None => changes.added.push(config.name.clone()),
                    }
                    started.push(backend.clone());
                    backend
                }
            };
            next[index] = Some(backend);
        }
        let mut retired = Vec::new();
        for (index, previous) in current.iter().enumerate() {
            let Some(previous) = previous else { continue };
            let still = next.get(index).cloned().flatten();
            if still.as_ref().is_some_and(|now| Arc::ptr_eq(now, previous)) {
                continue;
            }
            if still.is_none() {
                changes.removed.push(previous.config.name.clone());
            }
            retired.push(previous.clone());
        }
        if next.len() < current.len() {
            next.resize(current.len(), None);
        }
        self.slots.store(Arc::new(next));
        for backend in retired {
            backend.retired.cancel();
        }
        if self.running.load(Ordering::Acquire) {
            for backend in &started {
                self.start(backend);
            }
        }
        if !changes.is_empty() {
            self.remerge();
        }
        Ok(changes)
    }

    /// Starts one catalog watcher per service, and the upkeep (DNS,
    /// health checks) of services with several endpoints; services added
    /// later start theirs when added.
    pub fn spawn_watchers(self: &Arc<Self>, shutdown: &CancellationToken) {
        let root = self.root.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            root.cancel();
        });
        let _applying = self
            .apply_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.running.store(true, Ordering::Release);
        for backend in self.services() {
            self.start(&backend);
        }
    }

    fn start(self: &Arc<Self>, backend: &Arc<Backend>) {
        if let Some(pool) = &backend.pool_opt {
            spawn_upkeep(pool, &backend.retired);
        }
        let (backends, backend) = (self.clone(), backend.clone());
        tokio::spawn(async move { watcher::watch(&backends, &backend).await });
    }

    /// Waits until every service has delivered a catalog, or `timeout`.
    /// Returns the names of services still missing.
    pub async fn wait_for_catalogs(&self, timeout: Duration) -> Vec<String> {
        self.wait_for(|backend| backend.has_catalog(), timeout)
            .await
    }

    /// Waits until `name` has delivered a catalog or `timeout`; true when it has.
    pub async fn wait_for_catalog_of(&self, name: &str, timeout: Duration) -> bool {
        let missing = self
            .wait_for(
                |backend| backend.config.name != name || backend.has_catalog(),
                timeout,
            )
            .await;
        missing.is_empty()
    }

    async fn wait_for(&self, ready: impl Fn(&Backend) -> bool, timeout: Duration) -> Vec<String> {
        let missing = || -> Vec<String> {
            self.services()
                .iter()
                .filter(|backend| !ready(backend))
                .map(|backend| backend.config.name.clone())
                .collect()
        };
        let mut merges = self.catalog_ready.subscribe();
        let _ = tokio::time::timeout(timeout, merges.wait_for(|_| missing().is_empty())).await;
        missing()
    }

    /// Replaces `backend`'s catalog (its changed tool definitions held) and
    /// rebuilds the merged snapshot.
    fn install(&self, backend: &Backend, catalog: Arc<Catalog>) {
        let kept = self.pins.filter(
            &backend.config.name,
            backend.config.accept_tool_changes,
            &catalog,
        );
        *backend
            .offered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(catalog);
        *backend
            .catalog
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(kept));
        self.remerge();
    }

    /// Rebuilds the merged catalog from the services now in the set
    /// (serialised, so merges land in order) and tells subscribers which
    /// lists changed.
    fn remerge(&self) {
        let merging = self
            .merge_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slots = self.slots.load_full();
        let mut contributions: Vec<ServiceCatalog> = slots
            .iter()
            .flatten()
            .filter_map(|backend| {
                let catalog = backend
                    .catalog
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()?;
                Some(ServiceCatalog {
                    service: backend.index,
                    service_name: backend.config.name.clone(),
                    namespace: backend.config.namespace.clone(),
                    catalog,
                })
            })
            .collect();
        let ready = contributions.len();
        let names = self.names.all();
        let reserved = take_out_reserved(&mut contributions, &self.separator, self.reserved_tools);
        let mut merged = MergedCatalog::merge(&contributions, &self.separator, &names);
        for (collision, loser) in reserved {
            merged.collisions.push(collision);
            merged.collision_winners.push(String::new());
            merged.collision_losers.push(loser);
        }
        for collision in &merged.collisions {
            tracing::warn!(%collision, "catalog collision; the service known first wins, the other's item is not listed");
        }
        // Swap while still holding the merge lock: a watcher that merged
        // an older set of catalogs must never overwrite a newer merge.
        let previous = self.merged.swap(Arc::new(merged));
        drop(merging);
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
