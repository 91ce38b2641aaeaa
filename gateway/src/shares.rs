//! Each principal's share of the HTTP front, decided from a request's
//! headers — after authentication, before its body is read
//! (`front::http`). Two things are kept per principal:
//!
//! - its requests being served now: past its share the next ones wait in
//!   the principal's own line (first come, first served) until one of its
//!   requests is answered, so a principal's flood queues behind itself,
//!   costing nothing while it waits, instead of in front of everyone. The
//!   share is `limits.fair_share_in_flight_per_principal` (default 8)
//!   while another principal has come within [`ACTIVE_WITHIN`] — a
//!   principal alone is not held — and never more than
//!   `limits.max_requests_in_flight_per_principal` (off by default);
//! - the rate-limit refusal it was last told to wait out (HTTP 429 with
//!   `Retry-After`, `error.data.retryAfterMs`): a call of that principal
//!   (a rate-limited method) arriving before then is refused at once —
//!   before its body is read when it names its method in `Mcp-Method`
//!   (2026-07-28), right after its envelope is parsed otherwise — and the
//!   refusal is held — [`HOLD_STEP`] longer for
//!   every early request in a row, at least until the retry time, at most
//!   [`MAX_HOLD`] — and past [`CLOSE_AFTER`] early requests in a row each
//!   such refusal also closes its connection. A principal that stays away
//!   [`FORGIVE_AFTER`] starts the count again.
//!
//! One short lock per request and per answer; past [`SWEEP_ABOVE`]
//! principals, those with nothing in flight and nothing to wait out are
//! dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Longest an early request's refusal is held.
pub const MAX_HOLD: Duration = Duration::from_secs(1);
/// How much longer each early request in a row is held.
pub const HOLD_STEP: Duration = Duration::from_millis(10);
/// Early requests in a row after which each refusal closes its connection.
pub const CLOSE_AFTER: u32 = 16;
/// A principal without an early request for this long starts again.
pub const FORGIVE_AFTER: Duration = Duration::from_secs(1);
/// Principals kept before those with nothing left to track are dropped.
pub const SWEEP_ABOVE: usize = 4096;
/// A principal that sent a request this recently holds the others to
/// their fair share.
pub const ACTIVE_WITHIN: Duration = Duration::from_secs(1);

/// The front's shares, one per principal with something to track.
pub struct PrincipalShares {
    max_in_flight_opt: Option<usize>,
    fair_share_opt: Option<usize>,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    principals: HashMap<Arc<str>, Share>,
    /// The two principals that came last (distinct), and when: whether
    /// another principal is active is known from these alone.
    recent: [Option<(Arc<str>, Instant)>; 2],
}

#[derive(Default)]
struct Share {
    in_flight: usize,
    /// Requests waiting for a place, oldest first.
    line: VecDeque<oneshot::Sender<()>>,
    refusal_opt: Option<Refusal>,
}

/// The last rate-limit refusal of a principal.
struct Refusal {
    retry_at: Instant,
    message: Arc<str>,
    /// Requests that came before their retry time, in a row.
    early: u32,
    last_early_opt: Option<Instant>,
}

/// A request refused from its headers: what it is told, how long its
/// answer is held first, and whether its connection is closed after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyRefusal {
    /// The refusal the principal was told to wait out.
    pub message: Arc<str>,
    /// From now until the principal may call again.
    pub retry_after: Duration,
    pub hold: Duration,
    pub close: bool,
}

/// One place among a principal's requests served now, given back (to the
/// next in its line) when dropped.
pub struct SharePermit {
    /// `None` when places are not counted.
    place_opt: Option<(Arc<PrincipalShares>, Arc<str>)>,
}

/// A request waiting in its principal's line; a place handed to it after
/// it was dropped goes to the next.
struct InLine {
    shares: Arc<PrincipalShares>,
    principal: Arc<str>,
    receiver: oneshot::Receiver<()>,
    served: bool,
}

// === impl PrincipalShares ===

impl PrincipalShares {
    /// Shares with at most `max_in_flight_opt` requests of one principal
    /// served at once, and `fair_share_opt` while another principal is
    /// active (`None`: no such bound; neither: no line).
    pub fn new(max_in_flight_opt: Option<usize>, fair_share_opt: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            max_in_flight_opt,
            fair_share_opt,
            table: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many requests of a principal may be served at once now.
    fn cap(&self, contended: bool) -> Option<usize> {
        let fair_opt = self.fair_share_opt.filter(|_| contended);
        match (self.max_in_flight_opt, fair_opt) {
            (Some(max), Some(fair)) => Some(max.min(fair)),
            (max_opt, fair_opt) => max_opt.or(fair_opt),
        }
    }

    /// A place for one request of `principal`: at once, after waiting in
    /// its line, or — for a request of a rate-limited method (`limited`)
    /// — a refusal when it came before its retry time.
    pub async fn enter(
        self: &Arc<Self>,
        principal: &str,
        limited: bool,
    ) -> Result<SharePermit, EarlyRefusal> {
        let (key, receiver) = {
            let now = Instant::now();
            let mut table = self.lock();
            if self.max_in_flight_opt.is_none() && self.fair_share_opt.is_none() {
                // No line: only a refusal to wait out is looked up.
                if limited
                    && let Some(share) = table.principals.get_mut(principal)
                    && let Some(early) = share.early(now)
                {
                    return Err(early);
                }
                return Ok(SharePermit { place_opt: None });
            }
            let key = match table.principals.get_key_value(principal) {
                Some((key, _)) => key.clone(),
                None => {
                    if table.principals.len() > SWEEP_ABOVE {
                        table.principals.retain(|_, share| !share.is_idle(now));
                    }
                    let key: Arc<str> = Arc::from(principal);
                    table.principals.insert(key.clone(), Share::default());
                    key
                }
            };
            let contended = table.came(&key, now);
            let cap_opt = self.cap(contended);
            let Some(share) = table.principals.get_mut(principal) else {
                return Ok(SharePermit { place_opt: None });
            };
            if limited
                && share.refusal_opt.is_some()
                && let Some(early) = share.early(now)
            {
                return Err(early);
            }
            if cap_opt.is_none_or(|cap| share.in_flight < cap) {
                share.in_flight += 1;
                return Ok(self.permit(key));
            }
            let (sender, receiver) = oneshot::channel();
            share.line.push_back(sender);
            (key, receiver)
        };
        let mut waiting = InLine {
            shares: self.clone(),
            principal: key,
            receiver,
            served: false,
        };
        // The sender lives in the map until it is used: an error cannot
        // happen, and would let the request through.
        let _ = (&mut waiting.receiver).await;
        waiting.served = true;
        Ok(self.permit(waiting.principal.clone()))
    }

    fn permit(self: &Arc<Self>, principal: Arc<str>) -> SharePermit {
        SharePermit {
            place_opt: Some((self.clone(), principal)),
        }
    }

    /// The refusal of a request of a rate-limited method whose method was
    /// known only once its envelope was parsed, when it came early.
    pub fn early(&self, principal: &str) -> Option<EarlyRefusal> {
        let mut table = self.lock();
        table.principals.get_mut(principal)?.early(Instant::now())
    }

    /// Notes that `principal` was refused by a rate limit and told to
    /// retry after `retry_after`, saying `message`.
    pub fn refused(&self, principal: &str, retry_after: Duration, message: &str) {
        let now = Instant::now();
        let mut table = self.lock();
        let principals = &mut table.principals;
        if principals.len() > SWEEP_ABOVE {
            principals.retain(|_, share| !share.is_idle(now));
        }
        let share = match principals.get_mut(principal) {
            Some(share) => share,
            None => principals.entry(Arc::from(principal)).or_default(),
        };
        let (early, last_early_opt) = share.refusal_opt.as_ref().map_or((0, None), |previous| {
            (previous.early, previous.last_early_opt)
        });
        share.refusal_opt = Some(Refusal {
            retry_at: now + retry_after,
            message: Arc::from(message),
            early,
            last_early_opt,
        });
    }

    /// Gives a place back: to the next requests in the line, as many as
    /// the principal's share now allows (all of them once it is alone).
    fn release(&self, principal: &str) {
        let mut table = self.lock();
        let contended = table.other_active(principal, Instant::now());
        let cap = self.cap(contended).unwrap_or(usize::MAX);
        let Some(share) = table.principals.get_mut(principal) else {
            return;
        };
        share.in_flight = share.in_flight.saturating_sub(1);
        while share.in_flight < cap
            && let Some(next) = share.line.pop_front()
        {
            if next.send(()).is_ok() {
                share.in_flight += 1;
            }
        }
    }

    /// Principals tracked now (for tests).
    pub fn tracked(&self) -> usize {
        self.lock().principals.len()
    }
}

// === impl Table ===

impl Table {
    /// Notes that `principal` came at `now`; true when another principal
    /// came within [`ACTIVE_WITHIN`].
    fn came(&mut self, principal: &Arc<str>, now: Instant) -> bool {
        let contended = self.other_active(principal, now);
        match &mut self.recent {
            [Some((last, at)), _] if last == principal => *at = now,
            [first, second] => {
                *second = first.take();
                *first = Some((principal.clone(), now));
            }
        }
        contended
    }

    /// True when a principal other than `principal` came within
    /// [`ACTIVE_WITHIN`] of `now` (the latest other one is among the two
    /// last distinct principals).
    fn other_active(&self, principal: &str, now: Instant) -> bool {
        self.recent.iter().flatten().any(|(other, at)| {
            &**other != principal && now.saturating_duration_since(*at) <= ACTIVE_WITHIN
        })
    }
}

// === impl Share ===

impl Share {
    /// The refusal of a request arriving at `now`, when it is early.
    fn early(&mut self, now: Instant) -> Option<EarlyRefusal> {
        let refusal = self.refusal_opt.as_mut()?;
        let forgiven = refusal
            .last_early_opt
            .is_none_or(|last| now.duration_since(last) > FORGIVE_AFTER);
        if now >= refusal.retry_at {
            if forgiven {
                self.refusal_opt = None;
            }
            return None;
        }
        if forgiven {
            refusal.early = 0;
        }
        refusal.early = refusal.early.saturating_add(1);
        refusal.last_early_opt = Some(now);
        let retry_after = refusal.retry_at - now;
        let hold = HOLD_STEP
            .saturating_mul(refusal.early)
            .max(retry_after)
            .min(MAX_HOLD);
        Some(EarlyRefusal {
            message: refusal.message.clone(),
            retry_after,
            hold,
            close: refusal.early > CLOSE_AFTER,
        })
    }

    /// Nothing in flight, nobody in line, nothing to wait out.
    fn is_idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.line.is_empty()
            && self.refusal_opt.as_ref().is_none_or(|refusal| {
                now >= refusal.retry_at
                    && refusal
                        .last_early_opt
                        .is_none_or(|last| now.duration_since(last) > FORGIVE_AFTER)
            })
    }
}

// === impl SharePermit ===

impl Drop for SharePermit {
    fn drop(&mut self) {
        if let Some((shares, principal)) = &self.place_opt {
            shares.release(principal);
        }
    }
}

// === impl InLine ===

impl Drop for InLine {
    fn drop(&mut self) {
        // Handed a place but gone before taking it: pass it on.
        if !self.served && self.receiver.try_recv().is_ok() {
            self.shares.release(&self.principal);
        }
    }
}

#[cfg(test)]
mod tests;
