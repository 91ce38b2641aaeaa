//! `gateway.allowed_hosts`: the names a request's `Host` (and a browser's
//! `Origin`) may carry — exact names, `*.suffix` patterns (any name under
//! that suffix, e.g. `*.svc.cluster.local` for a Kubernetes Service in any
//! namespace) or `*` (every name: no DNS-rebinding protection). Validated
//! here; [`HostPattern::matches`] is the one comparison the front uses.

use std::net::SocketAddr;

/// One entry of `gateway.allowed_hosts`, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Every host.
    Any,
    /// Names strictly under this suffix (kept with its leading dot).
    Suffix(String),
    /// This name (or bracketed IPv6 address).
    Exact(String),
}

impl HostPattern {
    /// True when `host` (lowercased, without port) is allowed by this entry.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
            Self::Exact(name) => name == host,
        }
    }

    /// The entry as configured.
    pub fn as_text(&self) -> String {
        match self {
            Self::Any => "*".into(),
            Self::Suffix(suffix) => format!("*{suffix}"),
            Self::Exact(name) => name.clone(),
        }
    }
}

/// Validates `gateway.allowed_hosts` (default: the loopback names) and adds
/// the listen address's own host when it is not unspecified.
pub fn validate_allowed_hosts(
    configured_opt: Option<Vec<String>>,
    listen: SocketAddr,
    errors: &mut Vec<String>,
) -> Vec<HostPattern> {
    let configured = configured_opt
        .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()]);
    let mut patterns = Vec::with_capacity(configured.len() + 1);
    for (index, entry) in configured.iter().enumerate() {
        match parse_pattern(entry) {
            Ok(pattern) => patterns.push(pattern),
            Err(problem) => errors.push(format!(
                "gateway.allowed_hosts[{index}]: {entry:?} {problem}"
            )),
        }
    }
    if !listen.ip().is_unspecified() {
        let own = match listen {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        patterns.push(HostPattern::Exact(own));
    }
    patterns
}

fn parse_pattern(entry: &str) -> Result<HostPattern, String> {
    let lowered = entry.trim().to_ascii_lowercase();
    if lowered == "*" {
        return Ok(HostPattern::Any);
    }
    if lowered.contains("://") || lowered.contains('/') {
        return Err("is a URL; expected a host name (without scheme, port or path)".into());
    }
    if let Some(suffix) = lowered.strip_prefix("*.") {
        check_name(suffix)?;
        return Ok(HostPattern::Suffix(format!(".{suffix}")));
    }
    if lowered.starts_with('[') && lowered.ends_with(']') {
        return lowered[1..lowered.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .map(|_| HostPattern::Exact(lowered.clone()))
            .map_err(|_| "is not a bracketed IPv6 address".into());
    }
    if lowered.contains(':') {
        return Err("has a port or is an IPv6 address without brackets; ports are not compared, write the host alone (IPv6 as [::1])".into());
    }
    check_name(&lowered)?;
    Ok(HostPattern::Exact(lowered))
}

fn check_name(name: &str) -> Result<(), String> {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err("is not a host name or *.suffix pattern".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(entries: &[&str]) -> (Vec<HostPattern>, Vec<String>) {
        let mut errors = Vec::new();
        let listen = SocketAddr::from(([0, 0, 0, 0], 8080));
        let found = validate_allowed_hosts(
            Some(entries.iter().map(|entry| (*entry).to_owned()).collect()),
            listen,
            &mut errors,
        );
        (found, errors)
    }

    #[test]
    fn suffix_patterns_match_names_strictly_under_them() {
        let (found, errors) = patterns(&["*.svc.cluster.local", "micromcp", "[::1]"]);
        assert!(errors.is_empty(), "{errors:?}");
        let allowed = |host: &str| found.iter().any(|pattern| pattern.matches(host));
        assert!(allowed("micromcp.tools.svc.cluster.local"));
        assert!(allowed("micromcp"));
        assert!(allowed("[::1]"));
        assert!(!allowed("svc.cluster.local"));
        assert!(!allowed("evil-svc.cluster.local"));
        assert!(!allowed("micromcp.evil.example"));
    }

    #[test]
    fn malformed_entries_name_their_index() {
        let (_, errors) = patterns(&[
            "localhost",
            "https://micromcp.example/",
            "micromcp:8080",
            "*.",
            "a..b",
        ]);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("gateway.allowed_hosts[1]: \"https://micromcp.example/\" is a URL")
        );
        assert!(errors[1].starts_with("gateway.allowed_hosts[2]"));
        assert!(errors[2].starts_with("gateway.allowed_hosts[3]"));
        assert!(errors[3].starts_with("gateway.allowed_hosts[4]"));
    }
}
