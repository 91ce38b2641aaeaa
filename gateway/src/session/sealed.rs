//! Handshake-era sessions that survive restarts and load balancing: the
//! session id *is* the session state (protocol version, client capabilities,
//! principal, issue time), sealed with XChaCha20-Poly1305 under a key every
//! replica shares. Any replica can open it; nobody can read or forge it.
//! Ended sessions (DELETE) go on a revocation list kept until they would
//! have expired anyway. Ids this replica has already opened are remembered
//! (bounded), so a session's later requests skip the decryption; the
//! principal, age and revocation checks still run on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::aead::{self, NONCE_BYTES, SealingKey};

use crate::error::GatewayError;

/// Length of the session key in bytes.
pub const SESSION_KEY_BYTES: usize = 32;

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Negotiated protocol version.
    #[serde(rename = "v")]
    pub protocol_version: String,
    /// The client's declared capabilities (raw JSON object, filtered to the
    /// ones the gateway relays: elicitation, sampling, roots).
    #[serde(rename = "c")]
    pub client_capabilities: String,
    /// Fingerprint of the principal the session is bound to.
    #[serde(rename = "p")]
    pub principal: String,
    /// Issue time, seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub issued_unix: u64,
}

/// Longest session id this gateway issues or opens (an id carries its
/// claims, so a client could otherwise make it as large as its request).
pub const MAX_SESSION_ID_BYTES: usize = 4096;

/// Bytes of opened session ids (and their claims) remembered per replica;
/// the memory is dropped whole when full (each entry is re-verified on its
/// next request).
const VERIFIED_CAPACITY_BYTES: usize = 16 * 1024 * 1024;

/// Seals and opens session ids; tracks revoked ones.
pub struct SessionCodec {
    key: SealingKey,
    max_age: Duration,
    state: Mutex<CodecState>,
}

#[derive(Default)]
struct CodecState {
    /// Revoked sessions by their nonce (random per session and covered by
    /// the AEAD tag, so it names exactly one id), with their expiry.
    revoked: HashMap<[u8; NONCE_BYTES], u64>,
    /// Ids that opened successfully here, with their claims.
    verified: HashMap<String, SessionClaims>,
    /// What `verified` holds, in bytes (ids and claims' text).
    verified_bytes: usize,
}

/// Memory one remembered id costs, roughly.
fn remembered_bytes(session_id: &str, claims: &SessionClaims) -> usize {
    session_id.len()
        + claims.client_capabilities.len()
        + claims.principal.len()
        + claims.protocol_version.len()
        + 96
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs())
}

// === impl SessionCodec ===

impl SessionCodec {
    /// A codec over a 32-byte key; sessions older than `max_age` are refused.
    pub fn new(key: &[u8; SESSION_KEY_BYTES], max_age: Duration) -> Self {
        Self {
            key: SealingKey::new(key),
            max_age,
            state: Mutex::default(),
        }
    }

    /// Issues a new session id for `claims`.
    pub fn seal(&self, claims: &SessionClaims) -> Result<String, GatewayError> {
        let plaintext = serde_json::to_vec(claims)
            .map_err(|error| GatewayError::Internal(format!("session encode: {error}")))?;
        let session_id = self.key.seal(&rand::random(), &plaintext);
        if session_id.len() > MAX_SESSION_ID_BYTES {
            return Err(GatewayError::InvalidParams(format!(
                "the session's claims make a {}-byte session id; at most {MAX_SESSION_ID_BYTES} (declare smaller client capabilities)",
                session_id.len()
            )));
        }
        Ok(session_id)
    }

    /// Opens a session id; fails with `SessionNotFound` if it is forged,
    /// corrupted, expired, revoked or bound to another principal.
    pub fn open(&self, session_id: &str, principal: &str) -> Result<SessionClaims, GatewayError> {
        if session_id.len() > MAX_SESSION_ID_BYTES {
            return Err(GatewayError::SessionNotFound);
        }
        if let Ok(state) = self.state.lock()
            && let Some(claims) = state.verified.get(session_id)
        {
            return self.admit(claims, principal).map(|()| claims.clone());
        }
        let (plaintext, nonce) = self
            .key
            .open(session_id, MAX_SESSION_ID_BYTES)
            .map_err(|_| GatewayError::SessionNotFound)?;
        let claims: SessionClaims =
            serde_json::from_slice(&plaintext).map_err(|_| GatewayError::SessionNotFound)?;
        self.admit(&claims, principal)?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| GatewayError::Internal("session state poisoned".into()))?;
        if state.revoked.contains_key(&nonce) {
            return Err(GatewayError::SessionNotFound);
        }
        let cost = remembered_bytes(session_id, &claims);
        if state.verified_bytes + cost > VERIFIED_CAPACITY_BYTES {
            state.verified.clear();
            state.verified_bytes = 0;
        }
        if state
            .verified
            .insert(session_id.to_owned(), claims.clone())
            .is_none()
        {
            state.verified_bytes += cost;
        }
        Ok(claims)
    }

    /// The checks every request makes: not expired, same principal.
    fn admit(&self, claims: &SessionClaims, principal: &str) -> Result<(), GatewayError> {
        let age = now_unix().saturating_sub(claims.issued_unix);
        if age > self.max_age.as_secs() || claims.principal != principal {
            return Err(GatewayError::SessionNotFound);
        }
        Ok(())
    }

    /// Ends a session: later requests with its id get 404.
    pub fn revoke(&self, session_id: &str, claims: &SessionClaims) {
        let Some(nonce) = aead::nonce_of(session_id) else {
            return;
        };
        let expires = claims.issued_unix + self.max_age.as_secs();
        if let Ok(mut state) = self.state.lock() {
            let now = now_unix();
            state.revoked.retain(|_, expiry| *expiry > now);
            state.revoked.insert(nonce, expires);
            if let Some(forgotten) = state.verified.remove(session_id) {
                let cost = remembered_bytes(session_id, &forgotten);
                state.verified_bytes = state.verified_bytes.saturating_sub(cost);
            }
        }
    }

    /// New claims issued now.
    pub fn claims(
        protocol_version: &str,
        client_capabilities: String,
        principal: &str,
    ) -> SessionClaims {
        SessionClaims {
            protocol_version: protocol_version.to_owned(),
            client_capabilities,
            principal: principal.to_owned(),
            issued_unix: now_unix(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> SessionCodec {
        SessionCodec::new(&[7u8; 32], Duration::from_secs(3600))
    }

    #[test]
    fn sealed_ids_round_trip_and_are_opaque() {
        let codec = codec();
        let claims = SessionCodec::claims("2025-11-25", "{\"sampling\":{}}".into(), "alice");
        let id = codec.seal(&claims).expect("seal");
        assert!(id.bytes().all(|byte| (0x21..=0x7e).contains(&byte)));
        assert!(!id.contains("2025") && !id.contains("alice"));
        assert_eq!(codec.open(&id, "alice").expect("open"), claims);
        assert_ne!(
            codec.seal(&claims).expect("seal"),
            id,
            "fresh nonce each time"
        );
    }

    #[test]
    fn ids_have_a_size_bound_both_ways() {
        let codec = codec();
        let padded = format!("{{\"roots\":{{\"pad\":\"{}\"}}}}", "x".repeat(8000));
        let claims = SessionCodec::claims("2025-11-25", padded, "alice");
        let refused = codec.seal(&claims).expect_err("too large");
        assert_eq!(refused.code(), crate::error::INVALID_PARAMS);
        assert!(refused.to_string().contains("at most 4096"), "{refused}");
        let huge = "A".repeat(MAX_SESSION_ID_BYTES + 1);
        assert!(matches!(
            codec.open(&huge, "alice"),
            Err(GatewayError::SessionNotFound)
        ));
    }

    #[test]
    fn forged_foreign_revoked_and_expired_ids_are_refused() {
        let codec = codec();
        let claims = SessionCodec::claims("2025-11-25", "{}".into(), "alice");
        let id = codec.seal(&claims).expect("seal");
        assert_eq!(codec.open(&id, "alice").expect("open"), claims);
        assert!(
            codec.open(&id, "mallory").is_err(),
            "an id already opened stays bound to its principal"
        );
        let mut tampered = id.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(codec.open(&tampered, "alice").is_err());
        assert!(codec.open("not-a-session", "alice").is_err());
        assert!(
            codec.open(&id, "mallory").is_err(),
            "bound to its principal"
        );
        let other_key = SessionCodec::new(&[8u8; 32], Duration::from_secs(3600));
        assert!(other_key.open(&id, "alice").is_err());
        let mut old = claims.clone();
        old.issued_unix -= 7200;
        let expired = codec.seal(&old).expect("seal");
        assert!(codec.open(&expired, "alice").is_err());
        codec.revoke(&id, &claims);
        assert!(matches!(
            codec.open(&id, "alice"),
            Err(GatewayError::SessionNotFound)
        ));
        let other = codec.seal(&claims).expect("seal");
        codec.revoke(&other, &claims);
        assert!(
            codec.open(&other, "alice").is_err(),
            "revoked before it was ever opened here"
        );
    }
}
