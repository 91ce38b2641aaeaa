//! `[backends]`: the resilience stack every service gets — how many calls
//! may run and wait at once, when its circuit breaker opens and for how
//! long, how safe operations are retried, and, for services with several
//! endpoints, when an endpoint is ejected, how often it is health-checked
//! and how often a `dns:` name is re-resolved. Validated into
//! [`BackendsConfig`]; errors name their key.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;

use super::check_range;

#[derive(Debug, Default, Clone, Deserialize)]
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
    /// Failures in a row (after the request was sent) that eject one
    /// endpoint of a service with several; a failed dial ejects at once.
    pub eject_after_failures: Option<u32>,
    /// Seconds an ejected endpoint gets no calls (times the ejections in a
    /// row, up to 6×) unless a health check finds it serving sooner.
    pub eject_secs: Option<u64>,
    /// Seconds between `grpc.health.v1` checks of each endpoint of a
    /// service with several; 0 turns them off.
    pub health_check_secs: Option<u64>,
    /// Seconds between resolutions of a `dns:///host:port` endpoint.
    pub dns_refresh_secs: Option<u64>,
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
    pub eject_after_failures: u32,
    pub eject_for: Duration,
    /// `None`: no health checks.
    pub health_check_every: Option<Duration>,
    pub dns_refresh: Duration,
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
            eject_after_failures: 3,
            eject_for: Duration::from_secs(10),
            health_check_every: Some(Duration::from_secs(5)),
            dns_refresh: Duration::from_secs(10),
        }
    }
}

/// Validates `[backends]` (`prefix` = `backends`) over the defaults, or a
/// service's own `backends` table (`prefix` = `services[N].backends`) over
/// the validated `[backends]`.
pub fn validate_backends(
    raw: RawBackends,
    defaults: &BackendsConfig,
    prefix: &str,
    errors: &mut Vec<String>,
) -> BackendsConfig {
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
        eject_after_failures: raw
            .eject_after_failures
            .unwrap_or(defaults.eject_after_failures),
        eject_for: raw
            .eject_secs
            .map_or(defaults.eject_for, Duration::from_secs),
        health_check_every: match raw.health_check_secs {
            None => defaults.health_check_every,
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
        },
        dns_refresh: raw
            .dns_refresh_secs
            .map_or(defaults.dns_refresh, Duration::from_secs),
    };
    let ranges: [(&str, u64, RangeInclusive<u64>); 13] = [
        (
            "max_concurrent_calls",
            config.max_concurrent_calls as u64,
            1..=1_000_000,
        ),
        (
            "max_queued_calls",
            config.max_queued_calls as u64,
            0..=1_000_000,
        ),
        (
            "breaker_consecutive_failures",
            u64::from(config.breaker_consecutive_failures),
            1..=100_000,
        ),
        (
            "breaker_failure_rate_percent",
            u64::from(config.breaker_failure_rate_percent),
            1..=100,
        ),
        (
            "breaker_window_calls",
            u64::from(config.breaker_window_calls),
            1..=100_000,
        ),
        ("breaker_open_secs", config.breaker_open.as_secs(), 1..=3600),
        ("max_retries", u64::from(config.max_retries), 0..=5),
        (
            "retry_budget_percent",
            u64::from(config.retry_budget_percent),
            0..=100,
        ),
        (
            "retry_min_per_sec",
            u64::from(config.retry_min_per_sec),
            0..=10_000,
        ),
        (
            "eject_after_failures",
            u64::from(config.eject_after_failures),
            1..=10_000,
        ),
        ("eject_secs", config.eject_for.as_secs(), 1..=3600),
        (
            "health_check_secs",
            config.health_check_every.map_or(0, |every| every.as_secs()),
            0..=3600,
        ),
        ("dns_refresh_secs", config.dns_refresh.as_secs(), 1..=3600),
    ];
    for (key, value, range) in ranges {
        check_range(errors, &format!("{prefix}.{key}"), value, range);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_their_keys() {
        let mut errors = Vec::new();
        let defaults = BackendsConfig::default();
        assert_eq!(
            validate_backends(RawBackends::default(), &defaults, "backends", &mut errors),
            defaults
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
            eject_after_failures: Some(0),
            eject_secs: Some(0),
            health_check_secs: Some(3601),
            dns_refresh_secs: Some(0),
        };
        validate_backends(raw, &BackendsConfig::default(), "backends", &mut errors);
        let joined = errors.join("\n");
        for key in [
            "backends.max_concurrent_calls:",
            "backends.breaker_consecutive_failures:",
            "backends.breaker_failure_rate_percent:",
            "backends.breaker_window_calls:",
            "backends.breaker_open_secs:",
            "backends.max_retries:",
            "backends.retry_budget_percent:",
            "backends.eject_after_failures:",
            "backends.eject_secs:",
            "backends.health_check_secs:",
            "backends.dns_refresh_secs:",
        ] {
            assert!(joined.contains(key), "{key} missing in {joined}");
        }
    }
}

#[cfg(test)]
mod override_tests {
    use super::*;

    #[test]
    fn a_service_table_overrides_the_shared_one_key_by_key() {
        let mut errors = Vec::new();
        let shared = validate_backends(
            RawBackends {
                max_concurrent_calls: Some(100),
                max_retries: Some(0),
                ..RawBackends::default()
            },
            &BackendsConfig::default(),
            "backends",
            &mut errors,
        );
        let own = validate_backends(
            RawBackends {
                max_concurrent_calls: Some(4),
                max_queued_calls: Some(0),
                ..RawBackends::default()
            },
            &shared,
            "services[2].backends",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            (
                own.max_concurrent_calls,
                own.max_queued_calls,
                own.max_retries
            ),
            (4, 0, 0),
            "own keys win, the rest come from [backends]"
        );
        validate_backends(
            RawBackends {
                eject_secs: Some(0),
                ..RawBackends::default()
            },
            &shared,
            "services[2].backends",
            &mut errors,
        );
        assert_eq!(
            errors,
            vec!["services[2].backends.eject_secs: 0 is not between 1 and 3600".to_owned()]
        );
    }
}
