//! Several endpoints behind one service's channel: a fixed list or every
//! address of a DNS name (re-resolved by `upkeep`, which also health-checks
//! each endpoint with `grpc.health.v1`). Each call goes to the less loaded
//! of two endpoints picked at random among those not ejected (power of two
//! choices: near least-loaded balance without a shared queue); a call whose
//! endpoint cannot be dialled — so nothing of it was sent — goes to another
//! at once, and that endpoint is ejected (`member`).
//!
//! Written here rather than with `tower::balance`: that balancer needs
//! `&mut` readiness and so a buffer task in front of it, one hand-off more
//! per call, and its endpoints cannot tell a failed dial (safe to send
//! elsewhere) from a failed call.

pub mod member;
mod upkeep;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use tonic::Status;
use tonic::body::Body;
use tower::ServiceExt;

use self::member::{Counted, Member, Verdict, Wire, verdict_of_answer, verdict_of_failure};
pub use self::upkeep::spawn_upkeep;
use super::ChannelError;
use super::http2::{grpc_timeout, within_deadline};

/// Endpoints one call tries at most before it fails.
const MAX_TRIES: usize = 3;

/// When endpoints are ejected and checked.
#[derive(Debug, Clone)]
pub struct BalanceSettings {
    pub eject_after_failures: u32,
    pub eject_for: Duration,
    pub health_check_every: Option<Duration>,
    pub dns_refresh: Duration,
}

/// Where the endpoints come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A fixed list, given at start.
    Fixed,
    /// Every address of `host`, re-resolved.
    Dns { host: String, port: u16 },
}

/// One service's endpoints and how calls are spread over them.
pub struct Pool {
    service: String,
    source: Source,
    settings: BalanceSettings,
    members: ArcSwap<Vec<Arc<Member>>>,
    /// Serialises resolutions, so a burst of calls before the first one
    /// shares it.
    resolving: tokio::sync::Mutex<()>,
    /// True while the DNS name does not resolve (warned once, not per try).
    resolve_failing: std::sync::atomic::AtomicBool,
}

/// A clonable channel over a [`Pool`].
#[derive(Clone)]
pub struct Balanced {
    pool: Arc<Pool>,
}

/// What operators see of one endpoint (`/readyz`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointState {
    pub address: String,
    pub ejected: bool,
    pub calls_in_flight: usize,
}

// === impl Pool ===

impl Pool {
    /// A pool of `members` (none yet for a DNS name: the first call or the
    /// upkeep task resolves it).
    pub fn new(
        service: &str,
        source: Source,
        settings: BalanceSettings,
        members: Vec<(String, Wire)>,
    ) -> Arc<Self> {
        Arc::new(Self {
            service: service.to_owned(),
            source,
            settings,
            members: ArcSwap::from_pointee(
                members
                    .into_iter()
                    .map(|(address, wire)| Member::new(address, wire))
                    .collect(),
            ),
            resolving: tokio::sync::Mutex::new(()),
            resolve_failing: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// How many endpoints it has now.
    pub fn endpoint_count(&self) -> usize {
        self.members.load().len()
    }

    /// The state of every endpoint.
    pub fn endpoint_states(&self) -> Vec<EndpointState> {
        let now = Instant::now();
        self.members
            .load()
            .iter()
            .map(|member| EndpointState {
                address: member.address.clone(),
                ejected: member.is_ejected(now),
                calls_in_flight: member.load(),
            })
            .collect()
    }

    /// The endpoints, resolving the DNS name first if there are none yet.
    async fn current_members(self: &Arc<Self>) -> Result<Arc<Vec<Arc<Member>>>, Status> {
        let members = self.members.load_full();
        if !members.is_empty() {
            return Ok(members);
        }
        if let Source::Dns { host, port } = &self.source {
            let _resolving = self.resolving.lock().await;
            if self.members.load().is_empty() {
                upkeep::resolve(self, host, *port).await;
            }
        }
        let members = self.members.load_full();
        if members.is_empty() {
            return Err(Status::unavailable(format!(
                "service {:?} has no endpoints (its DNS name resolves to no address)",
                self.service
            )));
        }
        Ok(members)
    }

    /// Sends one call to a chosen endpoint, moving on to another while the
    /// chosen one cannot be dialled.
    async fn call(
        self: Arc<Self>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Status> {
        let members = self.current_members().await?;
        let mut tried = vec![false; members.len()];
        let mut last_failure = None;
        for _ in 0..MAX_TRIES.min(members.len()) {
            let Some(index) = pick(&members, &tried, Instant::now()) else {
                break;
            };
            tried[index] = true;
            let member = &members[index];
            let place = member.enter();
            let answer = match &member.wire {
                Wire::Http2(channel) => match channel.ready().await {
                    Ok(ready) => channel.send(ready, request).await,
                    Err(status) => {
                        member.eject(
                            self.settings.eject_for,
                            &self.service,
                            &format!("cannot dial: {}", status.message()),
                        );
                        last_failure = Some(status);
                        continue;
                    }
                },
                Wire::Other(channel) => channel
                    .clone()
                    .oneshot(request)
                    .await
                    .map_err(|error| Status::from_error(error.0)),
            };
            let verdict = match &answer {
                Ok(response) => verdict_of_answer(response),
                Err(status) => verdict_of_failure(status),
            };
            member.record(
                verdict,
                self.settings.eject_after_failures,
                self.settings.eject_for,
                &self.service,
            );
            if verdict == Verdict::Failed {
                tracing::debug!(service = %self.service, endpoint = %member.address, "call failed at endpoint");
            }
            return answer.map(|response| response.map(|body| Counted::wrap(body, place)));
        }
        Err(last_failure.unwrap_or_else(|| {
            Status::unavailable(format!("service {:?}: no endpoint to call", self.service))
        }))
    }
}

/// Power of two choices among the endpoints not yet tried: of two picked
/// at random from those not ejected, the one with fewer calls in flight.
/// When every untried endpoint is ejected, they are all candidates again
/// (better a call that may work than a refusal).
fn pick(members: &[Arc<Member>], tried: &[bool], now: Instant) -> Option<usize> {
    let untried = || (0..members.len()).filter(|&index| !tried[index]);
    let healthy = untried()
        .filter(|&index| !members[index].is_ejected(now))
        .count();
    let eligible = |index: &usize| healthy == 0 || !members[*index].is_ejected(now);
    let count = untried().filter(eligible).count();
    if count == 0 {
        return None;
    }
    let nth = |n: usize| untried().filter(eligible).nth(n);
    let first = nth(rand::random_range(0..count))?;
    if count == 1 {
        return Some(first);
    }
    let second = nth(rand::random_range(0..count))?;
    Some(if members[second].load() < members[first].load() {
        second
    } else {
        first
    })
}

// === impl Balanced ===

impl Balanced {
    pub fn new(pool: Arc<Pool>) -> Self {
        Self { pool }
    }
}

impl tower::Service<http::Request<Body>> for Balanced {
    type Response = http::Response<Body>;
    type Error = ChannelError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    /// Always ready: the endpoint is chosen (and waited on) per call.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let pool = self.pool.clone();
        Box::pin(async move {
            within_deadline(grpc_timeout(request.headers()), pool.call(request))
                .await
                .map_err(|status| ChannelError(status.into()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::channel::http2::{Http2Channel, Target};

    fn members(count: usize) -> Vec<Arc<Member>> {
        (0..count)
            .map(|index| {
                let address = format!("127.0.0.1:{}", 9 + index);
                let channel = Http2Channel::new(
                    Target::Tcp(address.clone()),
                    http::uri::Authority::from_static("localhost"),
                );
                Member::new(address, Wire::Http2(channel))
            })
            .collect()
    }

    #[test]
    fn picks_the_less_loaded_and_never_an_ejected_or_tried_one() {
        let members = members(3);
        let _busy: Vec<_> = (0..5).map(|_| members[0].enter()).collect();
        members[1].eject(Duration::from_secs(10), "svc", "test");
        let now = Instant::now();
        let mut counts = [0usize; 3];
        for _ in 0..300 {
            counts[pick(&members, &[false; 3], now).expect("a pick")] += 1;
        }
        assert_eq!(counts[1], 0, "ejected: {counts:?}");
        assert!(
            counts[2] > counts[0] * 2,
            "less loaded wins most draws: {counts:?}"
        );
        assert_eq!(pick(&members, &[false, false, true], now), Some(0));
        assert_eq!(pick(&members, &[true, true, true], now), None);
    }

    #[test]
    fn when_all_untried_are_ejected_they_are_tried_anyway() {
        let members = members(2);
        members[0].eject(Duration::from_secs(10), "svc", "test");
        members[1].eject(Duration::from_secs(10), "svc", "test");
        assert!(pick(&members, &[false, false], Instant::now()).is_some());
        assert_eq!(pick(&members, &[true, false], Instant::now()), Some(1));
    }
}
