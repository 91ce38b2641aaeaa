//! Consent: tools that need a person's approval before each call —
//! `[[services]] require_approval = ["delete_*", "send_*"]` (globs over the
//! service's own tool names) — and `[consent]`: how long the gateway waits
//! for the answer (`timeout_secs`, default 120; also how long a 2026-07-28
//! approval round stays open) and how long an approval of
//! the same principal, tool and arguments is remembered (`remember_secs`,
//! default 0: ask every time). Errors name their key.

use std::time::Duration;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

/// `[consent]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    pub timeout_secs: Option<u64>,
    pub remember_secs: Option<u64>,
}

/// The validated `[consent]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentConfig {
    pub timeout: Duration,
    pub remember: Duration,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            remember: Duration::ZERO,
        }
    }
}

/// Validates `[consent]`.
pub fn validate_consent(raw: RawConsent, errors: &mut Vec<String>) -> ConsentConfig {
    let timeout_secs = raw.timeout_secs.unwrap_or(120);
    if !(1..=3600).contains(&timeout_secs) {
        errors.push(format!(
            "consent.timeout_secs: {timeout_secs} is not between 1 and 3600"
        ));
    }
    let remember_secs = raw.remember_secs.unwrap_or(0);
    if remember_secs > 86_400 {
        errors.push(format!(
            "consent.remember_secs: {remember_secs} is over 86400 (a day)"
        ));
    }
    ConsentConfig {
        timeout: Duration::from_secs(timeout_secs),
        remember: Duration::from_secs(remember_secs),
    }
}

/// A service's tools that need approval.
#[derive(Debug, Clone, Default)]
pub struct ApprovalRule {
    patterns: Vec<String>,
    matchers: Vec<GlobMatcher>,
}

impl PartialEq for ApprovalRule {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl ApprovalRule {
    /// The rule of `patterns`; an invalid glob is an error naming `key`.
    pub fn parse(patterns: Vec<String>, key: &str, errors: &mut Vec<String>) -> Self {
        let matchers = patterns
            .iter()
            .enumerate()
            .filter_map(|(index, pattern)| match Glob::new(pattern) {
                Ok(glob) => Some(glob.compile_matcher()),
                Err(error) => {
                    errors.push(format!("{key}[{index}]: {pattern:?}: {error}"));
                    None
                }
            })
            .collect();
        Self { patterns, matchers }
    }

    /// The pattern that makes `tool` (the service's own name) need
    /// approval, if one does.
    pub fn requiring(&self, tool: &str) -> Option<&str> {
        self.matchers
            .iter()
            .position(|matcher| matcher.is_match(tool))
            .map(|index| self.patterns[index].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_pick_the_tools_and_bad_ones_are_named() {
        let mut errors = Vec::new();
        let rule = ApprovalRule::parse(
            vec!["delete_*".into(), "send_mail".into()],
            "services[0].require_approval",
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(rule.requiring("delete_file"), Some("delete_*"));
        assert_eq!(rule.requiring("send_mail"), Some("send_mail"));
        assert_eq!(rule.requiring("read_file"), None);
        ApprovalRule::parse(
            vec!["{a".into()],
            "services[1].require_approval",
            &mut errors,
        );
        assert!(
            errors[0].starts_with("services[1].require_approval[0]"),
            "{errors:?}"
        );
        let consent = validate_consent(
            RawConsent {
                timeout_secs: Some(0),
                remember_secs: Some(100_000),
            },
            &mut errors,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(consent.remember, Duration::from_secs(100_000));
    }
}
