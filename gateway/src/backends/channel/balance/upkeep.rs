//! Keeping a pool's endpoints current: a `dns:` name re-resolved every
//! `backends.dns_refresh_secs` (endpoints that stay keep their connections
//! and state; new ones join, gone ones leave once their calls end), and
//! every endpoint asked `grpc.health.v1.Health/Check` every
//! `backends.health_check_secs` — not serving or no answer ejects it,
//! serving brings an ejected one back. All endpoints are checked at once,
//! each within its own timeout, so a dead one never delays the others.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use micromcp_proto::mcp_service_server::SERVICE_NAME;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::util::BoxCloneSyncService;

use super::member::{Member, Wire};
use super::{Pool, Source};
use crate::backends::channel::http2::{Http2Channel, Target};
use crate::config::MAX_ENDPOINTS;

/// Longest a health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the pool's resolution and health-check tasks (until `shutdown`).
pub fn spawn_upkeep(pool: &Arc<Pool>, shutdown: &CancellationToken) {
    if let Source::Dns { host, port } = &pool.source {
        let (pool, shutdown, host, port) = (pool.clone(), shutdown.clone(), host.clone(), *port);
        tokio::spawn(async move {
            let every = pool.settings.dns_refresh;
            shutdown
                .run_until_cancelled(async {
                    loop {
                        {
                            let _resolving = pool.resolving.lock().await;
                            resolve(&pool, &host, port).await;
                        }
                        tokio::time::sleep(every).await;
                    }
                })
                .await;
        });
    }
    if let Some(every) = pool.settings.health_check_every {
        let (pool, shutdown) = (pool.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown
                .run_until_cancelled(async {
                    loop {
                        tokio::time::sleep(every).await;
                        check_all(&pool, every.min(CHECK_TIMEOUT)).await;
                    }
                })
                .await;
        });
    }
}

/// Notes a failed resolution: warned when it starts failing, then quiet
/// (calls and the upkeep retry it often) until it resolves again.
fn resolve_failed(pool: &Pool, host: &str, error: &str) {
    if pool.resolve_failing.swap(true, Ordering::Relaxed) {
        tracing::debug!(service = %pool.service, host, error, "the service's DNS name still does not resolve");
    } else {
        tracing::warn!(service = %pool.service, host, error, "cannot resolve the service's DNS name; keeping its endpoints (warned once until it resolves)");
    }
}

/// Resolves `host` and makes its addresses the pool's endpoints; on a
/// failed or empty answer the endpoints stay as they were.
pub(super) async fn resolve(pool: &Pool, host: &str, port: u16) {
    let addresses: BTreeSet<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(found) => found.take(MAX_ENDPOINTS).collect(),
        Err(error) => {
            resolve_failed(pool, host, &error.to_string());
            return;
        }
    };
    if addresses.is_empty() {
        resolve_failed(pool, host, "no addresses");
        return;
    }
    if pool.resolve_failing.swap(false, Ordering::Relaxed) {
        tracing::info!(service = %pool.service, host, "the service's DNS name resolves again");
    }
    let current = pool.members.load_full();
    let wanted: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    let unchanged = current.len() == wanted.len()
        && current
            .iter()
            .zip(&wanted)
            .all(|(member, address)| &member.address == address);
    if unchanged {
        return;
    }
    let authority: http::uri::Authority = match format!("{host}:{port}").parse() {
        Ok(authority) => authority,
        Err(_) => http::uri::Authority::from_static("localhost"),
    };
    let members: Vec<Arc<Member>> = wanted
        .iter()
        .map(|address| {
            current
                .iter()
                .find(|member| &member.address == address)
                .cloned()
                .unwrap_or_else(|| {
                    let channel =
                        Http2Channel::new(Target::Tcp(address.clone()), authority.clone());
                    Member::new(address.clone(), Wire::Http2(channel))
                })
        })
        .collect();
    tracing::info!(service = %pool.service, host, endpoints = ?wanted, "service endpoints resolved");
    pool.members.store(Arc::new(members));
}

/// Checks every endpoint at once.
async fn check_all(pool: &Pool, timeout: Duration) {
    let members = pool.members.load_full();
    futures::future::join_all(members.iter().map(|member| async move {
        match tokio::time::timeout(timeout, check(member)).await {
            Ok(Ok(ServingStatus::Serving)) => member.readmit(&pool.service),
            Ok(Ok(status)) => member.eject(
                pool.settings.eject_for,
                &pool.service,
                &format!("health check: {}", status.as_str_name()),
            ),
            Ok(Err(status)) => member.eject(
                pool.settings.eject_for,
                &pool.service,
                &format!("health check failed: {}", status.message()),
            ),
            Err(_) => member.eject(
                pool.settings.eject_for,
                &pool.service,
                &format!("health check unanswered for {timeout:?}"),
            ),
        }
    }))
    .await;
}

/// Asks one endpoint whether the MCP service it runs is serving.
async fn check(member: &Member) -> Result<ServingStatus, tonic::Status> {
    let channel = match &member.wire {
        Wire::Http2(channel) => BoxCloneSyncService::new(channel.clone()),
        Wire::Other(channel) => channel.clone(),
    };
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: SERVICE_NAME.to_owned(),
        })
        .await?;
    Ok(ServingStatus::try_from(answer.into_inner().status).unwrap_or(ServingStatus::Unknown))
}
