//! `[backends]`: the resilience stack every service gets — how many calls
//! may run and wait at once, when its circuit breaker opens and for how
//! long, and how safe operations are retried. Validated into [`BackendsConfig`]; errors name their key.

use std::time::Duration;

use serde::Deserialize;

use super::check_range;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackends {
    /// Calls one service may have running at once.
    pub max_concurrent_calls: Option<usize>,
    /// Calls that may wait for a place; past it calls are shed at once.
    pub max_queued_calls: Option<usize>,
    /// Failures in a row that open a service's breaker.
    pub breaker_consecutive_failures: Option<u32>,
    /// Failure rate (percent) over the last `breaker_window_calls` calls
    /// that opens it.
    pub breaker_failure_rate_percent: Option<u32>,
    pub breaker_window_calls: Option<u32>,
    /// Seconds an open breaker refuses calls before letting a probe through.
    pub breaker_open_secs: Option<u64>,
    /// Retries of a safe operation (read, prompt, completion) that failed
    /// as unavailable; 0 turns retries off.
    pub max_retries: Option<u32>,
    /// Retries allowed as a share of recent calls (percent) …
    pub retry_budget_percent: Option<u32>,
    /// … plus this many a second whatever the traffic.
    pub retry_min_per_sec: Option<u32>,
}

/// Validated `[backends]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendsConfig {
    pub max_concurrent_calls: usize,
    pub max_queued_calls: usize,
    pub breaker_consecutive_failures: u32,
    pub breaker_failure_rate_percent: u32,
    pub breaker_window_calls: u32,
    pub breaker_open: Duration,
    pub max_retries: u32,
    pub retry_budget_percent: u32,
    pub retry_min_per_sec: u32,
}

impl Default for BackendsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 512,
            max_queued_calls: 1024,
            breaker_consecutive_failures: 10,
            breaker_failure_rate_percent: 50,
            breaker_window_calls: 50,
            breaker_open: Duration::from_secs(5),
            max_retries: 1,
            retry_budget_percent: 20,
            retry_min_per_sec: 5,
        }
    }
}

/// Validates `[backends]`.
pub fn validate_backends(raw: RawBackends, errors: &mut Vec<String>) -> BackendsConfig {
    let defaults = BackendsConfig::default();
    let config = BackendsConfig {
        max_concurrent_calls: raw
            .max_concurrent_calls
            .unwrap_or(defaults.max_concurrent_calls),
        max_queued_calls: raw.max_queued_calls.unwrap_or(defaults.max_queued_calls),
        breaker_consecutive_failures: raw
            .breaker_consecutive_failures
            .unwrap_or(defaults.breaker_consecutive_failures),
        breaker_failure_rate_percent: raw
            .breaker_failure_rate_percent
            .unwrap_or(defaults.breaker_failure_rate_percent),
        breaker_window_calls: raw
            .breaker_window_calls
            .unwrap_or(defaults.breaker_window_calls),
        breaker_open: raw
            .breaker_open_secs
            .map_or(defaults.breaker_open, Duration::from_secs),
        max_retries: raw.max_retries.unwrap_or(defaults.max_retries),
        retry_budget_percent: raw
            .retry_budget_percent
            .unwrap_or(defaults.retry_budget_percent),
        retry_min_per_sec: raw.retry_min_per_sec.unwrap_or(defaults.retry_min_per_sec),
    };
    check_range(
        errors,
        "backends.max_concurrent_calls",
        config.max_concurrent_calls as u64,
        1..=1_000_000,
    );
    check_range(
        errors,
        "backends.max_queued_calls",
        config.max_queued_calls as u64,
        0..=1_000_000,
    );
    check_range(
        errors,
        "backends.breaker_consecutive_failures",
        u64::from(config.breaker_consecutive_failures),
        1..=100_000,
    );
    check_range(
        errors,
        "backends.breaker_failure_rate_percent",
        u64::from(config.breaker_failure_rate_percent),
        1..=100,
    );
    check_range(
        errors,
        "backends.breaker_window_calls",
        u64::from(config.breaker_window_calls),
        1..=100_000,
    );
    check_range(
        errors,
        "backends.breaker_open_secs",
        config.breaker_open.as_secs(),
        1..=3600,
    );
    check_range(
        errors,
        "backends.max_retries",
        u64::from(config.max_retries),
        0..=5,
    );
    check_range(
        errors,
        "backends.retry_budget_percent",
        u64::from(config.retry_budget_percent),
        0..=100,
    );
    check_range(
        errors,
        "backends.retry_min_per_sec",
        u64::from(config.retry_min_per_sec),
        0..=10_000,
    );
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_their_keys() {
        let mut errors = Vec::new();
        assert_eq!(
            validate_backends(RawBackends::default(), &mut errors),
            BackendsConfig::default()
        );
        assert!(errors.is_empty());
        let raw = RawBackends {
            max_concurrent_calls: Some(0),
            max_queued_calls: None,
            breaker_consecutive_failures: Some(0),
            breaker_failure_rate_percent: Some(101),
            breaker_window_calls: Some(0),
            breaker_open_secs: Some(0),
            max_retries: Some(9),
            retry_budget_percent: Some(101),
            retry_min_per_sec: None,
        };
        validate_backends(raw, &mut errors);
        let joined = errors.join("\n");
        for key in [
            "backends.max_concurrent_calls:",
            "backends.breaker_consecutive_failures:",
            "backends.breaker_failure_rate_percent:",
            "backends.breaker_window_calls:",
            "backends.breaker_open_secs:",
            "backends.max_retries:",
            "backends.retry_budget_percent:",
        ] {
            assert!(joined.contains(key), "{key} missing in {joined}");
        }
    }
}
