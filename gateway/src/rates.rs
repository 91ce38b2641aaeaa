//! Rates and in-flight caps of `[rate_limits]`: GCRA limiters (governor)
//! keyed by principal and by service, and a count of each principal's calls
//! in flight; services with rates of their own (`[services.rate_limits]`)
//! have their own limiters, replaced when a reconfiguration changes them
//! ([`RateLimits::set_services`]). A refusal is a [`GatewayError::RateLimited`] that names the
//! limit and says when to retry (HTTP 429 with `Retry-After`). With
//! `[cluster]` the rates are decided in the shared store from the
//! [`Limit`]s a call counts against ([`RateLimits::limits_of`]), and these
//! limiters, divided by the live replicas ([`RateLimits::divided`]), are
//! the fallback while it is away; in-flight caps stay per replica.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota as RateQuota, RateLimiter};

use crate::config::{Rate, RateLimitsConfig, ServiceConfig, ServiceRates};
use crate::error::GatewayError;
use crate::quota::{Quota, QuotaPermit};

/// Whether the rate limits count `method` (the methods that reach a
/// service through a route's admission).
pub fn is_limited(method: &str) -> bool {
    matches!(
        method,
        "tools/call"
            | "resources/read"
            | "prompts/get"
            | "completion/complete"
            | "tasks/get"
            | "tasks/update"
            | "tasks/cancel"
    )
}

/// The gateway's rate limiters and per-principal in-flight counts.
pub struct RateLimits {
    per_principal_opt: Option<DefaultKeyedRateLimiter<String>>,
    per_service_opt: Option<DefaultKeyedRateLimiter<String>>,
    /// Services with rates of their own (`[services.rate_limits]`).
    own: ArcSwap<HashMap<String, Arc<OwnRates>>>,
    in_flight_opt: Option<Arc<Quota<String>>>,
    clock: DefaultClock,
    /// What the shared limiters were made from.
    config: RateLimitsConfig,
    /// Changes whenever the services' own rates are set.
    generation: AtomicU64,
}

/// One limit a call counts against: its name in a shared store, its rate,
/// and what a refusal says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Unique per limit and subject (`principal:alice`, `service:fs`, …).
    pub id: String,
    pub rate: Rate,
    /// The config key that sets it.
    pub setting: String,
    /// `principal` or `service`.
    pub noun: &'static str,
    /// The principal or service counted.
    pub subject: String,
}

/// A refusal by `limit`, to be retried after `wait`.
pub fn refusal(limit: &Limit, wait: Duration) -> GatewayError {
    let Limit {
        setting,
        noun,
        subject,
        ..
    } = limit;
    GatewayError::RateLimited {
        message: format!(
            "rate limit of {noun} {subject} reached ({setting}); retry in {} ms",
            wait.as_millis().max(1)
        ),
        retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
    }
}

/// One service's own limiters, each with the key a refusal names.
struct OwnRates {
    /// What they were made from (kept while it stays the same).
    config: ServiceRates,
    service_opt: Option<(DefaultKeyedRateLimiter<String>, String)>,
    per_principal_opt: Option<(DefaultKeyedRateLimiter<String>, String)>,
}

fn limiter(rate: Rate) -> DefaultKeyedRateLimiter<String> {
    shared_by(rate, 1)
}

/// A limiter for one of `replicas` sharing `rate`: the rate and the burst
/// divided between them (at least one call at once each).
fn shared_by(rate: Rate, replicas: u32) -> DefaultKeyedRateLimiter<String> {
    let replicas = replicas.max(1);
    let period = Duration::from_secs_f64(f64::from(replicas) / f64::from(rate.per_sec.max(1)));
    let burst = NonZeroU32::new(rate.burst / replicas).unwrap_or(NonZeroU32::MIN);
    let quota = RateQuota::with_period(period)
        .unwrap_or_else(|| RateQuota::per_second(NonZeroU32::MAX))
        .allow_burst(burst);
    RateLimiter::keyed(quota)
}

// === impl RateLimits ===

impl RateLimits {
    /// The limiters of `config` and of each of `services` that has rates of
    /// its own.
    pub fn new(config: &RateLimitsConfig, services: &[ServiceConfig]) -> Self {
        let limits = Self {
            per_principal_opt: config.per_principal_opt.map(limiter),
            per_service_opt: config.per_service_opt.map(limiter),
            own: ArcSwap::default(),
            in_flight_opt: config
                .max_concurrent_calls_per_principal_opt
                .map(|max| Quota::new(usize::MAX, Some(max))),
            clock: DefaultClock::default(),
            config: config.clone(),
            generation: AtomicU64::new(0),
        };
        limits.set_services(services);
        limits
    }

    /// Gives each of `services` with rates of its own its limiters: those
    /// whose rates did not change keep theirs (and what they counted).
    pub fn set_services(&self, services: &[ServiceConfig]) {
        let current = self.own.load();
        let own = services
            .iter()
            .filter(|service| service.rates != ServiceRates::default())
            .map(|service| {
                if let Some(kept) = current
                    .get(&service.name)
                    .filter(|kept| kept.config == service.rates)
                {
                    return (service.name.clone(), kept.clone());
                }
                let keyed = |rate_opt: &Option<(Rate, String)>| {
                    rate_opt
                        .as_ref()
                        .map(|(rate, key)| (limiter(*rate), key.clone()))
                };
                let rates = OwnRates {
                    config: service.rates.clone(),
                    service_opt: keyed(&service.rates.service_opt),
                    per_principal_opt: keyed(&service.rates.per_principal_opt),
                };
                (service.name.clone(), Arc::new(rates))
            })
            .collect();
        self.own.store(Arc::new(own));
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes whenever [`RateLimits::set_services`] runs.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The same rates and in-flight cap for one of `replicas` sharing them
    /// (each rate, burst and cap divided, at least 1): the fallback of a
    /// cluster whose store is away.
    pub fn divided(&self, replicas: u32) -> Self {
        let divided = |rate: Rate| shared_by(rate, replicas);
        let own = self
            .own
            .load()
            .iter()
            .map(|(name, rates)| {
                let keyed = |rate_opt: &Option<(Rate, String)>| {
                    rate_opt
                        .as_ref()
                        .map(|(rate, key)| (divided(*rate), key.clone()))
                };
                let divided_rates = OwnRates {
                    config: rates.config.clone(),
                    service_opt: keyed(&rates.config.service_opt),
                    per_principal_opt: keyed(&rates.config.per_principal_opt),
                };
                (name.clone(), Arc::new(divided_rates))
            })
            .collect();
        Self {
            per_principal_opt: self.config.per_principal_opt.map(divided),
            per_service_opt: self.config.per_service_opt.map(divided),
            own: ArcSwap::from_pointee(own),
            in_flight_opt: self
                .config
                .max_concurrent_calls_per_principal_opt
                .map(|max| {
                    let share = max / usize::try_from(replicas.max(1)).unwrap_or(usize::MAX);
                    Quota::new(usize::MAX, Some(share.max(1)))
                }),
            clock: DefaultClock::default(),
            config: self.config.clone(),
            generation: AtomicU64::new(self.generation()),
        }
    }

    /// The rate limits a call of `principal` to `service` counts against,
    /// in the order they are checked.
    pub fn limits_of(&self, principal: &str, service: &str) -> Vec<Limit> {
        let limit = |id: String, rate: Rate, setting: &str, noun, subject: &str| Limit {
            id,
            rate,
            setting: setting.to_owned(),
            noun,
            subject: subject.to_owned(),
        };
        let mut limits = Vec::new();
        if let Some(rate) = self.config.per_principal_opt {
            limits.push(limit(
                format!("principal:{principal}"),
                rate,
                "rate_limits.per_principal_per_sec",
                "principal",
                principal,
            ));
        }
        let own_opt = self.own.load().get(service).cloned();
        let own_service_opt = own_opt
            .as_ref()
            .and_then(|own| own.config.service_opt.clone());
        if let Some(own) = &own_opt
            && let Some((rate, key)) = &own.config.per_principal_opt
        {
            limits.push(limit(
                format!("service-principal:{service}:{principal}"),
                *rate,
                key,
                "principal",
                principal,
            ));
        }
        match (own_service_opt, self.config.per_service_opt) {
            (Some((rate, key)), _) => limits.push(limit(
                format!("own-service:{service}"),
                rate,
                &key,
                "service",
                service,
            )),
            (None, Some(rate)) => limits.push(limit(
                format!("service:{service}"),
                rate,
                "rate_limits.per_service_per_sec",
                "service",
                service,
            )),
            (None, None) => {}
        }
        limits
    }

    /// Only the rates of a call (no in-flight place).
    pub fn check_rates(&self, principal: &str, service: &str) -> Result<(), GatewayError> {
        self.check(
            self.per_principal_opt.as_ref(),
            principal,
            "rate_limits.per_principal_per_sec",
            "principal",
        )?;
        match self.own.load().get(service) {
            Some(own) => {
                if let Some((limiter, key)) = &own.per_principal_opt {
                    self.check(Some(limiter), principal, key, "principal")?;
                }
                match &own.service_opt {
                    Some((limiter, key)) => self.check(Some(limiter), service, key, "service"),
                    None => self.check_shared_service(service),
                }
            }
            None => self.check_shared_service(service),
        }
    }

    /// Counts one call of `principal` to `service`, or refuses it naming
    /// the limit; the permit (when in-flight calls are capped) is held for
    /// the call's life.
    pub fn admit(
        &self,
        principal: &str,
        service: &str,
    ) -> Result<Option<QuotaPermit<String>>, GatewayError> {
        self.check_rates(principal, service)?;
        self.admit_in_flight(principal)
    }

    /// The cap on one principal's calls in flight, when there is one.
    pub fn in_flight_cap(&self) -> Option<usize> {
        self.config.max_concurrent_calls_per_principal_opt
    }

    /// A place among `principal`'s calls in flight, when they are capped.
    pub fn admit_in_flight(
        &self,
        principal: &str,
    ) -> Result<Option<QuotaPermit<String>>, GatewayError> {
        let Some(in_flight) = &self.in_flight_opt else {
            return Ok(None);
        };
        in_flight
            .acquire(principal.to_owned())
            .map(Some)
            .map_err(|_| in_flight_refusal(principal))
    }

    fn check_shared_service(&self, service: &str) -> Result<(), GatewayError> {
        self.check(
            self.per_service_opt.as_ref(),
            service,
            "rate_limits.per_service_per_sec",
            "service",
        )
    }

    fn check(
        &self,
        limiter_opt: Option<&DefaultKeyedRateLimiter<String>>,
        key: &str,
        setting: &str,
        noun: &str,
    ) -> Result<(), GatewayError> {
        let Some(limiter) = limiter_opt else {
            return Ok(());
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            GatewayError::RateLimited {
                message: format!(
                    "rate limit of {noun} {key} reached ({setting}); retry in {} ms",
                    wait.as_millis().max(1)
                ),
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
            }
        })
    }
}

#[cfg(test)]
mod tests;

/// The error of a call refused because `principal` has as many calls in
/// flight as its cap allows.
pub fn in_flight_refusal(principal: &str) -> GatewayError {
    GatewayError::RateLimited {
        message: format!(
            "too many calls in flight for principal {principal} (rate_limits.max_concurrent_calls_per_principal); retry when one ends"
        ),
        retry_after_ms: 100,
    }
}
