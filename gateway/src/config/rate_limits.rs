//! `[rate_limits]`: how fast and how much at once one principal, and all
//! principals together against one service, may call. Rates are GCRA
//! (requests per second with a burst); absent keys mean no such limit.
//! Validated into [`RateLimitsConfig`]; errors name their key.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    /// Calls per second one principal may make (tools, reads, prompts, completions).
    pub per_principal_per_sec: Option<u32>,
    /// Calls one principal may make at once above its rate (default: one second's worth).
    pub per_principal_burst: Option<u32>,
    /// Calls per second all principals together may make to one service.
    pub per_service_per_sec: Option<u32>,
    pub per_service_burst: Option<u32>,
    /// Calls one principal may have in flight at once, over every service.
    pub max_concurrent_calls_per_principal: Option<usize>,
}

/// A rate: `per_sec` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_sec: u32,
    pub burst: u32,
}

/// Validated `[rate_limits]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitsConfig {
    pub per_principal_opt: Option<Rate>,
    pub per_service_opt: Option<Rate>,
    pub max_concurrent_calls_per_principal_opt: Option<usize>,
}

/// A rate from its two keys (`per_sec_key`, `burst_key`: full key paths);
/// the burst defaults to one second's worth.
fn rate(
    per_sec_key: &str,
    burst_key: &str,
    per_sec_opt: Option<u32>,
    burst_opt: Option<u32>,
    errors: &mut Vec<String>,
) -> Option<Rate> {
    let Some(per_sec) = per_sec_opt else {
        if burst_opt.is_some() {
            errors.push(format!("{burst_key}: needs {per_sec_key}"));
        }
        return None;
    };
    if per_sec == 0 {
        errors.push(format!("{per_sec_key}: must be at least 1"));
    }
    let burst = burst_opt.unwrap_or(per_sec);
    if burst == 0 {
        errors.push(format!("{burst_key}: must be at least 1"));
    }
    Some(Rate {
        per_sec: per_sec.max(1),
        burst: burst.max(1),
    })
}

/// `[services.rate_limits]`: one service's own rates, over the shared
/// `[rate_limits]` — all principals together against it (replacing
/// `rate_limits.per_service_per_sec` for it), and each principal against
/// it (on top of `rate_limits.per_principal_per_sec`, which counts calls
/// to every service).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceRates {
    pub per_sec: Option<u32>,
    pub burst: Option<u32>,
    pub per_principal_per_sec: Option<u32>,
    pub per_principal_burst: Option<u32>,
}

/// One service's validated own rates, with the key paths refusals name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRates {
    /// All principals together against the service, and its key.
    pub service_opt: Option<(Rate, String)>,
    /// Each principal against the service, and its key.
    pub per_principal_opt: Option<(Rate, String)>,
}

/// Validates `services[N].rate_limits` (`key` is `services[N].rate_limits`).
pub fn validate_service_rates(
    raw: RawServiceRates,
    key: &str,
    errors: &mut Vec<String>,
) -> ServiceRates {
    let per_sec_key = format!("{key}.per_sec");
    let per_principal_key = format!("{key}.per_principal_per_sec");
    ServiceRates {
        service_opt: rate(
            &per_sec_key,
            &format!("{key}.burst"),
            raw.per_sec,
            raw.burst,
            errors,
        )
        .map(|rate| (rate, per_sec_key)),
        per_principal_opt: rate(
            &per_principal_key,
            &format!("{key}.per_principal_burst"),
            raw.per_principal_per_sec,
            raw.per_principal_burst,
            errors,
        )
        .map(|rate| (rate, per_principal_key)),
    }
}

/// Validates `[rate_limits]`.
pub fn validate_rate_limits(raw: RawRateLimits, errors: &mut Vec<String>) -> RateLimitsConfig {
    if raw.max_concurrent_calls_per_principal == Some(0) {
        errors.push("rate_limits.max_concurrent_calls_per_principal: must be at least 1".into());
    }
    RateLimitsConfig {
        per_principal_opt: rate(
            "rate_limits.per_principal_per_sec",
            "rate_limits.per_principal_burst",
            raw.per_principal_per_sec,
            raw.per_principal_burst,
            errors,
        ),
        per_service_opt: rate(
            "rate_limits.per_service_per_sec",
            "rate_limits.per_service_burst",
            raw.per_service_per_sec,
            raw.per_service_burst,
            errors,
        ),
        max_concurrent_calls_per_principal_opt: raw.max_concurrent_calls_per_principal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_default_their_burst_and_errors_name_their_keys() {
        let mut errors = Vec::new();
        let config = validate_rate_limits(
            RawRateLimits {
                per_principal_per_sec: Some(10),
                ..RawRateLimits::default()
            },
            &mut errors,
        );
        assert_eq!(
            config.per_principal_opt,
            Some(Rate {
                per_sec: 10,
                burst: 10
            })
        );
        assert!(errors.is_empty() && config.per_service_opt.is_none());
        validate_rate_limits(
            RawRateLimits {
                per_principal_per_sec: Some(0),
                per_service_burst: Some(5),
                max_concurrent_calls_per_principal: Some(0),
                ..RawRateLimits::default()
            },
            &mut errors,
        );
        let joined = errors.join("\n");
        for key in [
            "rate_limits.per_principal_per_sec:",
            "rate_limits.per_service_burst: needs",
            "rate_limits.max_concurrent_calls_per_principal:",
        ] {
            assert!(joined.contains(key), "{key} missing in {joined}");
        }
    }

    #[test]
    fn a_services_own_rates_name_their_entry() {
        let mut errors = Vec::new();
        let rates = validate_service_rates(
            RawServiceRates {
                per_sec: Some(5),
                burst: None,
                per_principal_per_sec: None,
                per_principal_burst: Some(3),
            },
            "services[2].rate_limits",
            &mut errors,
        );
        assert_eq!(
            rates.service_opt,
            Some((
                Rate {
                    per_sec: 5,
                    burst: 5
                },
                "services[2].rate_limits.per_sec".to_owned()
            ))
        );
        assert_eq!(
            errors,
            [
                "services[2].rate_limits.per_principal_burst: needs services[2].rate_limits.per_principal_per_sec"
            ]
        );
    }
}
