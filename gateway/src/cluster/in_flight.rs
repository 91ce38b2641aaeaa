//! Places per principal shared between replicas — calls in flight
//! (`rate_limits.max_concurrent_calls_per_principal`) and watched resources
//! (`limits.max_watches_per_principal`: `resources/subscribe` and
//! `subscriptions/listen` URIs) with `[cluster]`: one sorted set per
//! principal (`inflight:<principal>`, `watches:<principal>`) of leases,
//! each scored by its expiry on Redis's clock. A watch takes its lease with
//! one script ([`Cluster::take_lease`]). A call takes its lease in the script that
//! decides its rate limits (`gcra`: one round trip at its start), gives it
//! back with one `ZREM` when it ends (sent in the background: the answer
//! does not wait for it), and every heartbeat renews all of this replica's
//! leases (one script). A replica that dies stops renewing: its leases lapse
//! within [`LEASE_MS`] and their places come back. A lease scored beyond
//! what a replica writes (now + [`LEASE_MS`]) is dropped by the script, so
//! a writer of Redis cannot hold a place for longer than a lease. While the
//! store cannot answer, each replica caps its own calls at the cap ÷ the
//! replicas alive (`rates::RateLimits::divided`); a lease that lapsed while
//! the store was away is not taken again (its call runs on uncounted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Cluster;
use super::store::{Script, StoreError};

/// How long a lease holds its place unless renewed (a heartbeat renews it
/// every second).
pub const LEASE_MS: u64 = 5000;

/// Leases renewed by one script.
const RENEWED_AT_ONCE: usize = 500;

/// KEYS: the set; ARGV: the cap, the lease's length (ms), the member.
/// Answers 1 (taken) or 0 (the set holds the cap).
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local length = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + length), '+inf')
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + length, ARGV[3])
redis.call('PEXPIRE', KEYS[1], length * 2)
return 1
";

/// KEYS: the sets; ARGV: the lease's length (ms), then one member per key.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local length = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + length, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], length * 2)
end
return #KEYS
";

/// The leases this replica holds now.
#[derive(Default)]
pub struct Leases {
    next: AtomicU64,
    held: Mutex<HashMap<u64, (String, String)>>,
}

/// One call's place in its principal's shared set, given back when dropped.
pub struct Lease {
    cluster: Arc<Cluster>,
    id: u64,
}

/// A lease asked for: its set and its member.
pub struct Asked {
    pub key: String,
    pub member: String,
    id: u64,
}

// === impl Cluster ===

impl Cluster {
    /// The set (of `kind`) and member of a lease for one more place of
    /// `principal`.
    pub(crate) fn ask_lease(&self, kind: &str, principal: &str) -> Asked {
        let id = self.leases.next.fetch_add(1, Ordering::Relaxed);
        Asked {
            key: self.store.key(kind, principal),
            member: format!("{}:{id}", self.replica_id),
            id,
        }
    }

    /// The lease `asked`, granted by the store: held (and renewed) until
    /// dropped.
    pub(crate) fn granted(self: &Arc<Self>, asked: Asked) -> Lease {
        self.leases
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(asked.id, (asked.key, asked.member));
        Lease {
            cluster: self.clone(),
            id: asked.id,
        }
    }

    /// One more place of `kind` (`watches`) for `principal` among at most
    /// `cap`: the lease, `None` when the cap is reached, or why the store
    /// could not answer.
    pub async fn take_lease(
        self: &Arc<Self>,
        kind: &str,
        principal: &str,
        cap: usize,
    ) -> Result<Option<Lease>, StoreError> {
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(TAKE));
        let asked = self.ask_lease(kind, principal);
        let keys = [asked.key.clone()];
        let args = [cap.to_string(), LEASE_MS.to_string(), asked.member.clone()];
        let taken: i64 = self.store.run(script, &keys, &args, "watches").await?;
        Ok((taken == 1).then(|| self.granted(asked)))
    }

    /// Renews every lease this replica holds (a heartbeat's work).
    pub(crate) async fn renew_leases(&self) {
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(RENEW));
        let held: Vec<(String, String)> = self
            .leases
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for batch in held.chunks(RENEWED_AT_ONCE) {
            let keys: Vec<String> = batch.iter().map(|(key, _)| key.clone()).collect();
            let mut args = Vec::with_capacity(batch.len() + 1);
            args.push(LEASE_MS.to_string());
            args.extend(batch.iter().map(|(_, member)| member.clone()));
            if let Err(error) = self
                .store
                .run::<i64>(script, &keys, &args, "in_flight")
                .await
            {
                tracing::debug!(%error, "leases of calls in flight not renewed");
                return;
            }
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Lease({})", self.id)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let taken = self
            .cluster
            .leases
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        let (Some((key, member)), Ok(runtime)) = (taken, tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let cluster = self.cluster.clone();
        runtime.spawn(async move {
            let mut given_back = redis::cmd("ZREM");
            given_back.arg(key).arg(member);
            if let Err(error) = cluster.store.query::<i64>(&given_back, "in_flight").await {
                tracing::debug!(%error, "a call's place in flight not given back: it lapses with its lease");
            }
        });
    }
}
