//! `[auth]` and `[policy]`: who may connect (tokens, each with a principal
//! name and scopes; client certificates by name, `[[auth.client_certificates]]`,
//! with `[gateway.tls] client_ca_file`) and the optional Cedar policy file, validated into
//! [`AuthConfig`] and [`PolicyConfig`]. Errors name their key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::issuers::{JwtConfig, RawIssuer, validate_issuers};
use crate::policy::CedarPolicies;
use crate::principal::{
    CertificateEntry, CertificateName, OPERATOR, Principal, Scopes, TokenEntry, digest, fingerprint,
};
use crate::wire::names::made_of;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(default)]
    pub insecure_no_auth: bool,
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub token_sha256: Vec<String>,
    /// Scopes of tokens given without their own (`token_file`,
    /// `token_sha256`, `MICROMCP_TOKEN`) and of unauthenticated loopback
    /// clients; default `["*"]`.
    pub default_scopes: Option<Vec<String>>,
    /// Named tokens with their own scopes (`[[auth.tokens]]`).
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    /// The gateway's canonical resource URI (with `[[auth.issuers]]`).
    pub resource: Option<String>,
    /// Identity providers whose JWT access tokens are accepted.
    #[serde(default)]
    pub issuers: Vec<RawIssuer>,
    /// Client certificates (mTLS) and the principals they are.
    #[serde(default)]
    pub client_certificates: Vec<RawClientCertificate>,
}

/// `[[auth.client_certificates]]`: one client identity of a certificate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientCertificate {
    /// Principal name in audit records, sessions and policies.
    pub name: String,
    /// A subject alternative name the certificate carries (DNS name, URI
    /// such as a SPIFFE id, email or IP address) ...
    pub san: Option<String>,
    /// ... or its subject's common name.
    pub subject_cn: Option<String>,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[[auth.tokens]]`: one client's token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// Principal name in audit records, sessions and policies.
    pub name: String,
    /// Hex SHA-256 of the token (the token itself is never configured).
    pub sha256: String,
    pub scopes: Vec<String>,
    /// Roles Cedar policies may test (`principal.roles`).
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[policy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Cedar policies evaluated after scopes (see `policy::cedar::SCHEMA`).
    pub cedar_file: Option<PathBuf>,
}

/// How clients authenticate.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Loopback only: no authentication (says so loudly at start); every
    /// client is `anonymous` with the default scopes.
    InsecureNoAuth { anonymous: Arc<Principal> },
    /// Bearer tokens, stored as SHA-256 digests, and JWT access tokens of
    /// the configured issuers.
    Tokens {
        tokens: Vec<TokenEntry>,
        jwt_opt: Option<Arc<JwtConfig>>,
        /// Principals of client certificates (mTLS), by name.
        certificates: Vec<CertificateEntry>,
    },
}

/// Authorization beyond scopes.
#[derive(Debug, Clone, Default)]
pub struct PolicyConfig {
    pub cedar: Option<Arc<CedarPolicies>>,
}

/// Decodes a 64-hex-digit SHA-256.
fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

fn valid_principal_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && !name.starts_with("token:") && made_of(name, b"_-.@")
}

fn valid_role(role: &str) -> bool {
    (1..=64).contains(&role.len()) && made_of(role, b"_-.:")
}

/// Validates `[auth]`; `token_opt` is a plaintext token from the
/// environment or `up`, hashed here and never stored; `verifies_clients`
/// when `[gateway.tls]` asks clients for certificates.
pub fn validate_auth(
    auth: RawAuth,
    listen: SocketAddr,
    verifies_clients: bool,
    token_opt: Option<&str>,
    service_names: &[&str],
    errors: &mut Vec<String>,
) -> AuthConfig {
    let default_texts = auth.default_scopes.unwrap_or_else(|| vec!["*".into()]);
    let default_scopes = Scopes::parse(&default_texts, service_names).unwrap_or_else(|error| {
        errors.push(format!("auth.default_scopes: {error}"));
        Scopes::default()
    });
    let mut unnamed = Vec::new();
    for (index, text) in auth.token_sha256.iter().enumerate() {
        match parse_digest(text) {
            Some(sha256) => unnamed.push(sha256),
            None => errors.push(format!(
                "auth.token_sha256[{index}]: not a 64-digit hex SHA-256"
            )),
        }
    }
    if let Some(path) = &auth.token_file {
        match std::fs::read_to_string(path) {
            Ok(token) if !token.trim().is_empty() => unnamed.push(digest(token.trim())),
            Ok(_) => errors.push(format!("auth.token_file: {} is empty", path.display())),
            Err(error) => errors.push(format!("auth.token_file: {}: {error}", path.display())),
        }
    }
    if let Some(token) = token_opt {
        unnamed.push(digest(token));
    }
    if auth.insecure_no_auth {
        if !listen.ip().is_loopback() {
            errors.push(format!(
                "auth.insecure_no_auth: refused because gateway.listen ({listen}) is not a loopback address"
            ));
        }
        let anonymous = Arc::new(Principal::new(
            "anonymous".into(),
            default_scopes,
            Vec::new(),
        ));
        return AuthConfig::InsecureNoAuth { anonymous };
    }
    let mut tokens: Vec<TokenEntry> = unnamed
        .into_iter()
        .map(|sha256| TokenEntry {
            sha256,
            principal: Arc::new(Principal::new(
                fingerprint(&sha256),
                default_scopes.clone(),
                Vec::new(),
            )),
        })
        .collect();
    for (index, raw) in auth.tokens.into_iter().enumerate() {
        let key = format!("auth.tokens[{index}]");
        check_principal_name(&raw.name, &key, errors);
        if tokens.iter().any(|entry| entry.principal.id == raw.name) {
            errors.push(format!("{key}.name: duplicate name {:?}", raw.name));
        }
        let Some(sha256) = parse_digest(&raw.sha256) else {
            errors.push(format!("{key}.sha256: not a 64-digit hex SHA-256"));
            continue;
        };
        if tokens.iter().any(|entry| entry.sha256 == sha256) {
            errors.push(format!("{key}.sha256: the same token is configured twice"));
        }
        tokens.push(TokenEntry {
            sha256,
            principal: named_principal(
                raw.name,
                &raw.scopes,
                raw.roles,
                &key,
                service_names,
                errors,
            ),
        });
    }
    let jwt_opt =
        validate_issuers(auth.resource, auth.issuers, service_names, errors).map(Arc::new);
    let certificates = validate_certificates(
        auth.client_certificates,
        &tokens,
        verifies_clients,
        service_names,
        errors,
    );
    if tokens.is_empty() && jwt_opt.is_none() && certificates.is_empty() {
        errors.push("auth: no token configured (set auth.tokens, auth.token_file, auth.token_sha256, auth.issuers, auth.client_certificates or MICROMCP_TOKEN)".into());
    }
    AuthConfig::Tokens {
        tokens,
        jwt_opt,
        certificates,
    }
}

/// Validates `[[auth.client_certificates]]`: each names one certificate
/// name (`san` or `subject_cn`) and a principal no token already is
/// (principals are told apart by name: views, sessions and audit).
fn validate_certificates(
    raw: Vec<RawClientCertificate>,
    tokens: &[TokenEntry],
    verifies_clients: bool,
    service_names: &[&str],
    errors: &mut Vec<String>,
) -> Vec<CertificateEntry> {
    if !raw.is_empty() && !verifies_clients {
        errors.push("auth.client_certificates: needs gateway.tls.client_ca_file (the gateway must ask clients for certificates)".into());
    }
    let mut entries: Vec<CertificateEntry> = Vec::with_capacity(raw.len());
    for (index, raw) in raw.into_iter().enumerate() {
        let key = format!("auth.client_certificates[{index}]");
        check_principal_name(&raw.name, &key, errors);
        let taken = tokens.iter().map(|entry| &entry.principal.id);
        if taken
            .chain(entries.iter().map(|entry| &entry.principal.id))
            .any(|id| *id == raw.name)
        {
            errors.push(format!(
                "{key}.name: duplicate principal name {:?}",
                raw.name
            ));
        }
        let name = match (raw.san, raw.subject_cn) {
            (Some(san), None) if !san.is_empty() => CertificateName::AlternativeName(san),
            (None, Some(cn)) if !cn.is_empty() => CertificateName::SubjectCn(cn),
            _ => {
                errors.push(format!("{key}: set exactly one of san and subject_cn"));
                continue;
            }
        };
        if entries.iter().any(|entry| entry.name == name) {
            errors.push(format!(
                "{key}: the same certificate name is configured twice"
            ));
        }
        entries.push(CertificateEntry {
            name,
            principal: named_principal(
                raw.name,
                &raw.scopes,
                raw.roles,
                &key,
                service_names,
                errors,
            ),
        });
    }
    entries
}

/// Refuses a configured principal name that is not one, or that is the
/// admin page's own.
fn check_principal_name(name: &str, key: &str, errors: &mut Vec<String>) {
    if !valid_principal_name(name) {
        errors.push(format!(
            "{key}.name: {name:?} must be 1-64 chars of A-Za-z0-9_-.@ and not start with \"token:\""
        ));
    } else if name == OPERATOR {
        errors.push(format!(
            "{key}.name: {name:?} is reserved for the admin page's requests"
        ));
    }
}

/// A configured principal (`[[auth.tokens]]`, `[[auth.client_certificates]]`
/// entry `key`): its scopes and roles checked.
fn named_principal(
    name: String,
    scopes: &[String],
    roles: Vec<String>,
    key: &str,
    service_names: &[&str],
    errors: &mut Vec<String>,
) -> Arc<Principal> {
    let scopes = Scopes::parse(scopes, service_names).unwrap_or_else(|error| {
        errors.push(format!("{key}.scopes: {error}"));
        Scopes::default()
    });
    for (role_index, role) in roles.iter().enumerate() {
        if !valid_role(role) {
            errors.push(format!(
                "{key}.roles[{role_index}]: {role:?} must be 1-64 chars of A-Za-z0-9_-.:"
            ));
        }
    }
    Arc::new(Principal::new(name, scopes, roles))
}

/// Validates `[policy]`: the Cedar file must read, parse and fit the schema.
pub fn validate_policy(policy: RawPolicy, errors: &mut Vec<String>) -> PolicyConfig {
    let Some(path) = policy.cedar_file else {
        return PolicyConfig::default();
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            errors.push(format!("policy.cedar_file: {}: {error}", path.display()));
            return PolicyConfig::default();
        }
    };
    match CedarPolicies::parse(&text) {
        Ok(cedar) => PolicyConfig {
            cedar: Some(Arc::new(cedar)),
        },
        Err(error) => {
            errors.push(format!("policy.cedar_file: {}: {error}", path.display()));
            PolicyConfig::default()
        }
    }
}
