//! Who is asking: a [`Principal`] (name, scopes, roles) and the configured
//! tokens that map to one ([`TokenEntry`], kept only as SHA-256 digests).
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
}

/// A configured token.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub sha256: [u8; 32],
    pub principal: Arc<Principal>,
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
