//! `Gateway`: the shared state of one gateway process and its composition
//! root — the validated config, backends and merged catalog, policy,
//! audit, session codec and replica-local session state, pending
//! server-to-client requests — each built here from values of the config.
//! What a reload may change (services, tokens, policies, per-service
//! rates) is swapped in by `reconfigure`.

mod reconfigure;
mod shared;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::{ArcSwap, Guard};

use crate::audit::Audit;
use crate::auth::{Authenticator, TokenExchanges};
use crate::backends::Backends;
use crate::backends::pins::ToolPins;
use crate::catalog::{self, ToolSearch};
use crate::cluster::Cluster;
use crate::config::{AuthConfig, GatewayConfig};
use crate::error::GatewayError;
use crate::policy::Policy;
use crate::principal::Principal;
use crate::quota::{Exceeded, Quota, QuotaPermit};
use crate::rates::RateLimits;
use crate::session::{
    InProcessSingleUse, MAX_USED_ROUNDS, MAX_USED_ROUNDS_PER_PRINCIPAL, PendingClientRequests,
    RequestStateCodec, SessionCodec, SessionRegistry, SingleUseStore, TaskIdCodec,
};
use crate::shares::PrincipalShares;
use crate::unwritten::UnwrittenAnswers;

/// The gateway's name and version as clients see them.
pub const SERVER_NAME: &str = "micromcp";

pub use self::reconfigure::Reconfigured;

/// One gateway process.
pub struct Gateway {
    /// The config it started with (what a reload changes is held apart:
    /// services in `backends`, tokens, policies, rates).
    pub config: GatewayConfig,
    /// How clients authenticate now.
    auth: ArcSwap<Authenticator>,
    pub backends: Arc<Backends>,
    pub sessions: SessionCodec,
    /// Seals the `requestState` of 2026-07-28 `input_required` rounds.
    pub request_states: RequestStateCodec,
    /// The rounds used already that may be used once (approvals): kept in
    /// this process, so a replay is refused by the replica that saw the
    /// first use.
    pub single_use: Box<dyn SingleUseStore>,
    /// The decisions shared with other replicas (`[cluster]`), if any:
    /// revocations, used rounds and rates then go through it first.
    pub cluster_opt: Option<Arc<Cluster>>,
    /// Seals the task ids clients see (the tasks extension).
    pub task_ids: TaskIdCodec,
    pub runtimes: SessionRegistry,
    /// Scopes and Cedar decisions, with per-principal catalog views.
    policy: ArcSwap<Policy>,
    /// One record per request.
    pub audit: Arc<Audit>,
    pub pending_requests: PendingClientRequests,
    /// Rates and in-flight caps per principal and per service.
    pub rates: RateLimits,
    /// Resource reads streaming to clients now, per principal.
    pub streamed_reads: Arc<Quota<String>>,
    /// `subscriptions/listen` streams open, per principal.
    pub listens: Arc<Quota<String>>,
    /// Resources watched now, per principal (both eras).
    pub watches: Arc<Quota<String>>,
    /// Each principal's share of the HTTP front.
    pub shares: Arc<PrincipalShares>,
    /// Answers and request bodies held for clients, per principal.
    pub unwritten: Arc<UnwrittenAnswers>,
    /// Callers' tokens exchanged for services with `token_exchange`.
    pub token_exchanges: TokenExchanges,
    next_request: AtomicU64,
    pub server_info_json: String,
    /// The ranked search of `find_tools`, when `[catalog]` offers it.
    pub tool_search: Option<Arc<ToolSearch>>,
}

/// `subscriptions/listen` streams one principal may hold open.
pub const MAX_LISTENS_PER_PRINCIPAL: usize = 16;
/// `subscriptions/listen` streams the gateway holds open in all.
pub const MAX_LISTENS: usize = 10_000;
/// Resources the gateway watches in all (both eras).
pub const MAX_WATCHES: usize = 100_000;

// === impl Gateway ===

impl Gateway {
    /// Assembles a gateway; services are dialled lazily.
    pub fn new(config: GatewayConfig, session_key: &[u8; 32]) -> Result<Arc<Self>, GatewayError> {
        Self::with_single_use(
            config,
            session_key,
            Box::new(InProcessSingleUse::new(
                MAX_USED_ROUNDS,
                MAX_USED_ROUNDS_PER_PRINCIPAL,
            )),
        )
    }

    /// Assembles a gateway whose used approvals are kept in `single_use`
    /// (a journal beside the session key, for one that keeps them over a
    /// restart).
    pub fn with_single_use(
        config: GatewayConfig,
        session_key: &[u8; 32],
        single_use: Box<dyn SingleUseStore>,
    ) -> Result<Arc<Self>, GatewayError> {
        let cluster_opt = match &config.cluster_opt {
            Some(cluster) => Some(
                Cluster::new(cluster, session_key)
                    .map_err(|error| GatewayError::Internal(format!("cluster: {error}")))?,
            ),
            None => None,
        };
        let pins = ToolPins::open(config.admin.tool_pins_file.clone())
            .map_err(|error| GatewayError::Internal(format!("admin.tool_pins_file: {error}")))?;
        // With tool search on, a service may not offer the gateway's tools' names.
        let reserved: &'static [&'static str] = match config.catalog.searches() {
            true => &[catalog::FIND_TOOLS, catalog::CALL_TOOL],
            false => &[],
        };
        let backends = Backends::new(
            &config.services,
            &config.namespace_separator,
            reserved,
            pins,
        )?;
        let audit = Audit::open(&config.audit).map_err(GatewayError::Internal)?;
        let rates = RateLimits::new(&config.rate_limits, &config.services);
        let streamed_reads = Quota::new(
            config.limits.max_streamed_reads,
            Some(config.limits.max_streamed_reads_per_principal),
        );
        let watches = Quota::new(MAX_WATCHES, Some(config.limits.max_watches_per_principal));
        let shares = PrincipalShares::new(
            config.limits.max_requests_in_flight_per_principal,
            config.limits.fair_share_in_flight_per_principal,
        );
        let unwritten = UnwrittenAnswers::new(
            config.limits.max_unwritten_bytes_per_connection,
            config.limits.max_unwritten_bytes_per_principal,
            config.limits.max_unwritten_bytes,
        );
        let runtimes = SessionRegistry::new(
            config.limits.max_sessions,
            config.limits.max_sessions_per_principal,
        );
        let server_info_json = serde_json::json!({
            "name": SERVER_NAME,
            "title": "Micro-MCP gateway",
            "version": env!("CARGO_PKG_VERSION"),
        })
        .to_string();
        let tool_search = match config.catalog.searches() {
            true => Some(Arc::new(ToolSearch::new(backends.catalog())?)),
            false => None,
        };
        Ok(Arc::new(Self {
            tool_search,
            sessions: SessionCodec::new(session_key, config.session_max_age),
            request_states: RequestStateCodec::new(session_key),
            single_use,
            cluster_opt,
            task_ids: TaskIdCodec::new(session_key),
            policy: ArcSwap::from_pointee(Policy::with(
                config.policy.cedar.clone(),
                backends.names().clone(),
            )),
            auth: ArcSwap::from_pointee(Authenticator::new(config.auth.clone(), None)),
            audit,
            config,
            backends,
            runtimes,
            pending_requests: PendingClientRequests::default(),
            streamed_reads,
            listens: Quota::new(MAX_LISTENS, Some(MAX_LISTENS_PER_PRINCIPAL)),
            watches,
            shares,
            unwritten,
            token_exchanges: TokenExchanges::default(),
            rates,
            next_request: AtomicU64::new(1),
            server_info_json,
        }))
    }

    /// A place for one more resource watched by `principal` (a
    /// 2025-11-25 subscription or a 2026-07-28 listen URI), or the error
    /// that names the limit. With `[cluster]` the per-principal cap holds
    /// over every replica (a lease in the store); while the store cannot
    /// answer, this replica's share of it (cap ÷ live replicas).
    pub async fn watch_place(&self, principal: &str) -> Result<QuotaPermit<String>, GatewayError> {
        let place =
            self.watches
                .acquire(principal.to_owned())
                .map_err(|exceeded| match exceeded {
                    Exceeded::PerKey(limit) => watches_full(principal, limit),
                    Exceeded::Total(limit) => GatewayError::InvalidRequest(format!(
                        "the gateway watches {limit} resources; retry later"
                    )),
                })?;
        let (Some(cluster), Some(cap)) = (&self.cluster_opt, self.watches.max_per_key()) else {
            return Ok(place);
        };
        match cluster.take_lease("watches", principal, cap).await {
            Ok(Some(lease)) => Ok(place.holding(Box::new(lease))),
            Ok(None) => Err(watches_full(principal, cap)),
            Err(error) => {
                cluster.store().fell_back("watches");
                tracing::debug!(%error, "watch quota decided by this replica alone");
                let replicas = usize::try_from(cluster.live_replicas()).unwrap_or(1);
                let share = (cap / replicas.max(1)).max(1);
                if self.watches.held_by(&principal.to_owned()) > share {
                    return Err(watches_full(principal, share));
                }
                Ok(place)
            }
        }
    }

    /// The authorization state now.
    pub fn policy(&self) -> Guard<Arc<Policy>> {
        self.policy.load()
    }

    /// How clients authenticate now.
    pub fn auth(&self) -> Arc<Authenticator> {
        self.auth.load_full()
    }

    /// Builds the catalog view of every configured principal that needs
    /// one (restricted scopes or Cedar policies), so requests find them
    /// ready instead of building them inline. Blocking: run it off the
    /// front threads (a view over 10k tools with Cedar takes ~50 ms).
    pub fn warm_policy_views(&self) {
        let catalog = self.backends.catalog();
        let auth = self.auth();
        let principals: Vec<&Arc<Principal>> = match &auth.config {
            AuthConfig::InsecureNoAuth { anonymous } => vec![anonymous],
            AuthConfig::Tokens {
                tokens,
                certificates,
                ..
            } => tokens
                .iter()
                .map(|entry| &entry.principal)
                .chain(certificates.iter().map(|entry| &entry.principal))
                .collect(),
        };
        let policy = self.policy();
        for principal in principals {
            let _ = policy.visible(principal, &catalog);
        }
    }

    /// Indexes the current catalog's tools for `find_tools` (when offered)
    /// and swaps the index in. Blocking: run it off the front threads.
    pub fn index_tools(&self) {
        let Some(search) = &self.tool_search else {
            return;
        };
        if let Err(error) = search.rebuild(self.backends.catalog()) {
            tracing::error!(%error, "tool search index not rebuilt; find_tools answers from the previous catalog");
        }
    }

    /// A fresh gateway-side request id.
    pub fn next_request_id(&self) -> String {
        format!("r{}", self.next_request.fetch_add(1, Ordering::Relaxed))
    }

    /// Delivers a client's JSON-RPC response to a server-to-client request
    /// that a call of the same principal made.
    pub fn deliver_client_response(
        &self,
        id_text: &str,
        principal: &str,
        result: Option<&str>,
        error: Option<&str>,
    ) -> bool {
        self.pending_requests
            .deliver(id_text, principal, result, error)
    }
}

/// The error of one watch too many for `principal`.
fn watches_full(principal: &str, limit: usize) -> GatewayError {
    GatewayError::InvalidRequest(format!(
        "principal {principal} already watches {limit} resources (limits.max_watches_per_principal); unsubscribe or close a subscriptions/listen stream first"
    ))
}
