//! `[limits]`: what one client may hold of the front — connections in
//! total and per source address, and how long the gateway waits for a
//! request's headers (which also bounds an idle keep-alive connection) and
//! its body. Validated into [`LimitsConfig`]; errors name their key.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Client connections held at once, over every front thread.
    pub max_connections: Option<usize>,
    /// Client connections held at once from one source address (0: no
    /// per-source cap, e.g. behind a proxy that is the only source).
    pub max_connections_per_source: Option<usize>,
    /// Seconds a client has to send a request's headers; an idle
    /// keep-alive connection is closed after the same time.
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's whole body.
    pub body_read_timeout_secs: Option<u64>,
}

/// Validated `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    pub max_connections: usize,
    /// `None`: no per-source cap.
    pub max_connections_per_source: Option<usize>,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_source: Some(1024),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Validates `[limits]`.
pub fn validate_limits(limits: RawLimits, errors: &mut Vec<String>) -> LimitsConfig {
    let defaults = LimitsConfig::default();
    let max_connections = limits.max_connections.unwrap_or(defaults.max_connections);
    if !(1..=1_000_000).contains(&max_connections) {
        errors.push(format!(
            "limits.max_connections: {max_connections} is not between 1 and 1000000"
        ));
    }
    let per_source = limits
        .max_connections_per_source
        .unwrap_or(defaults.max_connections_per_source.unwrap_or(0));
    if per_source > max_connections {
        errors.push(format!(
            "limits.max_connections_per_source: {per_source} is above limits.max_connections ({max_connections})"
        ));
    }
    let seconds = |key: &str, value: Option<u64>, default: Duration, errors: &mut Vec<String>| {
        let secs = value.unwrap_or(default.as_secs());
        if !(1..=3600).contains(&secs) {
            errors.push(format!("limits.{key}: {secs} is not between 1 and 3600"));
        }
        Duration::from_secs(secs)
    };
    LimitsConfig {
        max_connections,
        max_connections_per_source: (per_source > 0).then_some(per_source),
        header_read_timeout: seconds(
            "header_read_timeout_secs",
            limits.header_read_timeout_secs,
            defaults.header_read_timeout,
            errors,
        ),
        body_read_timeout: seconds(
            "body_read_timeout_secs",
            limits.body_read_timeout_secs,
            defaults.body_read_timeout,
            errors,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_their_keys() {
        let mut errors = Vec::new();
        assert_eq!(
            validate_limits(RawLimits::default(), &mut errors),
            LimitsConfig::default()
        );
        assert!(errors.is_empty());
        let raw = RawLimits {
            max_connections: Some(0),
            max_connections_per_source: Some(5),
            header_read_timeout_secs: Some(0),
            body_read_timeout_secs: Some(7200),
        };
        validate_limits(raw, &mut errors);
        let joined = errors.join("\n");
        for key in [
            "limits.max_connections:",
            "limits.max_connections_per_source:",
            "limits.header_read_timeout_secs:",
            "limits.body_read_timeout_secs:",
        ] {
            assert!(joined.contains(key), "{key} missing in {joined}");
        }
        let off = RawLimits {
            max_connections_per_source: Some(0),
            ..RawLimits::default()
        };
        assert_eq!(
            validate_limits(off, &mut Vec::new()).max_connections_per_source,
            None
        );
    }
}
