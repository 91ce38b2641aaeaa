//! The per-service resilience stack, built for each service by
//! [`ServiceStack::new`] and crossed by every call in this order:
//!
//! 1. circuit breaker (`breaker`) — while the service keeps failing, calls
//!    are refused at once instead of adding to its trouble;
//! 2. concurrency limit with a bounded queue shared fairly between
//!    principals (`limit`: a line each, places handed round, a full queue
//!    sheds the longest line's newest call) — excess calls are shed at
//!    once with a transient error that says so, and counted;
//! 3. deadline — carried by the call itself (`methods::outbound` sends
//!    `grpc-timeout`; a tool call ends at it as a whole);
//! 4. retries of safe operations (reads, prompts, completions, idempotent or
//!    read-only tools) that failed as unavailable, within a budget, after a
//!    jittered backoff (`retry`; driven by the route and `methods::tools`).
//!
//! A [`CallPermit`] holds the call's place to its very end and brings its
//! outcome back to the breaker. Availability (the catalog stream) is
//! checked before all of this, by the route.

mod breaker;
mod limit;
mod retry;

use std::sync::Arc;
use std::time::Duration;

pub use self::breaker::{Breaker, BreakerSettings, Open, Pass};
pub use self::limit::{Limit, Place, Shed};
pub use self::retry::Retries;
use crate::config::BackendsConfig;
use crate::error::GatewayError;
use crate::quota::QuotaPermit;

/// One service's breaker and limit.
#[derive(Debug)]
pub struct ServiceStack {
    service: String,
    /// The service's name as a metrics label.
    service_label: &'static str,
    breaker: Breaker,
    limit: Arc<Limit>,
    retries: Retries,
}

/// A call let through the stack: its place in the limit and how it passed
/// the breaker. Dropped without [`CallPermit::record`] (the client left),
/// it records nothing.
#[derive(Debug)]
pub struct CallPermit {
    stack: Arc<ServiceStack>,
    pass: Pass,
    place_opt: Option<Place>,
    /// The call's place among its principal's calls in flight, if capped.
    principal_place_opt: Option<QuotaPermit<String>>,
    recorded: bool,
    /// When the call took its place, the tool or prompt it calls (a
    /// metrics label) and how it ended (`ok`, `error`: the service said no,
    /// `failed`: unreachable, failing or too slow); `None` until recorded.
    admitted: std::time::Instant,
    target_label: &'static str,
    outcome_label: Option<&'static str>,
}

// === impl ServiceStack ===

impl ServiceStack {
    /// The stack of service `service`, in request order.
    pub fn new(service: &str, config: &BackendsConfig) -> Arc<Self> {
        Arc::new(Self {
            service: service.to_owned(),
            service_label: crate::telemetry::static_label(service),
            breaker: Breaker::new(BreakerSettings {
                consecutive_failures: config.breaker_consecutive_failures,
                failure_rate_percent: config.breaker_failure_rate_percent,
                window_calls: config.breaker_window_calls,
                open_for: config.breaker_open,
            }),
            limit: Arc::new(Limit::new(
                config.max_concurrent_calls,
                config.max_queued_calls,
            )),
            retries: Retries::new(
                config.retry_min_per_sec,
                config.retry_budget_percent as f32 / 100.0,
                config.max_retries,
            ),
        })
    }

    /// Lets one call of `principal` through the breaker and into the
    /// limit (waiting at most `max_wait` in its principal's line).
    pub async fn admit(
        self: &Arc<Self>,
        principal: &str,
        max_wait: Duration,
    ) -> Result<CallPermit, GatewayError> {
        let pass = self.pass_breaker()?;
        let mut permit = CallPermit {
            stack: self.clone(),
            pass,
            place_opt: None,
            principal_place_opt: None,
            recorded: false,
            admitted: std::time::Instant::now(),
            target_label: "none",
            outcome_label: None,
        };
        let place = self
            .limit
            .acquire(principal, max_wait)
            .await
            .map_err(|shed| self.shed_error(shed))?;
        permit.place_opt = Some(place);
        permit.admitted = std::time::Instant::now();
        self.retries.deposit();
        Ok(permit)
    }

    /// The wait before retry number `retried + 1` of a safe operation, or
    /// `None` when it has had its retries or the budget is spent.
    pub fn retry_backoff(&self, retried: u32) -> Option<Duration> {
        self.retries.backoff(retried)
    }

    /// Lets a long-lived stream (a resource watch) through the breaker
    /// only: it holds no place in the limit and records no outcome.
    pub fn check_breaker(&self) -> Result<(), GatewayError> {
        let pass = self.pass_breaker()?;
        if pass == Pass::Probe {
            self.breaker.release_probe();
        }
        Ok(())
    }

    fn pass_breaker(&self) -> Result<Pass, GatewayError> {
        self.breaker.try_pass().map_err(|Open { retry_after }| {
            GatewayError::transient(
                &self.service,
                format!(
                    "service {:?} is failing and its circuit breaker is open; retry in {} ms",
                    self.service,
                    retry_after.as_millis().max(1)
                ),
            )
        })
    }

    fn shed_error(&self, shed: Shed) -> GatewayError {
        let reason = match shed {
            Shed::QueueFull {
                max_concurrent,
                max_queued,
            } => format!(
                "{max_concurrent} calls running and {max_queued} waiting (backends.max_concurrent_calls, backends.max_queued_calls; a full queue sheds the newest call of the principal with the most waiting)"
            ),
            Shed::Waited(waited) => format!("no place within {} s", waited.as_secs_f64()),
        };
        GatewayError::transient(
            &self.service,
            format!(
                "service {:?} is at capacity: {reason}; retry later",
                self.service
            ),
        )
    }

    /// `closed`, `open` or `half_open`.
    pub fn breaker_state(&self) -> &'static str {
        self.breaker.state_name()
    }

    /// Times the breaker has opened.
    pub fn breaker_opened_total(&self) -> u64 {
        self.breaker.opened_total()
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.limit.running()
    }

    /// Calls shed so far.
    pub fn shed_total(&self) -> u64 {
        self.limit.shed_total()
    }
}

// === impl CallPermit ===

impl CallPermit {
    /// Holds the call's place among its principal's calls in flight too.
    pub fn hold(&mut self, principal_place_opt: Option<QuotaPermit<String>>) {
        self.principal_place_opt = principal_place_opt;
    }

    /// Brings the call's outcome back to the breaker: transient and
    /// internal errors (the service unreachable, failing or too slow) count
    /// as failures; a user error is the service working as it should.
    pub fn record<T>(&mut self, outcome: &Result<T, GatewayError>) {
        let failed = matches!(
            outcome,
            Err(GatewayError::Transient { .. } | GatewayError::Internal(_))
        );
        self.stack.breaker.record(self.pass, failed);
        self.recorded = true;
        self.outcome_label = Some(match outcome {
            Ok(_) => "ok",
            Err(_) if failed => "failed",
            Err(_) => "error",
        });
    }

    /// Names the tool or prompt called, for metrics (`name` is one its
    /// service's catalog holds).
    pub fn label_target(&mut self, name: &str) {
        if crate::telemetry::enabled() && !name.is_empty() {
            self.target_label = crate::telemetry::tool_label(self.stack.service_label, name);
        }
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        if !self.recorded && self.pass == Pass::Probe {
            self.stack.breaker.release_probe();
        }
        if crate::telemetry::enabled() {
            crate::telemetry::backend_call_finished(
                self.stack.service_label,
                self.target_label,
                self.outcome_label.unwrap_or("cancelled"),
                self.admitted.elapsed(),
            );
        }
    }
}
