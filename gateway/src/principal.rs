//! Who is asking: a [`Principal`] (name, scopes, roles, and the
//! [`ViewKey`] that digests them, worked out once when it is built), the configured
//! tokens that map to one ([`TokenEntry`], kept only as SHA-256 digests),
//! and the configured client-certificate names that map to one
//! ([`CertificateEntry`], matched against a verified [`ClientCertificate`]).
//! Plain values at the bottom of the crate: `config` builds them, `auth`
//! hands them out, `policy` and `audit` read them.

mod scopes;

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use self::scopes::{ItemKind, Scopes, needed_scope};

/// The principal of requests made from the admin page: reserved, no
/// configured token or certificate may be named so (its sessions, request
/// states and audit records would pass for the operator's).
pub const OPERATOR: &str = "operator";

/// Who is asking: the name used in sessions, audit and policy, what it
/// may reach (scopes) and the roles Cedar policies may test. Built only
/// by [`Principal::new`] (its view key must digest what it holds); its
/// name, scopes and roles are not changed afterwards.
#[derive(Debug)]
pub struct Principal {
    pub id: String,
    pub scopes: Scopes,
    pub roles: Vec<String>,
    /// The access token it signed in with (a configured issuer's JWT),
    /// kept only to be exchanged (RFC 8693) for services configured so.
    pub subject_token: Option<SubjectToken>,
    view_key: ViewKey,
}

/// What every authorization decision about a principal depends on — its
/// name, scopes and roles — as one SHA-256 digest: the key of its catalog
/// view. Two tokens of one JWT subject with other scopes or roles have
/// other keys (the id alone told them apart from nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewKey([u8; 32]);

/// Hashes the digest's first 8 bytes only (already uniform; equality still
/// compares all 32): a lookup costs less than one by the name did.
impl std::hash::Hash for ViewKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = self.0;
        state.write_u64(u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]));
    }
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
    /// The principal `id` holding `scopes` and `roles` (its view key
    /// worked out here, once, not per request).
    pub fn new(id: String, scopes: Scopes, roles: Vec<String>) -> Self {
        let view_key = ViewKey::of(&id, scopes.texts(), &roles);
        Self {
            id,
            scopes,
            roles,
            subject_token: None,
            view_key,
        }
    }

    /// A principal with every scope (the local stdio user, unauthenticated
    /// loopback, the admin page's operator).
    pub fn unrestricted(id: &str) -> Arc<Self> {
        Arc::new(Self::new(id.to_owned(), Scopes::all(), Vec::new()))
    }

    /// The key of its catalog view (see [`ViewKey`]).
    pub fn view_key(&self) -> ViewKey {
        self.view_key
    }
}

// === impl ViewKey ===

impl ViewKey {
    /// The digest of a name, scopes and roles. Scopes and roles are sets
    /// to every decision (order and repeats do not matter), so they are
    /// sorted first; every part is length-prefixed, so no two different
    /// principals write the same bytes.
    /// The digest in hex: what a task id is bound to (a task belongs to
    /// the tokens that carry this name, these scopes and these roles).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn of(id: &str, scopes: &[String], roles: &[String]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"micromcp view key v1");
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(id.as_bytes());
        for list in [scopes, roles] {
            let mut sorted: Vec<&str> = list.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            sorted.dedup();
            part(&(sorted.len() as u64).to_le_bytes());
            for text in sorted {
                part(text.as_bytes());
            }
        }
        Self(hasher.finalize().into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(id: &str, scopes: &[&str], roles: &[&str]) -> Principal {
        let texts: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        let scopes = Scopes::parse(&texts, &["fs", "search"]).expect("scopes");
        let roles = roles.iter().map(|role| (*role).to_owned()).collect();
        Principal::new(id.to_owned(), scopes, roles)
    }

    #[test]
    fn the_view_key_digests_name_scopes_and_roles() {
        let wide = principal("corp:alice", &["*"], &["admin"]);
        assert_eq!(
            wide.view_key(),
            principal("corp:alice", &["*"], &["admin"]).view_key()
        );
        for other in [
            principal("corp:alice", &["search:query"], &["admin"]),
            principal("corp:alice", &["*"], &["reader"]),
            principal("corp:alice", &["*"], &[]),
            principal("corp:bob", &["*"], &["admin"]),
        ] {
            assert_ne!(wide.view_key(), other.view_key(), "{other:?}");
        }
        // Sets: order and repeats do not matter; boundaries do.
        assert_eq!(
            principal("a", &["fs", "search"], &["x", "y"]).view_key(),
            principal("a", &["search", "fs", "fs"], &["y", "x"]).view_key()
        );
        assert_ne!(
            principal("a", &["fs"], &["search"]).view_key(),
            principal("a", &["fs", "search"], &[]).view_key()
        );
    }
}
