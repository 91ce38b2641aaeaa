//! `[limits]`: what one client may hold of the gateway — connections in
//! total and per source address, how long the gateway waits for a
//! request's headers (which also bounds an idle keep-alive connection) and
//! its body, and how many large resource reads may stream at once; how
//! long an answer may wait on a client that stopped reading and how many
//! bytes of answers a connection and a principal may leave untaken; how many
//! requests of one principal are served at once (the rest wait in its
//! line) — at all, and while another principal is active (its fair
//! share) — how many resources one principal may watch, how long a
//! session's watches outlive its GET stream, and how many sessions a
//! replica keeps state for (in all and per principal). Validated into
//! [`LimitsConfig`]; errors name their key.

use std::time::Duration;

use serde::Deserialize;

use super::check_range;

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
    /// Resource reads streamed to clients at once (reads past 1 MiB).
    pub max_streamed_reads: Option<usize>,
    /// Streamed resource reads one principal may have at once.
    pub max_streamed_reads_per_principal: Option<usize>,
    /// Seconds an answer may wait for a client that stopped reading before
    /// it is cut: a streamed read (its backend stream cancelled), or any
    /// write on a connection that made no progress for that long (the
    /// connection is closed).
    pub stalled_reader_timeout_secs: Option<u64>,
    /// Bytes of answers one connection may hold unwritten (not yet taken by
    /// its client) before its next requests are refused (503).
    pub max_unwritten_bytes_per_connection: Option<usize>,
    /// Bytes of answers and request bodies one principal may hold in the
    /// gateway, over all its connections, before its next requests are
    /// refused (503).
    pub max_unwritten_bytes_per_principal: Option<usize>,
    /// Bytes of answers and request bodies all principals together may hold;
    /// past it, a principal holding more than an equal share of it is
    /// refused (503) and the others are still served.
    pub max_unwritten_bytes: Option<usize>,
    /// Requests of one principal served at once; the next wait in its own
    /// line, before their bodies are read (0: no line).
    pub max_requests_in_flight_per_principal: Option<usize>,
    /// Requests of one principal served at once while another principal
    /// is active (came within the last second); the next wait in its own
    /// line, before their bodies are read (0: no fair share).
    pub fair_share_in_flight_per_principal: Option<usize>,
    /// 2025-11-25 sessions this replica keeps state for, in all.
    pub max_sessions: Option<usize>,
    /// 2025-11-25 sessions one principal may have state kept for (past
    /// it, its least recently used idle session's state is dropped).
    pub max_sessions_per_principal: Option<usize>,
    /// Resources one principal may watch at once (2025-11-25
    /// `resources/subscribe` and 2026-07-28 `subscriptions/listen` URIs).
    pub max_watches_per_principal: Option<usize>,
    /// Seconds a 2025-11-25 session's subscriptions outlive its GET stream
    /// (or live without one).
    pub watch_without_stream_secs: Option<u64>,
}

/// Validated `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    pub max_connections: usize,
    /// `None`: no per-source cap.
    pub max_connections_per_source: Option<usize>,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_streamed_reads: usize,
    pub max_streamed_reads_per_principal: usize,
    pub stalled_reader_timeout: Duration,
    pub max_unwritten_bytes_per_connection: usize,
    pub max_unwritten_bytes_per_principal: usize,
    pub max_unwritten_bytes: usize,
    /// `None`: no line.
    pub max_requests_in_flight_per_principal: Option<usize>,
    /// `None`: no fair share.
    pub fair_share_in_flight_per_principal: Option<usize>,
    pub max_watches_per_principal: usize,
    pub watch_without_stream: Duration,
    pub max_sessions: usize,
    pub max_sessions_per_principal: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_source: Some(1024),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_streamed_reads: 256,
            max_streamed_reads_per_principal: 64,
            stalled_reader_timeout: Duration::from_secs(30),
            max_unwritten_bytes_per_connection: 16 << 20,
            max_unwritten_bytes_per_principal: 32 << 20,
            max_unwritten_bytes: 256 << 20,
            max_requests_in_flight_per_principal: None,
            fair_share_in_flight_per_principal: Some(DEFAULT_FAIR_SHARE),
            max_watches_per_principal: 256,
            watch_without_stream: Duration::from_secs(60),
            max_sessions: 10_000,
            max_sessions_per_principal: 1_000,
        }
    }
}

/// Requests of one principal served at once while another is active: a
/// few calls keep a backend's cores busy for it, and the rest of a flood
/// waits unread instead of crowding the others' requests.
pub const DEFAULT_FAIR_SHARE: usize = 8;

/// The least a bound on unwritten bytes may be (one ordinary answer).
const MIN_UNWRITTEN_BYTES: u64 = 64 * 1024;

/// Validates `[limits]`.
pub fn validate_limits(limits: RawLimits, errors: &mut Vec<String>) -> LimitsConfig {
    let defaults = LimitsConfig::default();
    let max_connections = limits.max_connections.unwrap_or(defaults.max_connections);
    check_range(
        errors,
        "limits.max_connections",
        max_connections as u64,
        1..=1_000_000,
    );
    let per_source = limits
        .max_connections_per_source
        .unwrap_or(defaults.max_connections_per_source.unwrap_or(0));
    if per_source > max_connections {
        errors.push(format!(
            "limits.max_connections_per_source: {per_source} is above limits.max_connections ({max_connections})"
        ));
    }
    let max_streamed_reads = limits
        .max_streamed_reads
        .unwrap_or(defaults.max_streamed_reads);
    if max_streamed_reads == 0 {
        errors.push("limits.max_streamed_reads: must be at least 1".into());
    }
    let max_streamed_reads_per_principal = limits
        .max_streamed_reads_per_principal
        .unwrap_or(defaults.max_streamed_reads_per_principal);
    check_range(
        errors,
        "limits.max_streamed_reads_per_principal",
        max_streamed_reads_per_principal as u64,
        1..=max_streamed_reads.max(1) as u64,
    );
    let in_flight = limits
        .max_requests_in_flight_per_principal
        .or(defaults.max_requests_in_flight_per_principal)
        .unwrap_or(0);
    check_range(
        errors,
        "limits.max_requests_in_flight_per_principal",
        in_flight as u64,
        0..=100_000,
    );
    let fair_share = limits
        .fair_share_in_flight_per_principal
        .unwrap_or(DEFAULT_FAIR_SHARE);
    check_range(
        errors,
        "limits.fair_share_in_flight_per_principal",
        fair_share as u64,
        0..=100_000,
    );
    let max_unwritten_bytes_per_connection = limits
        .max_unwritten_bytes_per_connection
        .unwrap_or(defaults.max_unwritten_bytes_per_connection);
    check_range(
        errors,
        "limits.max_unwritten_bytes_per_connection",
        max_unwritten_bytes_per_connection as u64,
        MIN_UNWRITTEN_BYTES..=1 << 40,
    );
    let max_unwritten_bytes_per_principal = limits
        .max_unwritten_bytes_per_principal
        .unwrap_or(defaults.max_unwritten_bytes_per_principal);
    check_range(
        errors,
        "limits.max_unwritten_bytes_per_principal",
        max_unwritten_bytes_per_principal as u64,
        MIN_UNWRITTEN_BYTES..=1 << 40,
    );
    let max_unwritten_bytes = limits
        .max_unwritten_bytes
        .unwrap_or(defaults.max_unwritten_bytes);
    check_range(
        errors,
        "limits.max_unwritten_bytes",
        max_unwritten_bytes as u64,
        (max_unwritten_bytes_per_principal as u64).max(MIN_UNWRITTEN_BYTES)..=1 << 40,
    );
    let max_watches_per_principal = limits
        .max_watches_per_principal
        .unwrap_or(defaults.max_watches_per_principal);
    check_range(
        errors,
        "limits.max_watches_per_principal",
        max_watches_per_principal as u64,
        1..=100_000,
    );
    let max_sessions = limits.max_sessions.unwrap_or(defaults.max_sessions);
    check_range(
        errors,
        "limits.max_sessions",
        max_sessions as u64,
        1..=10_000_000,
    );
    let max_sessions_per_principal = limits
        .max_sessions_per_principal
        .unwrap_or(defaults.max_sessions_per_principal.min(max_sessions));
    check_range(
        errors,
        "limits.max_sessions_per_principal",
        max_sessions_per_principal as u64,
        1..=max_sessions.max(1) as u64,
    );
    let seconds = |key: &str, value: Option<u64>, default: Duration, errors: &mut Vec<String>| {
        let secs = value.unwrap_or(default.as_secs());
        check_range(errors, &format!("limits.{key}"), secs, 1..=3600);
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
        max_streamed_reads,
        max_streamed_reads_per_principal,
        stalled_reader_timeout: seconds(
            "stalled_reader_timeout_secs",
            limits.stalled_reader_timeout_secs,
            defaults.stalled_reader_timeout,
            errors,
        ),
        max_unwritten_bytes_per_connection,
        max_unwritten_bytes_per_principal,
        max_unwritten_bytes,
        max_requests_in_flight_per_principal: (in_flight > 0).then_some(in_flight),
        fair_share_in_flight_per_principal: (fair_share > 0).then_some(fair_share),
        max_watches_per_principal,
        watch_without_stream: seconds(
            "watch_without_stream_secs",
            limits.watch_without_stream_secs,
            defaults.watch_without_stream,
            errors,
        ),
        max_sessions,
        max_sessions_per_principal,
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
            max_streamed_reads: Some(0),
            max_streamed_reads_per_principal: Some(9),
            stalled_reader_timeout_secs: Some(0),
            max_unwritten_bytes_per_connection: Some(10),
            max_unwritten_bytes_per_principal: Some(0),
            max_unwritten_bytes: Some(10),
            max_requests_in_flight_per_principal: Some(1_000_000),
            fair_share_in_flight_per_principal: Some(1_000_000),
            max_watches_per_principal: Some(0),
            watch_without_stream_secs: Some(0),
            max_sessions: Some(0),
            max_sessions_per_principal: Some(5),
        };
        validate_limits(raw, &mut errors);
        let joined = errors.join("\n");
        for key in [
            "limits.max_connections:",
            "limits.max_connections_per_source:",
            "limits.header_read_timeout_secs:",
            "limits.body_read_timeout_secs:",
            "limits.max_streamed_reads:",
            "limits.max_streamed_reads_per_principal:",
            "limits.stalled_reader_timeout_secs:",
            "limits.max_unwritten_bytes_per_connection:",
            "limits.max_unwritten_bytes_per_principal:",
            "limits.max_unwritten_bytes:",
            "limits.max_requests_in_flight_per_principal:",
            "limits.fair_share_in_flight_per_principal:",
            "limits.max_watches_per_principal:",
            "limits.watch_without_stream_secs:",
            "limits.max_sessions:",
            "limits.max_sessions_per_principal:",
        ] {
            assert!(joined.contains(key), "{key} missing in {joined}");
        }
        let off = RawLimits {
            max_connections_per_source: Some(0),
            max_requests_in_flight_per_principal: Some(0),
            fair_share_in_flight_per_principal: Some(0),
            ..RawLimits::default()
        };
        let off = validate_limits(off, &mut Vec::new());
        assert_eq!(off.max_connections_per_source, None);
        assert_eq!(off.max_requests_in_flight_per_principal, None);
        assert_eq!(off.fair_share_in_flight_per_principal, None);
    }
}
