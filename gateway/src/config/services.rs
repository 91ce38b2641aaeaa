//! `[[services]]`: each backend service's name, namespace, endpoints,
//! the services whose content it holds copies of, and its own `[backends]`
//! keys over the shared ones. Validated into [`ServiceConfig`]s; errors
//! name their entry (`services[N].key`).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::backends::{BackendsConfig, RawBackends, validate_backends};
use super::consent::ApprovalRule;
use super::endpoint::{Endpoints, parse_endpoints};
use super::rate_limits::{RawServiceRates, ServiceRates, validate_service_rates};
use super::token_exchange::{RawTokenExchange, TokenExchangeConfig, validate_token_exchange};
use crate::wire::names::made_of;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: String,
    pub namespace: Option<String>,
    /// `unix:/path`, `http://host:port`, `quic://host:port` or
    /// `dns:///host:port`.
    pub endpoint: Option<String>,
    /// Several endpoints of one service, balanced (instead of `endpoint`).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// `quic://` only: PEM CA the service's certificate must chain to.
    pub tls_ca: Option<PathBuf>,
    /// `quic://` only: name the certificate must carry (default: the host).
    pub tls_server_name: Option<String>,
    /// `quic://` only: client certificate for services that require mTLS.
    pub tls_client_cert: Option<PathBuf>,
    /// `quic://` only: key of `tls_client_cert`.
    pub tls_client_key: Option<PathBuf>,
    /// Services whose content this one holds copies of (a search index of
    /// fs files): callers see it only where they may read those services.
    #[serde(default)]
    pub content_from: Vec<String>,
    /// This service's own `[backends]` keys, over the shared ones.
    pub backends: Option<RawBackends>,
    /// This service's own rates, over the shared `[rate_limits]`.
    pub rate_limits: Option<RawServiceRates>,
    /// Accept its changed tool definitions without an operator's approval.
    #[serde(default)]
    pub accept_tool_changes: bool,
    /// Its tools (globs over their own names) that need a person's approval
    /// before each call.
    #[serde(default)]
    pub require_approval: Vec<String>,
    /// Trade each caller's token for one of its own upstream (RFC 8693).
    pub token_exchange: Option<RawTokenExchange>,
    /// `"grpc"`: an existing gRPC service whose methods become tools; the
    /// keys below describe it, and `micromcp up` runs its translator.
    pub kind: Option<String>,
    /// `kind = "grpc"`: `http://host:port` or `https://host:port` (TLS with
    /// the `tls_*` keys above).
    pub target: Option<String>,
    /// `kind = "grpc"`: a FileDescriptorSet to use instead of reflection.
    pub descriptor_set: Option<PathBuf>,
    /// `kind = "grpc"`: which methods become tools.
    pub methods: Option<RawGrpcMethods>,
    /// `kind = "grpc"`: deadline of each call to the target.
    pub deadline_ms: Option<u64>,
    /// `kind = "grpc"`: call metadata attached to each call.
    #[serde(default)]
    pub forward_metadata: Vec<String>,
    /// `kind = "grpc"`: how often reflection is read again (0: never).
    pub refresh_secs: Option<u64>,
}

/// `[services.methods]` of a `kind = "grpc"` entry: globs over
/// `package.Service/Method`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrpcMethods {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

/// Refuses `kind` values and `kind = "grpc"` keys where they cannot apply:
/// `micromcp up` turns `grpc` entries into translator children before the
/// config is validated, so one that reaches here runs beside the gateway.
fn check_kind(raw: &RawService, key: &str, errors: &mut Vec<String>) {
    match raw.kind.as_deref() {
        None => {
            let grpc_keys = [
                ("target", raw.target.is_some()),
                ("descriptor_set", raw.descriptor_set.is_some()),
                ("methods", raw.methods.is_some()),
                ("deadline_ms", raw.deadline_ms.is_some()),
                ("forward_metadata", !raw.forward_metadata.is_empty()),
                ("refresh_secs", raw.refresh_secs.is_some()),
            ];
            for (name, _) in grpc_keys.iter().filter(|(_, set)| *set) {
                errors.push(format!("{key}.{name}: only for kind = \"grpc\""));
            }
        }
        Some("grpc") => errors.push(format!(
            "{key}.kind: \"grpc\" entries are run by `micromcp up`; beside `micromcp gateway`, \
             run `micromcp grpc-service --target … --listen …` and give its address as endpoint"
        )),
        Some(other) => errors.push(format!(
            "{key}.kind: unknown kind {other:?} (the only kind is \"grpc\")"
        )),
    }
}

/// A validated backend service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Unique service name (used in logs, errors, metrics).
    pub name: String,
    /// Prefix for its tools and prompts (empty = none).
    pub namespace: String,
    pub endpoints: Endpoints,
    /// Names of the services whose content this one holds copies of.
    pub content_from: Vec<String>,
    /// Its resilience stack: `[backends]` with its own keys over it.
    pub backends: BackendsConfig,
    /// Its own rates (`[services.rate_limits]`), if any.
    pub rates: ServiceRates,
    /// Its changed tool definitions are accepted without approval.
    pub accept_tool_changes: bool,
    /// Its tools that need a person's approval before each call.
    pub require_approval: ApprovalRule,
    /// The caller's token is exchanged for one the service passes upstream.
    pub token_exchange: Option<Arc<TokenExchangeConfig>>,
}

/// Validates every `[[services]]` entry; `backends` is the validated
/// shared `[backends]` each service's own keys go over.
pub fn validate_services(
    raw_services: Vec<RawService>,
    backends: &BackendsConfig,
    errors: &mut Vec<String>,
) -> Vec<ServiceConfig> {
    let mut services: Vec<ServiceConfig> = Vec::new();
    for (index, raw) in raw_services.into_iter().enumerate() {
        let key = format!("services[{index}]");
        if !valid_name(&raw.name) {
            errors.push(format!(
                "{key}.name: {:?} must be 1-64 chars of A-Za-z0-9_-",
                raw.name
            ));
        }
        let namespace = raw.namespace.clone().unwrap_or_else(|| raw.name.clone());
        if !valid_namespace(&namespace) {
            errors.push(format!(
                "{key}.namespace: {namespace:?} must be up to 64 chars of A-Za-z0-9_-"
            ));
        }
        check_kind(&raw, &key, errors);
        let endpoints = parse_endpoints(&key, &raw, errors);
        if let Some(other) = services.iter().find(|other| other.name == raw.name) {
            errors.push(format!(
                "{key}.name: duplicate service name {:?}",
                other.name
            ));
        }
        if !namespace.is_empty()
            && let Some(other) = services.iter().find(|other| other.namespace == namespace)
        {
            errors.push(format!(
                "{key}.namespace: {namespace:?} is already used by service {:?}",
                other.name
            ));
        }
        let own_backends = match raw.backends {
            Some(own) => validate_backends(own, backends, &format!("{key}.backends"), errors),
            None => backends.clone(),
        };
        let rates = raw.rate_limits.map_or_else(ServiceRates::default, |own| {
            validate_service_rates(own, &format!("{key}.rate_limits"), errors)
        });
        services.push(ServiceConfig {
            name: raw.name,
            namespace,
            endpoints,
            content_from: raw.content_from,
            backends: own_backends,
            rates,
            accept_tool_changes: raw.accept_tool_changes,
            require_approval: ApprovalRule::parse(
                raw.require_approval,
                &format!("{key}.require_approval"),
                errors,
            ),
            token_exchange: raw.token_exchange.and_then(|exchange| {
                validate_token_exchange(exchange, &format!("{key}.token_exchange"), errors)
            }),
        });
    }
    for (index, service) in services.iter().enumerate() {
        for source in &service.content_from {
            if source == &service.name || !services.iter().any(|other| &other.name == source) {
                errors.push(format!(
                    "services[{index}].content_from: {source:?} is not another configured service"
                ));
            }
        }
    }
    services
}

fn valid_namespace(namespace: &str) -> bool {
    namespace.len() <= 64 && made_of(namespace, b"_-")
}

/// True for a service name: 1-64 chars of A-Za-z0-9_-.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && valid_namespace(name)
}
