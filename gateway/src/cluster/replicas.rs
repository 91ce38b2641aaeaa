//! Heartbeats: every second each replica notes itself, with Redis's own
//! clock, in one sorted set under the key prefix, drops those not heard
//! for three seconds, and learns how many are alive — the divisor of the
//! rate limits' fallback while the store is away (the last count heard is
//! kept then). A replica that stops removes itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::store::Script;

/// Between two heartbeats.
const EVERY: Duration = Duration::from_secs(1);
/// A replica not heard for this long is not counted.
const FORGOTTEN_AFTER_MS: u64 = 3000;

const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 10)
return redis.call('ZCARD', KEYS[1])
";

// === impl Cluster ===

impl Cluster {
    /// One heartbeat: the live replicas, or why the store did not answer.
    pub async fn heartbeat(&self) -> Result<u32, super::StoreError> {
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(HEARTBEAT));
        let keys = [self.store.key("replicas", "live")];
        let args = [self.replica_id.clone(), FORGOTTEN_AFTER_MS.to_string()];
        let live: u32 = self.store.probe(script, &keys, &args, "heartbeat").await?;
        self.live_replicas.store(live.max(1), Ordering::Relaxed);
        self.renew_leases().await;
        Ok(live)
    }

    /// Beats every second until `shutdown`, then leaves the set.
    pub fn spawn_heartbeats(self: &Arc<Self>, shutdown: &CancellationToken) {
        let (cluster, shutdown) = (self.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                if let Err(error) = cluster.heartbeat().await {
                    tracing::debug!(%error, "heartbeat not heard");
                }
                tokio::select! {
                    () = tokio::time::sleep(EVERY) => {}
                    () = shutdown.cancelled() => break,
                }
            }
            if !cluster.store.is_up() {
                // Forgotten by the others within three seconds anyway.
                return;
            }
            let mut leave = redis::cmd("ZREM");
            leave
                .arg(cluster.store.key("replicas", "live"))
                .arg(&cluster.replica_id);
            let _ = cluster.store.query::<i64>(&leave, "heartbeat").await;
        });
    }
}
