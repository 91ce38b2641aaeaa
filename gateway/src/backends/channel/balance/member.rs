//! One endpoint of a balanced service: its channel, the calls it has in
//! flight (the load the balancer compares), and whether it is ejected —
//! after a failed dial, a run of failed calls or a failed health check,
//! for a time that grows with each ejection in a row, until a health check
//! finds it serving or the time runs out and calls try it again.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tonic::{Code, Status};

use super::super::BackendChannel;
use super::super::http2::Http2Channel;

/// Longest ejection, as a multiple of the configured one.
const MAX_EJECTION_FACTOR: u32 = 6;

/// How an endpoint is reached.
pub enum Wire {
    /// HTTP/2 on TCP or a Unix socket: a dial can fail before anything of a
    /// call is sent, so the call may go to another endpoint instead.
    Http2(Http2Channel),
    /// Any other channel (QUIC): its failures count, nothing is re-sent.
    Other(BackendChannel),
}

/// One endpoint and what the balancer knows of it.
pub struct Member {
    /// What operators see (`host:port`, `unix:/path`, `quic://…`).
    pub address: String,
    pub wire: Wire,
    in_flight: AtomicUsize,
    /// Failed calls in a row since the last success.
    failures: AtomicU32,
    /// Ejections in a row since the last success.
    ejections: AtomicU32,
    /// Milliseconds after `epoch` until which it gets no calls; 0: none.
    ejected_until_ms: AtomicU64,
    epoch: Instant,
}

/// Holds one call's place in its endpoint's load until dropped (when the
/// answer's body is done).
pub struct InFlight(Arc<Member>);

/// An answer body that keeps its call counted as in flight until it ends.
pub struct Counted {
    body: Body,
    _place: InFlight,
}

/// How an answer (or its failure) bears on its endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Failed,
    /// Says nothing about the endpoint (a deadline, a refusal of the request).
    Neutral,
}

// === impl Member ===

impl Member {
    pub fn new(address: String, wire: Wire) -> Arc<Self> {
        Arc::new(Self {
            address,
            wire,
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Calls in flight now.
    pub fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts one more call in flight until the returned place is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// True while ejected.
    pub fn is_ejected(&self, now: Instant) -> bool {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        until != 0 && self.millis(now) < until
    }

    /// Takes it out of rotation for the configured time × ejections in a row.
    pub fn eject(&self, base: Duration, service: &str, reason: &str) {
        let now = Instant::now();
        let was_ejected = self.is_ejected(now);
        let in_a_row = self.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let period = base * in_a_row.min(MAX_EJECTION_FACTOR);
        self.failures.store(0, Ordering::Relaxed);
        self.ejected_until_ms
            .store(self.millis(now + period).max(1), Ordering::Relaxed);
        if !was_ejected {
            tracing::warn!(
                service,
                endpoint = %self.address,
                %reason,
                eject_secs = period.as_secs_f64(),
                "endpoint ejected"
            );
        }
    }

    /// Brings it back at once (a health check found it serving).
    pub fn readmit(&self, service: &str) {
        if self.ejected_until_ms.swap(0, Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
            tracing::info!(service, endpoint = %self.address, "endpoint back in rotation");
        }
    }

    /// Counts a call's outcome: a run of `eject_after` failures ejects it;
    /// a success ends any run. Writes only when something changes, so
    /// healthy traffic does not bounce the counters between cores.
    pub fn record(&self, verdict: Verdict, eject_after: u32, eject_for: Duration, service: &str) {
        match verdict {
            Verdict::Healthy => {
                if self.failures.load(Ordering::Relaxed) != 0 {
                    self.failures.store(0, Ordering::Relaxed);
                }
                if self.ejections.load(Ordering::Relaxed) != 0 {
                    self.ejections.store(0, Ordering::Relaxed);
                }
            }
            Verdict::Failed => {
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= eject_after {
                    self.eject(
                        eject_for,
                        service,
                        &format!("{failures} failed calls in a row"),
                    );
                }
            }
            Verdict::Neutral => {}
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

/// What an answer's head says of its endpoint: a trailers-only
/// `UNAVAILABLE` is a failure, anything else a working endpoint.
pub fn verdict_of_answer(answer: &http::Response<Body>) -> Verdict {
    match answer.headers().get("grpc-status") {
        Some(code) if code.as_bytes() == b"14" => Verdict::Failed,
        _ => Verdict::Healthy,
    }
}

/// What a failed call says of its endpoint.
pub fn verdict_of_failure(status: &Status) -> Verdict {
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Internal => Verdict::Failed,
        _ => Verdict::Neutral,
    }
}

// === impl InFlight ===

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl Counted ===

impl Counted {
    /// `body`, counted in flight until it ends or is dropped.
    pub fn wrap(body: Body, place: InFlight) -> Body {
        Body::new(Self {
            body,
            _place: place,
        })
    }
}

impl HttpBody for Counted {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> Arc<Member> {
        let channel = Http2Channel::new(
            super::super::super::http2::Target::Tcp("127.0.0.1:9".into()),
            http::uri::Authority::from_static("localhost"),
        );
        Member::new("127.0.0.1:9".into(), Wire::Http2(channel))
    }

    #[test]
    fn a_run_of_failures_ejects_and_a_success_ends_the_run() {
        let member = member();
        let base = Duration::from_secs(10);
        member.record(Verdict::Failed, 3, base, "svc");
        member.record(Verdict::Failed, 3, base, "svc");
        member.record(Verdict::Healthy, 3, base, "svc");
        member.record(Verdict::Failed, 3, base, "svc");
        member.record(Verdict::Neutral, 3, base, "svc");
        member.record(Verdict::Failed, 3, base, "svc");
        assert!(!member.is_ejected(Instant::now()), "two in a row");
        member.record(Verdict::Failed, 3, base, "svc");
        assert!(member.is_ejected(Instant::now()));
        assert!(!member.is_ejected(Instant::now() + base + Duration::from_millis(5)));
    }

    #[test]
    fn ejections_in_a_row_grow_and_a_readmission_ends_one() {
        let member = member();
        let base = Duration::from_secs(10);
        member.eject(base, "svc", "dial failed");
        member.eject(base, "svc", "dial failed");
        let now = Instant::now();
        assert!(
            member.is_ejected(now + base + Duration::from_secs(5)),
            "second is 2×"
        );
        assert!(!member.is_ejected(now + base * 2 + Duration::from_secs(1)));
        member.readmit("svc");
        assert!(!member.is_ejected(Instant::now()));
    }

    #[test]
    fn load_counts_places_until_dropped() {
        let member = member();
        let first = member.enter();
        let second = member.enter();
        assert_eq!(member.load(), 2);
        drop(first);
        assert_eq!(member.load(), 1);
        drop(second);
        assert_eq!(member.load(), 0);
    }
}
