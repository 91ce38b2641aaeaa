//! The runtimes of the sessions this replica serves ([`SessionRuntime`]),
//! bounded: at most `limits.max_sessions_per_principal` per principal and
//! `limits.max_sessions` in all. A principal past its cap makes room by
//! dropping its own least recently used idle runtime (nothing in flight, no
//! GET stream); a full replica makes room from the principal holding the
//! most (more than the newcomer would), its least recently used idle one;
//! when none can give one, the request that would add one is refused
//! ([`SessionsFull`], a 503 with `Retry-After` at the front) — so one
//! principal opening sessions fast never crowds out another's. A dropped
//! runtime is replica-local state only (log level, subscriptions, stream
//! logs): the sealed session id stays valid and a later request starts it
//! afresh. Runtimes idle past an hour are swept (`sweep`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::replica_state::SessionRuntime;

/// Runtimes of the sessions this replica has seen.
pub struct SessionRegistry {
    max_total: usize,
    max_per_principal: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    sessions: HashMap<String, (Arc<str>, Arc<SessionRuntime>)>,
    per_principal: HashMap<Arc<str>, usize>,
}

/// Why no runtime could be made for a new session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsFull {
    /// `limits.max_sessions` reached.
    Total(usize),
    /// `limits.max_sessions_per_principal` reached, none of them idle.
    PerPrincipal(usize),
}

impl std::fmt::Display for SessionsFull {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Total(limit) => write!(
                formatter,
                "this gateway serves as many sessions as it may (limits.max_sessions = {limit}); retry later"
            ),
            Self::PerPrincipal(limit) => write!(
                formatter,
                "this principal has as many sessions busy as it may (limits.max_sessions_per_principal = {limit}); end one (DELETE) or retry later"
            ),
        }
    }
}

fn busy(runtime: &SessionRuntime) -> bool {
    runtime
        .in_flight
        .lock()
        .map(|map| !map.is_empty())
        .unwrap_or(false)
        || runtime.get_stream_open.load(Ordering::Relaxed)
}

impl Default for SessionRegistry {
    fn default() -> Self {
        Self::new(10_000, 1_000)
    }
}

// === impl SessionRegistry ===

impl SessionRegistry {
    pub fn new(max_total: usize, max_per_principal: usize) -> Self {
        Self {
            max_total,
            max_per_principal,
            held: Mutex::default(),
        }
    }

    fn locked(&self) -> MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The runtime of `session_id` (a session of `principal`), created on
    /// first use within the caps.
    pub fn get(
        &self,
        session_id: &str,
        principal: &str,
    ) -> Result<Arc<SessionRuntime>, SessionsFull> {
        let mut held = self.locked();
        if let Some((_, runtime)) = held.sessions.get(session_id) {
            let runtime = runtime.clone();
            runtime.touch();
            return Ok(runtime);
        }
        let principal: Arc<str> = Arc::from(principal);
        let own = held.per_principal.get(&principal).copied().unwrap_or(0);
        if own >= self.max_per_principal {
            let oldest_idle = held
                .sessions
                .iter()
                .filter(|(_, (owner, runtime))| *owner == principal && !busy(runtime))
                .max_by_key(|(_, (_, runtime))| runtime.idle_for())
                .map(|(id, _)| id.clone());
            let Some(oldest_idle) = oldest_idle else {
                return Err(SessionsFull::PerPrincipal(self.max_per_principal));
            };
            tracing::debug!(
                "a principal past limits.max_sessions_per_principal: its least recently used idle session's state dropped"
            );
            Self::forget(&mut held, &oldest_idle);
        } else if held.sessions.len() >= self.max_total {
            // The replica is full: room comes from the principal holding the
            // most sessions — more than this one will, so idle sessions of
            // a few principals never lock the others out — its least
            // recently used idle one.
            let Some(victim) = Self::most_held_idle(&held, own) else {
                return Err(SessionsFull::Total(self.max_total));
            };
            tracing::debug!(
                "limits.max_sessions reached: the least recently used idle session of the principal holding the most dropped"
            );
            Self::forget(&mut held, &victim);
        }
        let runtime = Arc::new(SessionRuntime::new());
        held.sessions
            .insert(session_id.to_owned(), (principal.clone(), runtime.clone()));
        *held.per_principal.entry(principal).or_default() += 1;
        Ok(runtime)
    }

    /// The least recently used idle session of the principal holding the
    /// most sessions, if it holds more than `own + 1`.
    fn most_held_idle(held: &Held, own: usize) -> Option<String> {
        let Held {
            sessions,
            per_principal,
        } = held;
        sessions
            .iter()
            .filter(|(_, (_, runtime))| !busy(runtime))
            .map(|(id, (owner, runtime))| {
                let count = per_principal.get(owner).copied().unwrap_or(0);
                (id, count, runtime.idle_for())
            })
            .filter(|(_, count, _)| *count > own + 1)
            .max_by_key(|(_, count, idle)| (*count, *idle))
            .map(|(id, _, _)| id.clone())
    }

    fn forget(held: &mut Held, session_id: &str) -> Option<Arc<SessionRuntime>> {
        let (principal, runtime) = held.sessions.remove(session_id)?;
        if let Some(count) = held.per_principal.get_mut(&principal) {
            *count -= 1;
            if *count == 0 {
                held.per_principal.remove(&principal);
            }
        }
        Some(runtime)
    }

    /// Forgets a session (DELETE), cancelling its in-flight requests.
    pub fn remove(&self, session_id: &str) {
        let removed = Self::forget(&mut self.locked(), session_id);
        if let Some(runtime) = removed
            && let Ok(in_flight) = runtime.in_flight.lock()
        {
            for token in in_flight.values() {
                token.cancel();
            }
        }
    }

    /// Drops runtimes idle for longer than `idle` with nothing in flight.
    pub fn sweep(&self, idle: Duration) {
        let mut held = self.locked();
        let idle_ids: Vec<String> = held
            .sessions
            .iter()
            .filter(|(_, (_, runtime))| !busy(runtime) && runtime.idle_for() >= idle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle_ids {
            Self::forget(&mut held, &id);
        }
    }

    /// Number of runtimes held.
    pub fn len(&self) -> usize {
        self.locked().sessions.len()
    }

    /// True when no runtime is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound on runtimes kept (`src/start.rs` sweeps every minute with
    /// an hour's idleness): idle ones go, busy ones stay whatever their age.
    #[test]
    fn a_sweep_drops_idle_runtimes_and_keeps_busy_ones() {
        let registry = SessionRegistry::default();
        let get = |id: &str| registry.get(id, "alice").expect("room");
        get("idle");
        let _token = get("calling").start_request("1");
        get("listening")
            .get_stream_open
            .store(true, Ordering::Relaxed);
        registry.sweep(Duration::from_secs(3600));
        assert_eq!(registry.len(), 3, "nothing is an hour idle yet");
        registry.sweep(Duration::ZERO);
        assert_eq!(registry.len(), 2, "only the idle runtime went");
        get("calling").finish_request("1");
        registry.sweep(Duration::ZERO);
        assert_eq!(
            registry.len(),
            1,
            "the stream's runtime stays while it is open"
        );
    }

    #[test]
    fn past_its_cap_a_principal_drops_its_own_oldest_idle_session() {
        let registry = SessionRegistry::new(3, 2);
        let first = registry.get("a1", "alice").expect("room");
        let _busy = registry
            .get("a2", "alice")
            .expect("room")
            .start_request("1");
        let third = registry.get("a3", "alice").expect("a1 made room");
        assert!(!Arc::ptr_eq(&first, &third));
        assert_eq!(registry.len(), 2);
        let _also_busy = third.start_request("2");
        assert_eq!(
            registry.get("a4", "alice").err(),
            Some(SessionsFull::PerPrincipal(2)),
            "every session of alice is busy"
        );
        registry.get("b1", "bob").expect("bob has his own share");
        assert_eq!(
            registry.get("c1", "carol").err(),
            Some(SessionsFull::Total(3))
        );
        assert!(
            registry.get("a2", "alice").is_ok(),
            "a known session is always served"
        );
        registry.remove("b1");
        registry.get("c1", "carol").expect("a place came back");
    }

    #[test]
    fn a_full_replica_makes_room_from_the_principal_holding_the_most() {
        let registry = SessionRegistry::new(3, 3);
        for id in ["a1", "a2", "a3"] {
            registry.get(id, "alice").expect("room");
        }
        registry
            .get("b1", "bob")
            .expect("alice's idle sessions do not lock bob out");
        registry
            .get("c1", "carol")
            .expect("alice still holds the most");
        assert_eq!(
            registry.get("d1", "dave").err(),
            Some(SessionsFull::Total(3)),
            "nobody holds more than one: no one is pushed out for dave"
        );
    }
}
