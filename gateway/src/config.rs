//! Gateway configuration: the raw TOML shape (`deny_unknown_fields`,
//! `version = 1`), validated once at start into [`GatewayConfig`]. Every
//! problem is reported at once, each naming its key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

mod access;
mod admin;
mod audit;
mod backends;
mod catalog;
mod cluster;
mod consent;
mod endpoint;
mod front_tls;
mod hosts;
mod issuers;
mod limits;
mod mcp_servers;
pub mod owned_file;
mod rate_limits;
mod registrations;
mod services;
mod token_exchange;

pub use self::access::{AuthConfig, PolicyConfig, RawAuth, RawPolicy, RawToken};
use self::access::{validate_auth, validate_policy};
use self::admin::validate_admin;
pub use self::admin::{AdminConfig, DEFAULT_ADMIN_LISTEN, DEFAULT_REGISTRY_URL, RawAdmin};
use self::audit::validate_audit;
pub use self::audit::{AuditConfig, AuditTarget, FsyncPolicy, RawAudit};
use self::backends::validate_backends;
pub use self::backends::{BackendsConfig, RawBackends};
use self::catalog::validate_catalog;
pub use self::catalog::{CatalogConfig, Disclosure, RawCatalog};
use self::cluster::validate_cluster;
pub use self::cluster::{ClusterConfig, RawCluster, Secret, WhenDown};
pub use self::consent::{ApprovalRule, ConsentConfig, RawConsent};
pub use self::endpoint::{Endpoint, Endpoints, MAX_ENDPOINTS};
use self::front_tls::validate_front_tls;
pub use self::front_tls::{ClientCertificates, FrontTls, RawFrontTls};
pub use self::hosts::HostPattern;
use self::hosts::validate_allowed_hosts;
pub use self::issuers::{IssuerConfig, JwtAlgorithm, JwtConfig, RawIssuer};
use self::limits::validate_limits;
pub use self::limits::{LimitsConfig, RawLimits};
pub use self::mcp_servers::{McpServersFile, RawMcpServer, RawPrincipalTokens};
use self::rate_limits::validate_rate_limits;
pub use self::rate_limits::{Rate, RateLimitsConfig, RawRateLimits, RawServiceRates, ServiceRates};
pub use self::registrations::{Registered, Registration, RegistrationsFile};
use self::services::validate_services;
pub use self::services::{RawGrpcMethods, RawService, ServiceConfig};
pub use self::token_exchange::{RawTokenExchange, TokenExchangeConfig};

/// Where the session key is kept unless `gateway.session_key_file` names
/// another file.
pub const DEFAULT_SESSION_KEY_FILE: &str = ".micromcp/session.key";

/// Config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub version: Option<u32>,
    #[serde(default)]
    pub gateway: RawGateway,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub backends: RawBackends,
    #[serde(default)]
    pub rate_limits: RawRateLimits,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub consent: RawConsent,
    /// The Redis that replicas share their decisions through.
    #[serde(default)]
    pub cluster: RawCluster,
    /// `[catalog]`: tool search and disclosure.
    #[serde(default)]
    pub catalog: RawCatalog,
    #[serde(default)]
    pub services: Vec<RawService>,
    /// Settings of the fetch service `micromcp up` starts.
    #[serde(default)]
    pub fetch: RawFetch,
    /// Settings of the search service `micromcp up` starts.
    #[serde(default)]
    pub search: RawSearch,
    /// Third-party MCP servers `micromcp up` runs behind bridges, by name
    /// (the same entries as the desktop clients' `mcpServers` JSON).
    #[serde(default)]
    pub mcp_servers: std::collections::BTreeMap<String, RawMcpServer>,
}

/// `[search]`: the search service that `micromcp up` runs.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    /// Index directory (default `<state dir>/search`).
    pub index_dir: Option<PathBuf>,
    /// OpenAI-compatible embeddings endpoint.
    pub embeddings_url: Option<String>,
    pub embeddings_model: Option<String>,
    /// Index the text files under the roots at start (default true).
    pub crawl: Option<bool>,
}

/// `[fetch]`: the fetch service that `micromcp up` runs.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFetch {
    /// Hosts (`example.com`) and patterns (`*.example.com`); empty allows nothing.
    #[serde(default)]
    pub allow_domains: Vec<String>,
    #[serde(default)]
    pub allow_private_addresses: bool,
    pub max_bytes: Option<u64>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub listen: Option<String>,
    pub allowed_hosts: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub max_body_bytes: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub session_max_age_secs: Option<u64>,
    pub session_key_file: Option<PathBuf>,
    pub namespace_separator: Option<String>,
    pub page_size: Option<usize>,
    /// HTTP front threads (default: one per core the process may use).
    pub threads: Option<usize>,
    pub keepalive_secs: Option<u64>,
    pub list_ttl_ms: Option<u64>,
    /// HTTPS (and client certificates) on the client listener.
    pub tls: Option<RawFrontTls>,
}

/// The validated, immutable gateway configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// HTTPS on `listen` (plain HTTP without it).
    pub tls: Option<FrontTls>,
    pub allowed_hosts: Vec<HostPattern>,
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub session_max_age: Duration,
    pub session_key_file: PathBuf,
    pub namespace_separator: String,
    pub page_size: usize,
    /// Threads of the HTTP front, each with its own listener and backend
    /// connections (see `http::threads`).
    pub threads: usize,
    pub keepalive: Duration,
    pub list_ttl_ms: u64,
    pub auth: AuthConfig,
    pub policy: PolicyConfig,
    pub audit: AuditConfig,
    pub limits: LimitsConfig,
    /// The resilience stack every service gets.
    pub backends: BackendsConfig,
    /// Rates and in-flight caps per principal and per service.
    pub rate_limits: RateLimitsConfig,
    pub admin: AdminConfig,
    /// How approvals are asked for (the tools are each service's).
    pub consent: ConsentConfig,
    /// The store replicas share (`[cluster]`); none: this process alone.
    pub cluster_opt: Option<ClusterConfig>,
    /// Tool search (`find_tools`) and what `tools/list` discloses.
    pub catalog: CatalogConfig,
    pub services: Vec<ServiceConfig>,
}

/// Parses a TOML config file's text. An error names the key path it is
/// about (`gateway.listen`, `services[1].endpoint`) and its line.
pub fn parse_toml(text: &str) -> Result<RawConfig, Vec<String>> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|error| vec![format!("config: {}", located(&error, text))])?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let key = if path == "." { "config" } else { path.as_str() };
        vec![format!("{key}: {}", located(error.inner(), text))]
    })
}

/// A TOML error's message with the line it points at, when known.
fn located(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message.to_owned(),
    }
}

/// Notes an error naming `key` when `value` is outside `range`.
fn check_range(
    errors: &mut Vec<String>,
    key: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) {
    if !range.contains(&value) {
        errors.push(format!(
            "{key}: {value} is not between {} and {}",
            range.start(),
            range.end()
        ));
    }
}

// === impl RawConfig ===

impl RawConfig {
    /// Validates into a [`GatewayConfig`]; `token_opt` is a plaintext token
    /// from the environment or `up`, hashed here and never stored.
    pub fn validate(self, token_opt: Option<&str>) -> Result<GatewayConfig, Vec<String>> {
        let mut errors = Vec::new();
        if let Some(version) = self.version
            && version != 1
        {
            errors.push(format!(
                "version: unsupported config version {version} (expected 1)"
            ));
        }
        let gateway = self.gateway;
        let listen_text = gateway.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|error| {
            errors.push(format!(
                "gateway.listen: {listen_text:?} is not an address: {error}"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let separator = gateway.namespace_separator.unwrap_or_else(|| ".".into());
        if !matches!(separator.as_str(), "." | "_" | "-" | "__") {
            errors.push(format!(
                "gateway.namespace_separator: {separator:?} must be one of \".\", \"_\", \"-\", \"__\" (tool names allow only A-Za-z0-9_.-)"
            ));
        }
        let page_size = gateway.page_size.unwrap_or(1000);
        if page_size == 0 {
            errors.push("gateway.page_size: must be at least 1".into());
        }
        let threads = gateway.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        });
        if !(1..=256).contains(&threads) {
            errors.push(format!(
                "gateway.threads: {threads} is not between 1 and 256"
            ));
        }
        let max_body_bytes = gateway.max_body_bytes.unwrap_or(4 * 1024 * 1024);
        if max_body_bytes < 1024 {
            errors.push("gateway.max_body_bytes: must be at least 1024".into());
        }
        let backends = validate_backends(
            self.backends,
            &BackendsConfig::default(),
            "backends",
            &mut errors,
        );
        let services = validate_services(self.services, &backends, &mut errors);
        let service_names: Vec<&str> = services
            .iter()
            .map(|service| service.name.as_str())
            .collect();
        let tls = validate_front_tls(gateway.tls, &mut errors);
        let verifies_clients = tls.as_ref().is_some_and(|tls| tls.client_ca_file.is_some());
        let auth_config = validate_auth(
            self.auth,
            listen,
            verifies_clients,
            token_opt,
            &service_names,
            &mut errors,
        );
        let policy = validate_policy(self.policy, &mut errors);
        let audit = validate_audit(self.audit, &mut errors);
        let limits = validate_limits(self.limits, &mut errors);
        let rate_limits = validate_rate_limits(self.rate_limits, &mut errors);
        let admin = validate_admin(self.admin, &mut errors);
        let consent = consent::validate_consent(self.consent, &mut errors);
        let redis_password_env = std::env::var("MICROMCP_REDIS_PASSWORD").ok();
        let cluster_opt =
            validate_cluster(self.cluster, redis_password_env.as_deref(), &mut errors);
        let catalog = validate_catalog(self.catalog, &mut errors);
        let allowed_hosts = validate_allowed_hosts(gateway.allowed_hosts, listen, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(GatewayConfig {
            listen,
            tls,
            allowed_hosts,
            allowed_origins: gateway.allowed_origins.unwrap_or_default(),
            max_body_bytes,
            request_timeout: Duration::from_secs(gateway.request_timeout_secs.unwrap_or(300)),
            session_max_age: Duration::from_secs(gateway.session_max_age_secs.unwrap_or(86_400)),
            session_key_file: gateway
                .session_key_file
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SESSION_KEY_FILE)),
            namespace_separator: separator,
            page_size,
            threads,
            keepalive: Duration::from_secs(gateway.keepalive_secs.unwrap_or(15).max(1)),
            list_ttl_ms: gateway.list_ttl_ms.unwrap_or(10_000),
            auth: auth_config,
            policy,
            audit,
            limits,
            backends,
            rate_limits,
            admin,
            consent,
            cluster_opt,
            catalog,
            services,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_their_key_and_line() {
        let cases = [
            (
                "[gateway]\nlisten = 8080\n",
                "gateway.listen: invalid type: integer `8080`, expected a string (line 2)",
            ),
            (
                "version = 1\n[[services]]\nname = \"a\"\n[[services]]\nname = 7\n",
                "services[1].name: invalid type: integer `7`",
            ),
            (
                "[backends]\nmax_retries = \"two\"\n",
                "backends.max_retries: invalid type: string",
            ),
            ("[gateway]\nlisten = \"x\"\nlisten = \"y\"\n", "(line 3)"),
        ];
        for (text, expected) in cases {
            let errors = parse_toml(text).expect_err("invalid");
            assert!(errors[0].contains(expected), "{text:?}: {errors:?}");
        }
        let unknown =
            parse_toml("[gateway]\nlisten = \"127.0.0.1:1\"\nlistn = 1\n").expect_err("invalid");
        assert!(
            unknown[0].starts_with("gateway") && unknown[0].contains("unknown field `listn`"),
            "{unknown:?}"
        );
    }

    #[test]
    fn every_error_names_its_key() {
        let raw = parse_toml(
            r#"
            version = 2
            [gateway]
            listen = "0.0.0.0:1"
            namespace_separator = "/"
            threads = 0
            [auth]
            insecure_no_auth = true
            [[services]]
            name = "fs"
            endpoint = "ftp://x"
            [[services]]
            name = "fs"
            endpoint = "unix:/tmp/x.sock"
            content_from = ["fs", "nowhere"]
            "#,
        )
        .expect("parses");
        let errors = raw.validate(None).expect_err("invalid");
        let joined = errors.join("\n");
        for key in [
            "version:",
            "gateway.namespace_separator:",
            "gateway.threads:",
            "auth.insecure_no_auth:",
            "services[0].endpoint:",
            "services[1].name:",
            "services[1].namespace:",
            "services[1].content_from: \"fs\" is not another configured service",
            "services[1].content_from: \"nowhere\"",
        ] {
            assert!(joined.contains(key), "missing {key} in {joined}");
        }
    }

    #[test]
    fn token_policy_and_audit_errors_name_their_key() {
        let raw = parse_toml(&format!(
            r#"
            [auth]
            default_scopes = ["nope"]
            [[auth.tokens]]
            name = "token:x"
            sha256 = "{digest}"
            scopes = ["fs:[", "fs"]
            roles = ["has space"]
            [[auth.tokens]]
            name = "b"
            sha256 = "zz"
            scopes = []
            [[auth.tokens]]
            name = "c"
            sha256 = "{digest}"
            scopes = ["ghost"]
            [policy]
            cedar_file = "/nonexistent/policy.cedar"
            [audit]
            path = "/tmp"
            keep = 0
            fsync = "sometimes"
            max_bytes = 10
            [[services]]
            name = "fs"
            endpoint = "unix:/tmp/fs.sock"
            "#,
            digest = "ab".repeat(32)
        ))
        .expect("parses");
        let errors = raw.validate(None).expect_err("invalid");
        let joined = errors.join("\n");
        for key in [
            "auth.default_scopes: \"nope\": no service named",
            "auth.tokens[0].name:",
            "auth.tokens[0].scopes: \"fs:[\": invalid name pattern",
            "auth.tokens[0].roles[0]:",
            "auth.tokens[1].sha256:",
            "auth.tokens[2].sha256: the same token is configured twice",
            "auth.tokens[2].scopes: \"ghost\": no service named \"ghost\"",
            "policy.cedar_file: /nonexistent/policy.cedar:",
            "audit.path:",
            "audit.keep:",
            "audit.fsync:",
            "audit.max_bytes:",
        ] {
            assert!(joined.contains(key), "missing {key} in {joined}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = parse_toml("[gateway]\nlisten_addr = \"x\"\n").expect_err("unknown");
        assert!(error[0].contains("listen_addr"));
    }

    #[test]
    fn a_minimal_config_validates() {
        let raw = parse_toml(
            "[[services]]\nname = \"fs\"\nnamespace = \"\"\nendpoint = \"http://127.0.0.1:9\"\n",
        )
        .expect("parses");
        let config = raw.validate(Some("secret")).expect("valid");
        assert_eq!(config.services[0].namespace, "");
        assert!(
            matches!(config.auth, AuthConfig::Tokens { ref tokens, .. } if tokens.len() == 1 && tokens[0].principal.scopes.grants_all())
        );
        let no_token = parse_toml("")
            .expect("parses")
            .validate(None)
            .expect_err("needs a token");
        assert!(no_token[0].starts_with("auth:"));
    }
}
