//! `FetchConfig`: the allowlist and limits of one fetch service.

use std::time::Duration;

/// Settings of one fetch service.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Allowed hosts: `example.com` (exactly) or `*.example.com` (any
    /// subdomain). Empty allows nothing.
    pub allow_domains: Vec<String>,
    /// Allow private, loopback and link-local targets (tests, intranets).
    pub allow_private_addresses: bool,
    /// Largest response body read, in bytes.
    pub max_bytes: u64,
    /// Time limit for the whole fetch, redirects included.
    pub timeout: Duration,
    /// Most redirects followed.
    pub max_redirects: usize,
}

impl FetchConfig {
    /// Default limits over `allow_domains`.
    pub fn with_domains(allow_domains: Vec<String>) -> Self {
        Self {
            allow_domains,
            allow_private_addresses: false,
            max_bytes: 5 * 1024 * 1024,
            timeout: Duration::from_secs(20),
            max_redirects: 5,
        }
    }
}
