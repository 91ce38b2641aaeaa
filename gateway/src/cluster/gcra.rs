//! Rate limits decided in the shared store: one Lua script per call checks
//! every limit the call counts against (GCRA on Redis's clock: a key per
//! limit holding its theoretical arrival time, in µs) and counts the call
//! against all of them only when none refuses — one round trip, atomic,
//! whichever replica the call reaches. A call in a handshake-era session
//! has its session's revocation read by the same script (one round trip
//! for both; a call without limits sends the check alone, a stateless call
//! without limits sends nothing): the value found, if any, comes back for
//! the replica to open (Redis holds no key), so an ended session's last
//! call is counted against its principal's limits like any other. A stored arrival time
//! beyond what the script itself can write (now + the limit's tolerance)
//! or not a number was not written by a replica: it is taken as that
//! bound (never as fewer calls made), written back as that bound and
//! counted, so a writer of Redis can hold a subject back one burst at
//! most, as the subject itself can.
//! While the store cannot answer, each replica decides with its own
//! limiters, every rate and burst divided by the replicas alive at the
//! last heartbeat. The same script takes the call's place among its
//! principal's calls in flight when they are capped (`in_flight`).

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::in_flight::{LEASE_MS, Lease};
use super::store::{Script, StoreError};
use super::{Cluster, FallbackRates};
use crate::error::GatewayError;
use crate::rates::{RateLimits, refusal};

/// KEYS: the session's revocation key (when ARGV[1] is '1'), the
/// principal's set of calls in flight (when ARGV[2], the cap, is a number),
/// then one per limit; ARGV: '1' or '', the cap or '', the lease's length
/// (ms) and member, then each limit's emission interval and tolerance
/// (µs), in pairs. Answers `{0, 0, bad, ended}` (counted, the lease taken),
/// `{i, ms, bad, ended}`: refused by limit `i` (from 1), retry in `ms`,
/// `{-2, 0, bad, ended}`: as many calls in flight as the cap (nothing
/// counted); `bad`: limits whose stored value was out of bounds, `ended`:
/// what the revocation key holds (false when nothing: the replica opens
/// anything else, Redis holding no key to tell a replica's value from a
/// forged one).
const GCRA: &str = r"
local ended = false
local first = 0
if ARGV[1] == '1' then
  first = 1
  ended = redis.call('GET', KEYS[1])
end
local cap = tonumber(ARGV[2])
local slots = false
if cap then
  first = first + 1
  slots = KEYS[first]
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local arrivals = {}
local bad = 0
local limits = #KEYS - first
for i = 1, limits do
  local emission = tonumber(ARGV[2 * i + 3])
  local tolerance = tonumber(ARGV[2 * i + 4])
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
  if over > 0 then return {i, math.ceil(over / 1000), bad, ended} end
  arrivals[i] = arrival
end
if slots then
  local now_ms = math.floor(now / 1000)
  local length = tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now_ms)
  redis.call('ZREMRANGEBYSCORE', slots, '(' .. (now_ms + length), '+inf')
  if redis.call('ZCARD', slots) >= cap then return {-2, 0, bad, ended} end
  redis.call('ZADD', slots, now_ms + length, ARGV[4])
  redis.call('PEXPIRE', slots, length * 2)
end
for i = 1, limits do
  local ttl = math.ceil((arrivals[i] - now) / 1000) + 1
  redis.call('SET', KEYS[first + i], string.format('%.0f', arrivals[i]), 'PX', ttl)
end
return {0, 0, bad, ended}
";

/// What the shared store decided of one call.
#[derive(Debug)]
pub enum Decision {
    /// Within every limit (counted against each) and, with an in-flight
    /// cap, its lease taken; its session, if asked, not ended.
    Counted(Option<Lease>),
    /// Its session was ended on some replica.
    Ended,
    /// Refused by a rate limit.
    Refused(GatewayError),
    /// Its principal has as many calls in flight as the cap allows.
    Full,
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
        self: &Arc<Self>,
        local: &RateLimits,
        principal: &str,
        service: &str,
        session_opt: Option<&str>,
    ) -> Decision {
        let limits = local.limits_of(principal, service);
        let cap_opt = local.in_flight_cap();
        if limits.is_empty() && session_opt.is_none() && cap_opt.is_none() {
            return Decision::Counted(None);
        }
        static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
        let script = SCRIPT.get_or_init(|| Script::new(GCRA));
        let mut keys = Vec::with_capacity(limits.len() + 2);
        let mut args = Vec::with_capacity(2 * limits.len() + 4);
        match session_opt {
            Some(session_id) => {
                keys.push(self.revocation_key(session_id));
                args.push("1".to_owned());
            }
            None => args.push(String::new()),
        }
        let asked_opt = cap_opt.map(|cap| {
            let asked = self.ask_lease("inflight", principal);
            keys.push(asked.key.clone());
            args.push(cap.to_string());
            args.push(LEASE_MS.to_string());
            args.push(asked.member.clone());
            asked
        });
        if asked_opt.is_none() {
            args.extend([String::new(), String::new(), String::new()]);
        }
        for limit in &limits {
            keys.push(self.store.key("rate", &limit.id));
            let emission = 1_000_000 / u64::from(limit.rate.per_sec.max(1));
            let tolerance = emission * u64::from(limit.rate.burst.max(1));
            args.push(emission.to_string());
            args.push(tolerance.to_string());
        }
        let what = match (limits.is_empty(), cap_opt.is_some()) {
            (false, _) => "rate",
            (true, true) => "in_flight",
            (true, false) => "revoked",
        };
        let answer = self
            .store
            .run::<(i64, u64, u32, Option<Vec<u8>>)>(script, &keys, &args, what)
            .await;
        let (code, wait_ms, bad, ended_opt) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                return Decision::Away {
                    error,
                    limited: !limits.is_empty(),
                };
            }
        };
        if let Some(ended) = ended_opt
            && self.says_ended(&keys[0], &ended)
        {
            return Decision::Ended;
        }
        if bad > 0 {
            self.ignored(
                "rate",
                &format!("{} rate keys", self.store.key("rate", "*")),
            );
        }
        match code {
            0 => Decision::Counted(asked_opt.map(|asked| self.granted(asked))),
            -2 => Decision::Full,
            refused_by => {
                let index = usize::try_from(refused_by).unwrap_or(1).saturating_sub(1);
                match limits.get(index).or_else(|| limits.first()) {
                    Some(limit) => {
                        Decision::Refused(refusal(limit, Duration::from_millis(wait_ms)))
                    }
                    None => Decision::Counted(None),
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

    /// Takes a place among `principal`'s calls in flight in `local`'s cap
    /// divided by the live replicas: the fallback while the store cannot
    /// answer.
    pub fn admit_fallback_in_flight(
        &self,
        local: &RateLimits,
        principal: &str,
    ) -> Result<Option<crate::quota::QuotaPermit<String>>, GatewayError> {
        if local.in_flight_cap().is_none() {
            return Ok(None);
        }
        self.store.fell_back("in_flight");
        self.fallback_rates(local).admit_in_flight(principal)
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
