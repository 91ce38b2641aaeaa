//! Starting the gateway of `up`, `gateway` and `stdio`: build it, follow
//! the services' catalogs and wait for them (a collision is decided as at
//! run time — the service known first wins, the other's item is not listed
//! and named in a warning — and stops the start only between two
//! `[[services]]` entries written in the config file),
//! then the background work every running gateway needs — principals'
//! catalog views rebuilt off the request path after catalog changes, the
//! issuers' signing keys refreshed, an audit record for each held or
//! approved tool definition, idle session state swept.

use std::sync::Arc;
use std::time::Duration;

use micromcp_gateway::Gateway;
use micromcp_gateway::config::GatewayConfig;
use tokio_util::sync::CancellationToken;

/// Builds the gateway, follows the services' catalogs and waits for them
/// (`written`: the names of the `[[services]]` entries of the config file
/// itself — not the built-in services, bridged servers or registrations).
pub async fn start_gateway(
    config: GatewayConfig,
    session_key: &[u8; 32],
    written: &[String],
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<Gateway>> {
    let key = session_key;
    // Approvals used are kept beside the session key when it is kept on
    // disk: a restart with the same key would open them again.
    let gateway = if config.session_key_file.exists() {
        let journal = micromcp_gateway::journal_path(&config.session_key_file);
        let store = micromcp_gateway::FileSingleUse::open(
            &journal,
            micromcp_gateway::MAX_USED_ROUNDS,
            micromcp_gateway::MAX_USED_ROUNDS_PER_PRINCIPAL,
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        Gateway::with_single_use(config, key, Box::new(store))
    } else {
        Gateway::new(config, key)
    }
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    gateway.backends.spawn_watchers(shutdown);
    if let Some(cluster) = &gateway.cluster_opt {
        // The first heartbeat connects; a store away now only means the
        // fallbacks until it is back.
        if let Err(error) = cluster.heartbeat().await {
            tracing::warn!(%error, "cluster store not reachable at start; shared decisions fall back until it is");
        }
        cluster.spawn_heartbeats(shutdown);
        spawn_shared_approvals(&gateway, shutdown);
    }
    let missing = gateway
        .backends
        .wait_for_catalogs(Duration::from_secs(10))
        .await;
    if !missing.is_empty() {
        tracing::warn!(services = ?missing, "services not reachable yet; their namespaces report unavailable until they are");
    }
    // The service known first wins, as at run time (the config file's and
    // the built-in services, then bridged servers, then registrations in
    // order): the loser's item is not listed and named in a warning. What
    // a bridged server offers changes with its package and fs's list with
    // the files under the roots, and registrations are kept state — none of
    // them may stop a start. Only two `[[services]]` entries the operator
    // wrote (or one offering a name the gateway reserves) are the file's
    // own mistake, shown by `micromcp check` too.
    let catalog = gateway.backends.catalog();
    let is_written = |name: &str| written.iter().any(|entry| entry == name);
    let mut fatal = Vec::new();
    for ((collision, loser), winner) in catalog
        .collisions
        .iter()
        .zip(&catalog.collision_losers)
        .zip(&catalog.collision_winners)
    {
        if is_written(loser) && (winner.is_empty() || is_written(winner)) {
            fatal.push(collision.clone());
        } else {
            tracing::warn!(
                %collision,
                service = %loser,
                "catalog collision: the item of the service known later is not listed nor routed (give it its own namespace)"
            );
        }
    }
    if !fatal.is_empty() {
        anyhow::bail!(
            "catalog collisions (rename a tool or give a service its own namespace):\n  - {}",
            fatal.join("\n  - ")
        );
    }
    spawn_view_warmer(&gateway, shutdown);
    spawn_tool_indexer(&gateway, shutdown);
    spawn_key_refresher(&gateway, shutdown);
    spawn_pin_auditor(&gateway, shutdown);
    spawn_session_sweeper(&gateway, shutdown);
    Ok(gateway)
}

/// The names of the `[[services]]` entries written in the config file
/// (read before the built-in services and bridges are laid around them).
pub fn written_services(raw: &micromcp_gateway::config::RawConfig) -> Vec<String> {
    raw.services
        .iter()
        .map(|service| service.name.clone())
        .collect()
}

/// With `[cluster]`: every second, the tool definitions approved through
/// other replicas are approved here too (and listed again).
fn spawn_shared_approvals(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
            gateway.apply_shared_tool_approvals().await;
        }
    });
}

/// Principals' catalog views are rebuilt off the request path whenever the
/// catalog changes (bursts of changes are taken together).
fn spawn_view_warmer(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    let (warmer, shutdown) = (gateway.clone(), shutdown.clone());
    let mut changes = gateway.backends.subscribe();
    tokio::spawn(async move {
        loop {
            while changes.try_recv().is_ok() {}
            let gateway = warmer.clone();
            let _ = tokio::task::spawn_blocking(move || gateway.warm_policy_views()).await;
            tokio::select! {
                changed = changes.recv() => {
                    if matches!(changed, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// The tools' search index (`find_tools`) is rebuilt off the request path
/// whenever the tool list changes, and swapped in whole.
fn spawn_tool_indexer(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    if gateway.tool_search.is_none() {
        return;
    }
    let (indexer, shutdown) = (gateway.clone(), shutdown.clone());
    let mut changes = gateway.backends.subscribe();
    tokio::spawn(async move {
        loop {
            while changes.try_recv().is_ok() {}
            let gateway = indexer.clone();
            let _ = tokio::task::spawn_blocking(move || gateway.index_tools()).await;
            tokio::select! {
                changed = changes.recv() => {
                    if matches!(changed, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    });
}

/// The issuers' signing keys: fetched now and every five minutes (a token
/// naming a key not known yet fetches them at once, at most every 10 s);
/// while an issuer's last fetch failed, again as soon as its backoff
/// allows (1 s, doubling up to 10 s) until its keys come.
fn spawn_key_refresher(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    const EVERY: Duration = Duration::from_secs(300);
    let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
            wait = EVERY;
            if let Some(verifier) = gateway.auth().jwt().cloned() {
                verifier.refresh_all().await;
                if let Some(retry_in) = verifier.retry_in() {
                    wait = retry_in.max(Duration::from_millis(100));
                }
            }
        }
    });
}

/// One audit record for each tool definition held, accepted or approved.
fn spawn_pin_auditor(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    use micromcp_gateway::backends::pins::PinEvent;
    use tokio::sync::broadcast::error::RecvError;

    let mut events = gateway.backends.pins().subscribe();
    let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                },
                () = shutdown.cancelled() => return,
            };
            let (method, service, tool) = match &event {
                PinEvent::Held { service, tool } => ("tools/definition_changed", service, tool),
                PinEvent::Accepted { service, tool } => {
                    ("tools/definition_accepted", service, tool)
                }
                PinEvent::Approved { service, tool } => {
                    ("tools/definition_approved", service, tool)
                }
            };
            let mut entry = gateway.audit.begin("catalog");
            entry.request(method, 0);
            entry.target(Some(&format!("{service}/{tool}")), None);
            if matches!(event, PinEvent::Held { .. }) {
                entry.refused("definition changed; held until an operator approves it");
            }
            entry.finish();
        }
    });
}

/// Session state idle for an hour is dropped.
fn spawn_session_sweeper(gateway: &Arc<Gateway>, shutdown: &CancellationToken) {
    let (gateway, shutdown) = (gateway.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = ticks.tick() => gateway.runtimes.sweep(Duration::from_secs(3600)),
                () = shutdown.cancelled() => return,
            }
        }
    });
}
