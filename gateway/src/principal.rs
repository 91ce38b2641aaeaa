//! Who is asking: a [`Principal`] (name, scopes, roles), the configured
//! tokens that map to one ([`TokenEntry`], kept only as SHA-256 digests),
//! and the configured client-certificate names that map to one
//! ([`CertificateEntry`], matched against a verified [`ClientCertificate`]).
//! Plain values at the bottom of the crate: `config` builds them, `auth`
//! hands them out, `policy` and `audit` read them.

mod scopes;

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use self::scopes::{ItemKind, Scopes, needed_scope};

/// Who is asking: the name used in sessions, audit and policy, what it
/// may reach (scopes) and the roles Cedar policies may test.
#[derive(Debug)]
pub struct Principal {
    pub id: String,
    pub scopes: Scopes,
    pub roles: Vec<String>,
    /// The access token it signed in with (a configured issuer's JWT),
    /// kept only to be exchanged (RFC 8693) for services configured so.
    pub subject_token: Option<SubjectToken>,
}

/// A principal's own access token: never printed, never sent to a service
/// (only what an exchange returns for it is).
#[derive(Clone)]
pub struct SubjectToken(Arc<str>);

impl SubjectToken {
    pub fn new(token: &str) -> Self {
        Self(Arc::from(token))
    }

    /// The token itself, for the exchange request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SubjectToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SubjectToken(…)")
    }
}

/// A configured token.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub sha256: [u8; 32],
    pub principal: Arc<Principal>,
}

/// The names a client certificate the TLS handshake verified carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Its subject alternative names: DNS names, URIs (SPIFFE ids), email
    /// addresses and IP addresses, as text.
    pub alternative_names: Vec<String>,
    /// Its subject's common name, if it has one.
    pub subject_cn: Option<String>,
}

/// Which certificates a [`CertificateEntry`] is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateName {
    /// Those with this subject alternative name.
    AlternativeName(String),
    /// Those whose subject's common name is this.
    SubjectCn(String),
}

/// A configured client-certificate identity.
#[derive(Debug, Clone)]
pub struct CertificateEntry {
    pub name: CertificateName,
    pub principal: Arc<Principal>,
}

// === impl ClientCertificate ===

impl ClientCertificate {
    /// How the certificate is described in a refusal.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(cn) = &self.subject_cn {
            parts.push(format!("CN={cn}"));
        }
        if !self.alternative_names.is_empty() {
            parts.push(format!("SAN {}", self.alternative_names.join(", ")));
        }
        if parts.is_empty() {
            return "a certificate without names".into();
        }
        parts.join("; ")
    }
}

// === impl CertificateName ===

impl CertificateName {
    /// True when `certificate` carries this name.
    pub fn matches(&self, certificate: &ClientCertificate) -> bool {
        match self {
            Self::AlternativeName(name) => {
                certificate.alternative_names.iter().any(|san| san == name)
            }
            Self::SubjectCn(cn) => certificate.subject_cn.as_deref() == Some(cn.as_str()),
        }
    }
}

// === impl Principal ===

impl Principal {
    /// A principal with every scope (the local stdio user, unauthenticated
    /// loopback).
    pub fn unrestricted(id: &str) -> Arc<Self> {
        Arc::new(Self {
            id: id.to_owned(),
            scopes: Scopes::all(),
            roles: Vec::new(),
            subject_token: None,
        })
    }
}

/// SHA-256 of a token.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The name of an unnamed token's principal: a fingerprint of its digest.
pub fn fingerprint(sha256: &[u8; 32]) -> String {
    format!("token:{}", hex::encode(&sha256[..6]))
}
