//! `[audit]`: where audit records go, how they are rotated and synced, and
//! whether tool arguments are recorded (redacted). Validated into
//! [`AuditConfig`]; errors name their key.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Argument fields redacted by default (matched case-insensitively as
/// parts of the field name).
pub const DEFAULT_REDACT_FIELDS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
];

/// How often records are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every record, before its answer.
    Always,
    /// By a background thread at this interval (only when something was written).
    Interval(Duration),
    /// Left to the kernel.
    Never,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// File to append to, or `-` for standard output; absent = no audit
    /// log (`micromcp up` uses `<state dir>/audit.jsonl`).
    pub path: Option<PathBuf>,
    /// Rotate before the file passes this size (default 100 MiB).
    pub max_bytes: Option<u64>,
    /// Rotated files kept (default 10).
    pub keep: Option<usize>,
    /// `always`, `interval` (default) or `never`.
    pub fsync: Option<String>,
    /// Interval of `fsync = "interval"` (default 1000).
    pub fsync_interval_ms: Option<u64>,
    /// Record `tools/call` arguments (default false).
    #[serde(default)]
    pub include_arguments: bool,
    /// Argument fields to redact (default [`DEFAULT_REDACT_FIELDS`]).
    pub redact_fields: Option<Vec<String>>,
}

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    Off,
    Stdout,
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
}

/// The validated `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub target: AuditTarget,
    pub fsync: FsyncPolicy,
    pub include_arguments: bool,
    /// Lower-case.
    pub redact_fields: Vec<String>,
}

/// Validates `[audit]`.
pub fn validate_audit(audit: RawAudit, errors: &mut Vec<String>) -> AuditConfig {
    let max_bytes = audit.max_bytes.unwrap_or(100 * 1024 * 1024);
    if max_bytes < 4096 {
        errors.push(format!(
            "audit.max_bytes: {max_bytes} is below the minimum of 4096"
        ));
    }
    let keep = audit.keep.unwrap_or(10);
    if !(1..=1000).contains(&keep) {
        errors.push(format!("audit.keep: {keep} is not between 1 and 1000"));
    }
    let interval = Duration::from_millis(audit.fsync_interval_ms.unwrap_or(1000));
    if interval.is_zero() {
        errors.push("audit.fsync_interval_ms: must be at least 1".into());
    }
    let fsync = match audit.fsync.as_deref().unwrap_or("interval") {
        "always" => FsyncPolicy::Always,
        "interval" => FsyncPolicy::Interval(interval),
        "never" => FsyncPolicy::Never,
        other => {
            errors.push(format!(
                "audit.fsync: {other:?} is not one of \"always\", \"interval\", \"never\""
            ));
            FsyncPolicy::Never
        }
    };
    let target = match audit.path {
        None => AuditTarget::Off,
        Some(path) if path.as_os_str() == "-" => AuditTarget::Stdout,
        Some(path) if path.as_os_str().is_empty() || path.is_dir() => {
            errors.push(format!(
                "audit.path: {:?} must name a file (or \"-\" for standard output)",
                path.display()
            ));
            AuditTarget::Off
        }
        Some(path) => AuditTarget::File {
            path,
            max_bytes,
            keep,
        },
    };
    let redact_fields = audit
        .redact_fields
        .unwrap_or_else(|| DEFAULT_REDACT_FIELDS.map(str::to_owned).to_vec())
        .into_iter()
        .map(|field| field.to_ascii_lowercase())
        .collect::<Vec<_>>();
    if redact_fields.iter().any(String::is_empty) {
        errors.push("audit.redact_fields: an empty name would redact every field".into());
    }
    AuditConfig {
        target,
        fsync,
        include_arguments: audit.include_arguments,
        redact_fields,
    }
}
