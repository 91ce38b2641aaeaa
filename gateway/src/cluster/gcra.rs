//! Rate limits decided in the shared store: one Lua script per call checks
//! every limit the call counts against (GCRA on Redis's clock: a key per
//! limit holding its theoretical arrival time, in µs) and counts the call
//! against all of them only when none refuses — one round trip, atomic,
//! whichever replica the call reaches. A call in a handshake-era session
//! has its session's revocation checked by the same script first (one
//! round trip for both; a call without limits sends the check alone, a
//! stateless call without limits sends nothing). A stored arrival time
//! beyond what the script itself can write (now + the limit's tolerance)
//! or not a number was not written by a replica: it is taken as that
//! bound (never as fewer calls made), written back as that bound and
//! counted, so a writer of Redis can hold a subject back one burst at
//! most, as the subject itself can.
//! While the store cannot answer, each replica decides with its own
//! limiters, every rate and burst divided by the replicas alive at the
//! last heartbeat; in-flight caps are each replica's own in both cases.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::store::{Script, StoreError};
use super::{Cluster, FallbackRates};
use crate::error::GatewayError;
use crate::rates::{RateLimits, refusal};

/// KEYS: the session's revocation key (when ARGV[1] is not empty), then
/// one per limit; ARGV: the revocation value a replica writes (or ''),
/// then each limit's emission interval and tolerance (µs), in pairs.
/// Answers `{0, 0, bad, forged}` (counted), `{-1, 0, 0, 0}` (the session
/// was ended) or `{i, ms, bad, forged}`: refused by limit `i` (from 1),
/// retry in `ms`; `bad`: limits whose stored value was out of bounds,
/// `forged`: 1 when the revocation key held a value no replica writes.
const GCRA: &str = r"
local forged = 0
local first = 0
if ARGV[1] ~= '' then
  first = 1
  local ended = redis.call('GET', KEYS[1])
  if ended == ARGV[1] then return {-1, 0, 0, 0} end
  if ended then forged = 1 end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local arrivals = {}
local bad = 0
local limits = #KEYS - first
for i = 1, limits do
  local emission = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', KEYS[first + i])
  local tat = now
  if stored then
    local value = tonumber(stored)
    if value == nil or value > now + tolerance then
      bad = bad + 1
      value = now + tolerance
      redis.call('SET', KEYS[first + i], string.format('%.0f', value), 'PX', math.ceil(tolerance / 1000) + 1)
    end
    if value > now then tat = value end
  end
  local arrival = tat + emission
  local over = arrival - now - tolerance
  if over > 0 then return {i, math.ceil(over / 1000), bad, forged} end
  arrivals[i] = arrival
end
for i = 1, limits do
  local ttl = math.ceil((arrivals[i] - now) / 1000) + 1
  redis.call('SET', KEYS[first + i], string.format('%.0f', arrivals[i]), 'PX', ttl)
end
return {0, 0, bad, forged}
";

/// What the shared store decided of one call.
#[derive(Debug)]
pub enum Decision {
    /// Within every limit (counted against each), and its session, if
    /// asked, not ended.
    Counted,
    /// Its session was ended on some replica.
    Ended,
    /// Refused by a rate limit.
    Refused(GatewayError),
    /// The store could not answer: nothing decided (`limited`: some rate
    /// limit applies to the call).
    Away { error: StoreError, limited: bool },
}

// === impl Cluster ===

impl Cluster {
    /// Decides one call of `principal` to `service` in the shared store:
    /// counts it against the limits of `local` that apply (or refuses it
    /// naming the limit) and, with `session_opt`, checks first that the
    /// session was not ended — one round trip, none when there is nothing
    /// to ask.
    pub async fn decide_call(
        &self,
        local: &RateLimits,
        principal: &str,
        service: &str,
        session_opt: Option<&str>,
    ) -> Decision {
        let limits = local.limits_of(principal, service);
        if limits.is_empty() && session_opt.is_none() {
            return Decision::Counted;
        }
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(GCRA));
        let mut keys = Vec::with_capacity(limits.len() + 1);
        let mut args = Vec::with_capacity(2 * limits.len() + 1);
        match session_opt {
            Some(session_id) => {
                let (key, value) = self.revocation_entry(session_id);
                keys.push(key);
                args.push(value);
            }
            None => args.push(String::new()),
        }
        for limit in &limits {
            keys.push(self.store.key("rate", &limit.id));
            let emission = 1_000_000 / u64::from(limit.rate.per_sec.max(1));
            let tolerance = emission * u64::from(limit.rate.burst.max(1));
            args.push(emission.to_string());
            args.push(tolerance.to_string());
        }
        let what = if limits.is_empty() { "revoked" } else { "rate" };
        let answer = self
            .store
            .run::<(i64, u64, u32, u8)>(script, &keys, &args, what)
            .await;
        let (code, wait_ms, bad, forged) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                return Decision::Away {
                    error,
                    limited: !limits.is_empty(),
                };
            }
        };
        if forged == 1 {
            self.ignored("revocation", &keys[0]);
        }
        if bad > 0 {
            self.ignored(
                "rate",
                &format!("{} rate keys", self.store.key("rate", "*")),
            );
        }
        match code {
            0 => Decision::Counted,
            -1 => Decision::Ended,
            refused_by => {
                let index = usize::try_from(refused_by).unwrap_or(1).saturating_sub(1);
                match limits.get(index).or_else(|| limits.first()) {
                    Some(limit) => {
                        Decision::Refused(refusal(limit, Duration::from_millis(wait_ms)))
                    }
                    None => Decision::Counted,
                }
            }
        }
    }

    /// Checks the rates of `local`, divided by the live replicas: the
    /// fallback while the store cannot answer.
    pub fn check_fallback_rates(
        &self,
        local: &RateLimits,
        principal: &str,
        service: &str,
    ) -> Result<(), GatewayError> {
        self.store.fell_back("rate_limits");
        self.fallback_rates(local).check_rates(principal, service)
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
