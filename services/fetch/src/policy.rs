//! `UrlPolicy`: which URLs and addresses a fetch may reach.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::FetchError;

/// Why an address is special (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    Private,
    LinkLocal,
    Multicast,
    Unspecified,
    Broadcast,
    SharedAddressSpace,
    Reserved,
    Ipv4Mapped,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private network",
            Self::LinkLocal => "link-local",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::SharedAddressSpace => "shared address space",
            Self::Reserved => "reserved",
            Self::Ipv4Mapped => "IPv4-mapped IPv6 of a non-public address",
        })
    }
}

fn classify_v4(address: Ipv4Addr) -> AddressClass {
    let [first, second, ..] = address.octets();
    if address.is_unspecified() || first == 0 {
        AddressClass::Unspecified
    } else if address.is_loopback() {
        AddressClass::Loopback
    } else if address.is_private() {
        AddressClass::Private
    } else if address.is_link_local() {
        AddressClass::LinkLocal
    } else if address.is_multicast() {
        AddressClass::Multicast
    } else if address.is_broadcast() {
        AddressClass::Broadcast
    } else if first == 100 && (64..128).contains(&second) {
        AddressClass::SharedAddressSpace
    } else if first >= 240
        || (first == 192 && second == 0 && address.octets()[2] == 0)
        || (first == 198 && (18..20).contains(&second))
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(address: Ipv6Addr) -> AddressClass {
    if let Some(mapped) = address.to_ipv4_mapped() {
        return match classify_v4(mapped) {
            AddressClass::Public => AddressClass::Public,
            _ => AddressClass::Ipv4Mapped,
        };
    }
    let segments = address.segments();
    if address.is_unspecified() {
        AddressClass::Unspecified
    } else if address.is_loopback() {
        AddressClass::Loopback
    } else if address.is_multicast() {
        AddressClass::Multicast
    } else if segments[0] & 0xfe00 == 0xfc00 {
        AddressClass::Private
    } else if segments[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if segments[..6] == [0, 0, 0, 0, 0, 0] || (segments[0] == 0x64 && segments[1] == 0xff9b)
    {
        // IPv4-compatible (deprecated) and NAT64 addresses reach IPv4 space.
        AddressClass::Ipv4Mapped
    } else {
        AddressClass::Public
    }
}

/// Classifies an address for the SSRF policy.
pub fn classify_address(address: IpAddr) -> AddressClass {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Checks one allowed-domain entry before it is used: a host name
/// (`docs.rs`), an IP literal, or `*.suffix` (`*.wikipedia.org`). A URL is
/// refused with the host it names, since it could never match.
pub fn check_domain_pattern(pattern: &str) -> Result<(), String> {
    let trimmed = pattern.trim();
    if let Some((_, rest)) = trimmed.split_once("://") {
        let host = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default();
        let host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|byte| byte.is_ascii_digit()))
            .map_or(host, |(name, _)| name);
        return Err(format!(
            "expected a host name or *.suffix, got a URL; did you mean {host}?"
        ));
    }
    let unbracketed = trimmed.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = trimmed.strip_prefix("*.").unwrap_or(trimmed);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && name.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' || byte == b'_'
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "expected a host name (example.com) or *.suffix (*.example.com), got {pattern:?}"
        ))
    }
}

/// The allowlist and address policy.
#[derive(Debug, Clone)]
pub struct UrlPolicy {
    exact: Vec<String>,
    suffixes: Vec<String>,
    allow_private_addresses: bool,
}

impl UrlPolicy {
    /// Builds the policy; patterns are lowercased; `*.x` matches subdomains of `x`.
    pub fn new(allow_domains: &[String], allow_private_addresses: bool) -> Self {
        let mut exact = Vec::new();
        let mut suffixes = Vec::new();
        for pattern in allow_domains {
            let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
            // IP literals compare by address, whatever notation they were written in.
            let unbracketed = pattern.trim_start_matches('[').trim_end_matches(']');
            if let Ok(address) = unbracketed.parse::<IpAddr>() {
                exact.push(match address {
                    IpAddr::V4(v4) => v4.to_string(),
                    IpAddr::V6(v6) => format!("[{v6}]"),
                });
                continue;
            }
            match pattern.strip_prefix("*.") {
                Some(suffix) if !suffix.is_empty() => suffixes.push(format!(".{suffix}")),
                _ if !pattern.is_empty() => exact.push(pattern),
                _ => {}
            }
        }
        Self {
            exact,
            suffixes,
            allow_private_addresses,
        }
    }

    /// True when `host` (lowercase, no port) is on the allowlist.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.exact.iter().any(|allowed| allowed == host)
            || self
                .suffixes
                .iter()
                .any(|suffix| host.ends_with(suffix.as_str()))
    }

    /// Refuses addresses outside the public internet unless allowed.
    pub fn check_address(&self, host: &str, address: IpAddr) -> Result<(), FetchError> {
        let class = classify_address(address);
        if class == AddressClass::Public || self.allow_private_addresses {
            return Ok(());
        }
        Err(FetchError::AddressNotAllowed {
            host: host.to_owned(),
            address,
            class,
        })
    }

    /// Checks scheme, host allowlist and (for IP literals) the address.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::InvalidUrl {
                url: url.to_string(),
                reason: "credentials in URLs are not allowed".into(),
            });
        }
        let host = url.host().ok_or_else(|| FetchError::InvalidUrl {
            url: url.to_string(),
            reason: "no host".into(),
        })?;
        let host_text = match &host {
            Host::Domain(domain) => domain.to_ascii_lowercase(),
            Host::Ipv4(v4) => v4.to_string(),
            Host::Ipv6(v6) => format!("[{v6}]"),
        };
        if !self.host_allowed(&host_text) {
            return Err(FetchError::DomainNotAllowed(host_text));
        }
        match host {
            Host::Ipv4(v4) => self.check_address(&host_text, IpAddr::V4(v4)),
            Host::Ipv6(v6) => self.check_address(&host_text, IpAddr::V6(v6)),
            Host::Domain(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domains: &[&str]) -> UrlPolicy {
        UrlPolicy::new(
            &domains
                .iter()
                .map(|domain| (*domain).to_owned())
                .collect::<Vec<_>>(),
            false,
        )
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    #[test]
    fn allowlist_matches_exact_hosts_and_suffixes() {
        let policy = policy(&["docs.rs", "*.example.com"]);
        assert!(policy.check_url(&url("https://docs.rs/x")).is_ok());
        assert!(policy.check_url(&url("https://DOCS.rs/x")).is_ok());
        assert!(policy.check_url(&url("https://a.example.com/")).is_ok());
        assert!(policy.check_url(&url("https://a.b.example.com/")).is_ok());
        assert!(matches!(
            policy.check_url(&url("https://example.com/")),
            Err(FetchError::DomainNotAllowed(_))
        ));
        assert!(matches!(
            policy.check_url(&url("https://evilexample.com/")),
            Err(FetchError::DomainNotAllowed(_))
        ));
        assert!(matches!(
            policy.check_url(&url("https://docs.rs.evil.com/")),
            Err(FetchError::DomainNotAllowed(_))
        ));
        assert!(
            UrlPolicy::new(&[], false)
                .check_url(&url("https://docs.rs/"))
                .is_err(),
            "empty allows nothing"
        );
    }

    #[test]
    fn schemes_and_credentials_are_refused() {
        let policy = policy(&["docs.rs"]);
        assert!(matches!(
            policy.check_url(&url("ftp://docs.rs/")),
            Err(FetchError::Scheme(_))
        ));
        assert!(matches!(
            policy.check_url(&url("file:///etc/passwd")),
            Err(FetchError::Scheme(_))
        ));
        assert!(policy.check_url(&url("https://user:pw@docs.rs/")).is_err());
    }

    #[test]
    fn tricky_ip_literals_are_classified() {
        let everything = policy(&[
            "127.0.0.1",
            "0.0.0.0",
            "[::ffff:7f00:1]",
            "[::1]",
            "169.254.169.254",
            "10.0.0.1",
            "[::7f00:1]",
        ]);
        for (text, class) in [
            ("http://2130706433/", AddressClass::Loopback),
            ("http://0x7f.1/", AddressClass::Loopback),
            ("http://0/", AddressClass::Unspecified),
            ("http://[::ffff:127.0.0.1]/", AddressClass::Ipv4Mapped),
            ("http://[::1]/", AddressClass::Loopback),
            (
                "http://169.254.169.254/latest/meta-data",
                AddressClass::LinkLocal,
            ),
            ("http://10.0.0.1/", AddressClass::Private),
            ("http://[::127.0.0.1]/", AddressClass::Ipv4Mapped),
        ] {
            match everything.check_url(&url(text)) {
                Err(FetchError::AddressNotAllowed { class: found, .. }) => {
                    assert_eq!(found, class, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn public_addresses_pass_and_private_ones_can_be_allowed() {
        assert_eq!(
            classify_address("93.184.216.34".parse().expect("ip")),
            AddressClass::Public
        );
        assert_eq!(
            classify_address("100.64.0.1".parse().expect("ip")),
            AddressClass::SharedAddressSpace
        );
        assert_eq!(
            classify_address("fd00::1".parse().expect("ip")),
            AddressClass::Private
        );
        assert_eq!(
            classify_address("ff02::1".parse().expect("ip")),
            AddressClass::Multicast
        );
        assert_eq!(
            classify_address(
                "[64:ff9b::7f00:1]"
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse()
                    .expect("ip")
            ),
            AddressClass::Ipv4Mapped
        );
        let permissive = UrlPolicy::new(&["127.0.0.1".to_owned()], true);
        assert!(permissive.check_url(&url("http://127.0.0.1:8080/")).is_ok());
    }

    #[test]
    fn domain_patterns_are_hosts_or_suffixes_never_urls() {
        for good in [
            "docs.rs",
            "*.wikipedia.org",
            "localhost",
            "10.0.0.1",
            "[::1]",
            "my_host.internal",
        ] {
            assert_eq!(check_domain_pattern(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_domain_pattern("https://docs.rs/"),
            Err("expected a host name or *.suffix, got a URL; did you mean docs.rs?".into())
        );
        assert_eq!(
            check_domain_pattern("http://user@example.com:8080/x"),
            Err("expected a host name or *.suffix, got a URL; did you mean example.com?".into())
        );
        for bad in [
            "",
            "*.",
            "docs.rs/crates",
            "a..b",
            "*",
            "ex ample.com",
            "*.*.x",
        ] {
            assert!(check_domain_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
