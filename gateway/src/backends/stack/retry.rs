//! Retries of safe operations (resource reads, prompts, completions — never
//! a tool call, whose side effects may already have happened) when a call
//! fails as UNAVAILABLE: at most `max_retries` more tries, each after a
//! jittered exponential backoff, and only while the service's retry budget
//! (tower's `TpsBudget`: a floor per second plus a share of recent calls)
//! has a token, so retries can never multiply a failing service's load.

use std::time::Duration;

use tower::retry::budget::{Budget, TpsBudget};

/// One service's retry budget and backoff.
#[derive(Debug)]
pub struct Retries {
    budget: TpsBudget,
    max_retries: u32,
    base_backoff: Duration,
}

// === impl Retries ===

impl Retries {
    /// Retries of up to `retry_percent` of recent calls (and `min_per_sec`
    /// a second whatever the traffic), `max_retries` per call.
    pub fn new(min_per_sec: u32, retry_percent: f32, max_retries: u32) -> Self {
        Self {
            budget: TpsBudget::new(Duration::from_secs(10), min_per_sec, retry_percent),
            max_retries,
            base_backoff: Duration::from_millis(25),
        }
    }

    /// A call was made: it earns the budget its share.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// The wait before retry number `retried + 1`, or `None` when the call
    /// has had its retries or the budget is spent.
    pub fn backoff(&self, retried: u32) -> Option<Duration> {
        if retried >= self.max_retries || !self.budget.withdraw() {
            return None;
        }
        let full = self.base_backoff * 2u32.saturating_pow(retried);
        // Jitter: between half and all of the full backoff.
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        Some(full.mul_f64(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_per_call_and_by_the_budget() {
        // A floor of 1 a second over the 10 s window: 10 retries, then none.
        let floor_only = Retries::new(1, 0.0, 2);
        let first = floor_only.backoff(0).expect("the floor allows it");
        assert!(first >= Duration::from_millis(12) && first <= Duration::from_millis(25));
        assert_eq!(floor_only.backoff(2), None, "two retries per call at most");
        let granted = (0..20).filter(|_| floor_only.backoff(0).is_some()).count();
        assert_eq!(granted, 9, "the floor's 10 tokens, one already taken");
        for _ in 0..50 {
            floor_only.deposit();
        }
        assert_eq!(floor_only.backoff(0), None, "0 % of calls earns nothing");
        // Half of the calls made, no floor.
        let share = Retries::new(0, 0.5, 3);
        assert_eq!(share.backoff(0), None, "nothing earned yet");
        for _ in 0..10 {
            share.deposit();
        }
        let granted = (0..10).filter(|_| share.backoff(1).is_some()).count();
        assert_eq!(granted, 5, "half of 10 calls");
    }
}
