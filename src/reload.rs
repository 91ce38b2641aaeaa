//! The running gateway's changeable config ([`live`]: the registrations
//! kept and those skipped at start) and what reloads it besides
//! `POST /api/reload`:
//! SIGHUP, and a change of the config file's contents (checked every
//! [`WATCH_EVERY`]; contents, not times, so that a Kubernetes ConfigMap's
//! symlink swap counts and a touched file does not). Each reload is
//! validated whole; a refused one is logged with its errors and the running
//! config stays.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use micromcp_gateway::Gateway;
use micromcp_gateway::config::{Registration, RegistrationsFile};
use micromcp_gateway::live_config::{ChangeError, LiveConfig, Skipped};
use tokio_util::sync::CancellationToken;

use crate::config_source::FileSource;

/// How often the config file's contents are compared.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The running gateway's changeable config, reloaded on SIGHUP and when
/// its file changes.
pub fn live(
    gateway: &Arc<Gateway>,
    source: FileSource,
    file_opt: Option<PathBuf>,
    (registrations, skipped): (Vec<Registration>, Vec<Skipped>),
    shutdown: &CancellationToken,
) -> Arc<LiveConfig> {
    let watched_opt = source.path_opt.clone();
    let live = LiveConfig::new(
        gateway.clone(),
        Box::new(source),
        file_opt.map(RegistrationsFile::new),
        registrations,
        skipped,
    );
    spawn_triggers(&live, watched_opt, shutdown);
    if gateway.cluster_opt.is_some() {
        spawn_shared_follower(&live, shutdown);
    }
    live
}

/// With `[cluster]`: every second, the registrations made through any
/// replica are applied here too.
fn spawn_shared_follower(live: &Arc<LiveConfig>, shutdown: &CancellationToken) {
    let (live, shutdown) = (live.clone(), shutdown.clone());
    tokio::spawn(async move {
        // The last failure logged: a list that keeps failing is logged once.
        let mut last_failure_opt: Option<String> = None;
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let follower = live.clone();
            match tokio::task::spawn_blocking(move || follower.follow_shared()).await {
                Ok(Ok(applied)) => {
                    if applied {
                        tracing::info!("registrations made through another replica applied");
                    }
                    last_failure_opt = None;
                }
                Ok(Err(ChangeError::Shared(error))) => {
                    tracing::debug!(%error, "shared registrations not read")
                }
                Ok(Err(error)) => {
                    let text = error.to_string();
                    if last_failure_opt.as_deref() != Some(text.as_str()) {
                        tracing::warn!(error = %text, "shared registrations not applied here (tried again every second)");
                        last_failure_opt = Some(text);
                    }
                }
                Err(error) => tracing::warn!(%error, "shared registrations not read"),
            }
        }
    });
}

/// Reloads `live` on SIGHUP and when `watched_opt` changes, until `shutdown`.
pub fn spawn_triggers(
    live: &Arc<LiveConfig>,
    watched_opt: Option<PathBuf>,
    shutdown: &CancellationToken,
) {
    let (hangup_live, hangup_shutdown) = (live.clone(), shutdown.clone());
    tokio::spawn(async move {
        let signal = tokio::signal::unix::SignalKind::hangup();
        let mut hangups = match tokio::signal::unix::signal(signal) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot follow SIGHUP; reload through the admin API");
                return;
            }
        };
        loop {
            tokio::select! {
                received = hangups.recv() => match received {
                    Some(()) => reload(&hangup_live, "SIGHUP").await,
                    None => return,
                },
                () = hangup_shutdown.cancelled() => return,
            }
        }
    });
    let Some(path) = watched_opt else {
        return;
    };
    let (live, shutdown) = (live.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut last = tokio::fs::read(&path).await.ok();
        let mut ticks = tokio::time::interval(WATCH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            // A file briefly missing (being replaced) is not a change.
            let Ok(now) = tokio::fs::read(&path).await else {
                continue;
            };
            if last.as_ref() != Some(&now) {
                last = Some(now);
                reload(&live, "config file changed").await;
            }
        }
    });
}

async fn reload(live: &Arc<LiveConfig>, trigger: &'static str) {
    let live = live.clone();
    match tokio::task::spawn_blocking(move || live.reload()).await {
        Ok(Ok(changed)) => {
            let services = &changed.services;
            tracing::info!(
                trigger,
                added = ?services.added,
                replaced = ?services.replaced,
                removed = ?services.removed,
                "config reloaded"
            );
            if !changed.restart_required.is_empty() {
                tracing::warn!(
                    keys = ?changed.restart_required,
                    "these changed keys take effect only after a restart"
                );
            }
        }
        Ok(Err(error)) => {
            tracing::error!(trigger, %error, "config reload refused; the running config stays");
        }
        Err(error) => tracing::error!(trigger, %error, "config reload failed"),
    }
}
