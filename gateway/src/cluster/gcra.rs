//! Rate limits decided in the shared store: one Lua script per call checks
//! every limit the call counts against (GCRA on Redis's clock: a key per
//! limit holding its theoretical arrival time, in µs) and counts the call
//! against all of them only when none refuses — one round trip, atomic,
//! whichever replica the call reaches. While the store cannot answer,
//! each replica decides with its own limiters, every rate and burst
//! divided by the replicas alive at the last heartbeat; in-flight caps are
//! each replica's own in both cases.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::store::Script;
use super::{Cluster, FallbackRates};
use crate::error::GatewayError;
use crate::quota::QuotaPermit;
use crate::rates::{RateLimits, refusal};

/// KEYS: one per limit; ARGV: its emission interval and tolerance (µs),
/// in pairs. Answers `{0, 0}` (counted) or `{i, ms}`: refused by limit
/// `i` (from 1), retry in `ms`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local arrivals = {}
for i, key in ipairs(KEYS) do
  local emission = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local arrival = tat + emission
  local over = arrival - now - tolerance
  if over > 0 then return {i, math.ceil(over / 1000)} end
  arrivals[i] = arrival
end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((arrivals[i] - now) / 1000) + 1
  redis.call('SET', key, string.format('%.0f', arrivals[i]), 'PX', ttl)
end
return {0, 0}
";

// === impl Cluster ===

impl Cluster {
    /// Counts one call of `principal` to `service` against the shared
    /// limits of `local` (or refuses it naming the limit); the in-flight
    /// place, when capped, is this replica's.
    pub async fn admit_call(
        &self,
        local: &RateLimits,
        principal: &str,
        service: &str,
    ) -> Result<Option<QuotaPermit<String>>, GatewayError> {
        let limits = local.limits_of(principal, service);
        if limits.is_empty() {
            return local.admit_in_flight(principal);
        }
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(GCRA));
        let keys: Vec<String> = limits
            .iter()
            .map(|limit| self.store.key("rate", &limit.id))
            .collect();
        let args: Vec<String> = limits
            .iter()
            .flat_map(|limit| {
                let emission = 1_000_000 / u64::from(limit.rate.per_sec.max(1));
                let tolerance = emission * u64::from(limit.rate.burst.max(1));
                [emission.to_string(), tolerance.to_string()]
            })
            .collect();
        match self
            .store
            .run::<(usize, u64)>(script, &keys, &args, "rate")
            .await
        {
            Ok((0, _)) => local.admit_in_flight(principal),
            Ok((refused_by, wait_ms)) => {
                let limit = limits
                    .get(refused_by.saturating_sub(1))
                    .unwrap_or(&limits[0]);
                Err(refusal(limit, Duration::from_millis(wait_ms)))
            }
            Err(error) => {
                tracing::debug!(%error, "rate limits decided by this replica alone");
                self.store.fell_back("rate_limits");
                self.fallback_rates(local).check_rates(principal, service)?;
                local.admit_in_flight(principal)
            }
        }
    }

    /// `local`'s rates divided by the live replicas (made again when the
    /// count or the services' rates change).
    fn fallback_rates(&self, local: &RateLimits) -> Arc<RateLimits> {
        let replicas = self.live_replicas();
        let generation = local.generation();
        let mut kept = self
            .fallback_rates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(fallback) = kept.as_ref()
            && fallback.replicas == replicas
            && fallback.generation == generation
        {
            return fallback.limits.clone();
        }
        let limits = Arc::new(local.divided(replicas));
        *kept = Some(FallbackRates {
            replicas,
            generation,
            limits: limits.clone(),
        });
        limits
    }
}
