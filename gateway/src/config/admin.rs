//! `[admin]`: the admin listener (`/metrics`, `/healthz`, `/readyz`, the
//! API) — where it listens (`127.0.0.1:9464` unless set; `"off"` for none),
//! the file holding its own token (or `MICROMCP_ADMIN_TOKEN`) and the file
//! keeping services registered at run time (`micromcp up`: in its state
//! directory unless set), the MCP registry servers are imported from, and
//! whether a reload may leave no service at all. Beyond loopback
//! it needs that token; the process checks this at start, where it sees the
//! environment. Validated into [`AdminConfig`]; errors name their key.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Where the admin listener goes when `admin.listen` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9464";

/// The MCP registry searched and imported from unless `admin.registry_url`
/// names another (one speaking the same API).
pub const DEFAULT_REGISTRY_URL: &str = "https://registry.modelcontextprotocol.io";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `host:port`, or `"off"`.
    pub listen: Option<String>,
    /// A file holding the admin token (plaintext, like `auth.token_file`).
    pub token_file: Option<PathBuf>,
    /// Where services registered at run time are kept.
    pub registrations_file: Option<PathBuf>,
    /// An MCP registry (`/v0.1/servers`) to import servers from.
    pub registry_url: Option<String>,
    /// Where approved tool definitions are kept.
    pub tool_pins_file: Option<PathBuf>,
    /// A reload that leaves no service at all is meant (refused otherwise).
    #[serde(default)]
    pub allow_empty_reload: bool,
}

/// The validated `[admin]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where to listen; `None` when off.
    pub listen: Option<SocketAddr>,
    /// True when `admin.listen` was set (a failure to listen then stops the
    /// start; on the default address it is only warned about).
    pub listen_configured: bool,
    pub token_file: Option<PathBuf>,
    /// Where services registered at run time are kept (none: no run-time
    /// registrations).
    pub registrations_file: Option<PathBuf>,
    /// The MCP registry servers are imported from.
    pub registry_url: String,
    /// Where approved tool definitions are kept (none: for the process's life).
    pub tool_pins_file: Option<PathBuf>,
    /// A reload may remove every service (else such a reload is refused).
    pub allow_empty_reload: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_ADMIN_LISTEN.parse().ok(),
            listen_configured: false,
            token_file: None,
            registrations_file: None,
            registry_url: DEFAULT_REGISTRY_URL.to_owned(),
            tool_pins_file: None,
            allow_empty_reload: false,
        }
    }
}

/// Validates `[admin]`.
pub fn validate_admin(raw: RawAdmin, errors: &mut Vec<String>) -> AdminConfig {
    let listen_configured = raw.listen.is_some();
    let text = raw
        .listen
        .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_owned());
    let listen = if text == "off" {
        None
    } else {
        match text.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(error) => {
                errors.push(format!(
                    "admin.listen: {text:?} is not an address (host:port) or \"off\": {error}"
                ));
                None
            }
        }
    };
    let registry_url = raw
        .registry_url
        .unwrap_or_else(|| DEFAULT_REGISTRY_URL.to_owned());
    let is_http = url::Url::parse(&registry_url)
        .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some());
    if !is_http {
        errors.push(format!(
            "admin.registry_url: {registry_url:?} is not an http(s) URL"
        ));
    }
    AdminConfig {
        listen,
        listen_configured,
        token_file: raw.token_file,
        registrations_file: raw.registrations_file,
        registry_url,
        tool_pins_file: raw.tool_pins_file,
        allow_empty_reload: raw.allow_empty_reload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_an_address_or_off() {
        let mut errors = Vec::new();
        let default = validate_admin(RawAdmin::default(), &mut errors);
        assert_eq!(default.listen, DEFAULT_ADMIN_LISTEN.parse().ok());
        assert!(!default.listen_configured);
        let off = validate_admin(
            RawAdmin {
                listen: Some("off".into()),
                ..RawAdmin::default()
            },
            &mut errors,
        );
        assert!(off.listen.is_none() && off.listen_configured);
        validate_admin(
            RawAdmin {
                listen: Some("9464".into()),
                ..RawAdmin::default()
            },
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("admin.listen: \"9464\""),
            "{errors:?}"
        );
    }
}
