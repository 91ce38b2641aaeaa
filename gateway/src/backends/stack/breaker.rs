//! A circuit breaker per service: closed while calls mostly succeed; open
//! — every call refused at once — after `consecutive_failures` failures in
//! a row or a failure rate of `failure_rate_percent` over the last
//! `window_calls` calls; half-open after `open_for`, letting one probe
//! through: its success closes the breaker, its failure opens it again.
//! Time is tokio's, so tests run it on a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub consecutive_failures: u32,
    pub failure_rate_percent: u32,
    pub window_calls: u32,
    pub open_for: Duration,
}

/// One service's breaker.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<BreakerState>,
}

#[derive(Debug)]
struct BreakerState {
    phase: Phase,
    consecutive_failures: u32,
    /// Recent outcomes while closed (true: failure).
    recent: VecDeque<bool>,
    opened_total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// How a call got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The breaker is closed.
    Closed,
    /// The one probe of a half-open breaker.
    Probe,
}

/// The breaker refused the call; it may be retried after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub retry_after: Duration,
}

// === impl Breaker ===

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(BreakerState {
                phase: Phase::Closed,
                consecutive_failures: 0,
                recent: VecDeque::new(),
                opened_total: 0,
            }),
        }
    }

    /// Lets a call through, or refuses it while open (and while a probe is
    /// out when half-open).
    pub fn try_pass(&self) -> Result<Pass, Open> {
        let Ok(mut state) = self.state.lock() else {
            return Ok(Pass::Closed);
        };
        let now = Instant::now();
        match state.phase {
            Phase::Closed => Ok(Pass::Closed),
            Phase::Open { until } if now < until => Err(Open {
                retry_after: until - now,
            }),
            Phase::Open { .. } | Phase::HalfOpen { probing: false } => {
                state.phase = Phase::HalfOpen { probing: true };
                Ok(Pass::Probe)
            }
            Phase::HalfOpen { probing: true } => Err(Open {
                retry_after: Duration::from_millis(100),
            }),
        }
    }

    /// Records the outcome of a call that got through as `pass`.
    pub fn record(&self, pass: Pass, failed: bool) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if pass == Pass::Probe {
            if failed {
                self.open(&mut state);
            } else {
                state.phase = Phase::Closed;
                state.consecutive_failures = 0;
                state.recent.clear();
            }
            return;
        }
        if state.phase != Phase::Closed {
            return;
        }
        state.consecutive_failures = if failed {
            state.consecutive_failures + 1
        } else {
            0
        };
        state.recent.push_back(failed);
        while state.recent.len() > self.settings.window_calls as usize {
            state.recent.pop_front();
        }
        let failures = state.recent.iter().filter(|failed| **failed).count();
        let full_window = state.recent.len() >= self.settings.window_calls as usize;
        let rate_exceeded = full_window
            && failures * 100 >= state.recent.len() * self.settings.failure_rate_percent as usize;
        if state.consecutive_failures >= self.settings.consecutive_failures || rate_exceeded {
            self.open(&mut state);
        }
    }

    /// A call that got through as a probe ended without an outcome (the
    /// client left): let the next call probe instead.
    pub fn release_probe(&self) {
        if let Ok(mut state) = self.state.lock()
            && state.phase == (Phase::HalfOpen { probing: true })
        {
            state.phase = Phase::HalfOpen { probing: false };
        }
    }

    fn open(&self, state: &mut BreakerState) {
        state.phase = Phase::Open {
            until: Instant::now() + self.settings.open_for,
        };
        state.consecutive_failures = 0;
        state.recent.clear();
        state.opened_total += 1;
        tracing::warn!(
            open_for_secs = self.settings.open_for.as_secs_f64(),
            "circuit breaker opened"
        );
    }

    /// `closed`, `open` or `half_open`.
    pub fn state_name(&self) -> &'static str {
        match self.state.lock().map(|state| state.phase) {
            Ok(Phase::Closed) | Err(_) => "closed",
            Ok(Phase::Open { until }) if Instant::now() < until => "open",
            Ok(Phase::Open { .. } | Phase::HalfOpen { .. }) => "half_open",
        }
    }

    /// Times the breaker has opened.
    pub fn opened_total(&self) -> u64 {
        self.state.lock().map_or(0, |state| state.opened_total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            consecutive_failures: 3,
            failure_rate_percent: 50,
            window_calls: 10,
            open_for: Duration::from_secs(5),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_then_one_probe_closes() {
        let breaker = breaker();
        for _ in 0..3 {
            let pass = breaker.try_pass().expect("closed");
            breaker.record(pass, true);
        }
        assert_eq!(breaker.state_name(), "open");
        let refused = breaker.try_pass().expect_err("open");
        assert_eq!(refused.retry_after, Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(breaker.state_name(), "half_open");
        let probe = breaker.try_pass().expect("probe");
        assert_eq!(probe, Pass::Probe);
        assert!(breaker.try_pass().is_err(), "one probe at a time");
        breaker.record(probe, false);
        assert_eq!(breaker.state_name(), "closed");
        assert_eq!(breaker.opened_total(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again_and_an_abandoned_one_frees_the_slot() {
        let breaker = breaker();
        for _ in 0..3 {
            breaker.record(Pass::Closed, true);
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = breaker.try_pass().expect("probe");
        breaker.record(probe, true);
        assert_eq!(breaker.state_name(), "open");
        tokio::time::advance(Duration::from_secs(5)).await;
        let _abandoned = breaker.try_pass().expect("probe");
        breaker.release_probe();
        assert_eq!(breaker.try_pass(), Ok(Pass::Probe));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_rate_over_a_full_window_opens() {
        let breaker = breaker();
        for round in 0..10 {
            // Alternating: never 3 in a row, but 50% over the window.
            breaker.record(Pass::Closed, round % 2 == 0);
            if round < 9 {
                assert_eq!(breaker.state_name(), "closed", "round {round}");
            }
        }
        assert_eq!(breaker.state_name(), "open");
        let healthy = self::breaker();
        for round in 0..30 {
            healthy.record(Pass::Closed, round % 4 == 0);
        }
        assert_eq!(healthy.state_name(), "closed", "25% stays closed");
    }
}
