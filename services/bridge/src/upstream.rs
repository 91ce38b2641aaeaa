//! `Upstream`: keeps one connection to the bridged server alive — opens it
//! through [`connect`], mirrors its catalog, refreshes it on
//! `list_changed`, and reconnects with backoff when the connection ends. The
//! era found on the first connection is reused for reconnects, and a
//! connection whose server stops answering pings is replaced ([`liveness`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use micromcp_sdk::CatalogPublisher;
use rmcp::RoleClient;
// Logging is deprecated by 2026-07-28 but 2025-11-25 clients still ask for it.
#[allow(deprecated)]
use rmcp::model::{ProtocolVersion, SetLevelRequestParams, SubscriptionFilter};
use rmcp::service::{ClientLifecycleMode, Peer};
use tokio_util::sync::CancellationToken;

use crate::config::UpstreamEra;
use crate::connect::{self, Running};
use crate::handler::{BridgeHandler, BridgeState};
use crate::liveness;
use crate::paged;
use crate::{BridgeConfig, convert};

/// The live upstream, if connected.
pub struct Upstream {
    config: BridgeConfig,
    pub state: Arc<BridgeState>,
    peer: ArcSwapOption<Peer<RoleClient>>,
    publisher: CatalogPublisher,
    legacy_verdict: AtomicBool,
    connected_once: AtomicBool,
    /// The log level set on the upstream session (its rank), if any.
    log_level: Mutex<Option<u8>>,
    url_verdict: connect::UrlVerdict,
}

impl Upstream {
    pub fn new(config: BridgeConfig, publisher: CatalogPublisher) -> Arc<Self> {
        Arc::new(Self {
            config,
            state: Arc::default(),
            peer: ArcSwapOption::empty(),
            publisher,
            legacy_verdict: AtomicBool::new(false),
            connected_once: AtomicBool::new(false),
            log_level: Mutex::new(None),
            url_verdict: connect::UrlVerdict::default(),
        })
    }

    /// The connected peer, if any.
    pub fn peer(&self) -> Option<Arc<Peer<RoleClient>>> {
        self.peer.load_full()
    }

    /// Makes a 2025-11-25 upstream send logs at least as verbose as
    /// `level` (`logging/setLevel` for the whole session; each call then
    /// keeps only what its own client asked for). The level is set again
    /// after a reconnect.
    #[allow(deprecated)]
    pub async fn ensure_log_level(&self, peer: &Peer<RoleClient>, level: &str) {
        let wanted = log_rank(level);
        {
            let current = self
                .log_level
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if current.is_some_and(|current| current <= wanted) {
                return;
            }
        }
        let Ok(params) =
            serde_json::from_value::<SetLevelRequestParams>(serde_json::json!({"level": level}))
        else {
            return;
        };
        match peer.set_level(params).await {
            Ok(()) => {
                *self
                    .log_level
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(wanted);
            }
            Err(error) => tracing::debug!(%error, "the upstream refused logging/setLevel"),
        }
    }

    /// True when the connection speaks 2026-07-28.
    pub fn is_modern(&self) -> bool {
        !self.legacy_verdict.load(Ordering::Relaxed)
    }

    /// True when the upstream declared `resources.subscribe`.
    pub fn watches_resources(&self) -> bool {
        self.peer().is_some_and(|peer| {
            peer.peer_info()
                .and_then(|info| serde_json::to_value(&info.capabilities).ok())
                .is_some_and(|capabilities| capabilities["resources"]["subscribe"] == true)
        })
    }

    /// Longest a forwarded call may take.
    pub fn call_timeout(&self) -> Duration {
        self.config.call_timeout
    }

    /// The bridge's settings.
    pub fn config(&self) -> &BridgeConfig {
        &self.config
    }

    /// The bridged server's name (logs, errors).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The HTTP transport found to work, shared with principals' sessions.
    pub fn url_verdict(&self) -> &connect::UrlVerdict {
        &self.url_verdict
    }

    /// How a new connection negotiates its era (the verdict of the first
    /// one is kept).
    pub fn lifecycle(&self) -> ClientLifecycleMode {
        match self.config.era {
            UpstreamEra::Handshake => return ClientLifecycleMode::Initialize,
            UpstreamEra::Stateless => {
                return ClientLifecycleMode::Auto {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    legacy_version: None,
                };
            }
            UpstreamEra::Auto => {}
        }
        if self.connected_once.load(Ordering::Relaxed)
            && self.legacy_verdict.load(Ordering::Relaxed)
        {
            return ClientLifecycleMode::Initialize;
        }
        ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        }
    }

    async fn connect(&self) -> Result<Running, String> {
        let handler = BridgeHandler::new(self.state.clone());
        connect::open(
            &self.config.name,
            &self.config.target,
            handler,
            self.lifecycle(),
            &self.url_verdict,
        )
        .await
    }

    /// Lists the upstream catalog and publishes it.
    async fn refresh_catalog(&self, peer: &Peer<RoleClient>) -> Result<(), String> {
        let capabilities = peer
            .peer_info()
            .map(|info| serde_json::to_value(&info.capabilities).unwrap_or_default())
            .unwrap_or_default();
        let has = |name: &str| capabilities.get(name).is_some();
        let server = self.config.name.as_str();
        let failed = |error: rmcp::service::ServiceError| error.to_string();
        let tools = if has("tools") {
            paged::read_all(
                server,
                "tools",
                |tool: &rmcp::model::Tool| &tool.name,
                |cursor| async move {
                    let page = peer.list_tools(Some(paginated(cursor))).await?;
                    Ok((page.tools, page.next_cursor))
                },
            )
            .await
            .map_err(failed)?
        } else {
            Vec::new()
        };
        let prompts = if has("prompts") {
            paged::read_all(
                server,
                "prompts",
                |prompt: &rmcp::model::Prompt| &prompt.name,
                |cursor| async move {
                    let page = peer.list_prompts(Some(paginated(cursor))).await?;
                    Ok((page.prompts, page.next_cursor))
                },
            )
            .await
            .map_err(failed)?
        } else {
            Vec::new()
        };
        let (resources, templates) = if has("resources") {
            (
                paged::read_all(
                    server,
                    "resources",
                    |resource: &rmcp::model::Resource| &resource.uri,
                    |cursor| async move {
                        let page = peer.list_resources(Some(paginated(cursor))).await?;
                        Ok((page.resources, page.next_cursor))
                    },
                )
                .await
                .map_err(failed)?,
                paged::read_all(
                    server,
                    "resource templates",
                    |template: &rmcp::model::ResourceTemplate| &template.uri_template,
                    |cursor| async move {
                        let page = peer
                            .list_resource_templates(Some(paginated(cursor)))
                            .await?;
                        Ok((page.resource_templates, page.next_cursor))
                    },
                )
                .await
                .map_err(failed)?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let instructions = peer
            .peer_info()
            .and_then(|info| serde_json::to_value(&*info).ok())
            .and_then(|info| {
                info.get("instructions")
                    .and_then(|text| text.as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        self.publisher.publish(convert::catalog(
            tools.iter().map(convert::tool).collect(),
            prompts.iter().map(convert::prompt).collect(),
            resources.iter().map(convert::resource).collect(),
            templates.iter().map(convert::template).collect(),
            instructions,
            has("completions"),
            capabilities["resources"]["subscribe"] == true,
        ));
        Ok(())
    }

    /// Keeps the upstream connected until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let started = Instant::now();
            match self.connect().await {
                Ok(running) => {
                    let peer = running.peer().clone();
                    let version = peer
                        .peer_info()
                        .map(|info| info.protocol_version.to_string())
                        .unwrap_or_default();
                    self.legacy_verdict.store(
                        version != ProtocolVersion::V_2026_07_28.to_string(),
                        Ordering::Relaxed,
                    );
                    self.connected_once.store(true, Ordering::Relaxed);
                    tracing::info!(bridge = %self.config.name, protocol = %version, "upstream connected");
                    if let Err(error) = self.refresh_catalog(&peer).await {
                        tracing::warn!(bridge = %self.config.name, %error, "cannot list the upstream catalog");
                        // The refresher below tries again.
                        self.state.catalog_changed.notify_one();
                    }
                    *self
                        .log_level
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    self.peer.store(Some(Arc::new(peer.clone())));
                    let modern = self.is_modern();
                    self.state.watches.resubscribe(&peer, modern).await;
                    let refresher = {
                        let upstream = self.clone();
                        tokio::spawn(async move {
                            // A 2026-07-28 upstream tells list changes only on a listen stream.
                            let listen = async {
                                if modern {
                                    listen_for_changes(peer.clone(), upstream.state.clone()).await;
                                }
                                std::future::pending::<()>().await;
                            };
                            let refresh = async {
                                loop {
                                    upstream.state.catalog_changed.notified().await;
                                    if let Err(error) = upstream.refresh_catalog(&peer).await {
                                        tracing::warn!(bridge = %upstream.config.name, %error, "catalog refresh failed");
                                        // Again in a second, until a list succeeds.
                                        tokio::time::sleep(Duration::from_secs(1)).await;
                                        upstream.state.catalog_changed.notify_one();
                                    }
                                }
                            };
                            tokio::join!(listen, refresh);
                        })
                    };
                    let cancel = running.cancellation_token();
                    let alive_peer = running.peer().clone();
                    tokio::select! {
                        quit = running.waiting() => {
                            tracing::warn!(bridge = %self.config.name, reason = ?quit.ok(), "upstream connection ended; reconnecting");
                        }
                        reason = liveness::watch(alive_peer), if self.config.target.is_url() => {
                            tracing::warn!(bridge = %self.config.name, %reason, "upstream stopped answering; reconnecting");
                            cancel.cancel();
                        }
                        () = shutdown.cancelled() => {
                            cancel.cancel();
                            refresher.abort();
                            self.peer.store(None);
                            return;
                        }
                    }
                    refresher.abort();
                    self.peer.store(None);
                }
                Err(error) => {
                    tracing::warn!(bridge = %self.config.name, %error, "cannot connect to the upstream server")
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(200);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Follows a 2026-07-28 upstream's list changes on a `subscriptions/listen`
/// stream (opened again if it ends) and asks for a catalog refresh on each.
async fn listen_for_changes(peer: Peer<RoleClient>, state: Arc<BridgeState>) {
    loop {
        let filter = SubscriptionFilter::builder()
            .tools_list_changed()
            .prompts_list_changed()
            .resources_list_changed()
            .build();
        match peer.listen(filter).await {
            Ok(mut subscription) => {
                while let Ok(Some(_)) = subscription.next().await {
                    state.catalog_changed.notify_one();
                }
            }
            Err(error) => tracing::debug!(%error, "the upstream offers no subscriptions/listen"),
        }
        if peer.is_transport_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Syslog severity rank of a level name (debug = 0 … emergency = 7).
fn log_rank(level: &str) -> u8 {
    micromcp_proto::LOG_LEVELS
        .iter()
        .position(|name| *name == level)
        .and_then(|rank| u8::try_from(rank).ok())
        .unwrap_or(7)
}

/// The params asking for the page after `cursor` (the first without one).
fn paginated(cursor: Option<String>) -> rmcp::model::PaginatedRequestParams {
    rmcp::model::PaginatedRequestParams::default().with_cursor(cursor)
}
