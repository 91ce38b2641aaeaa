//! `RequestStateCodec`: the `requestState` of a 2026-07-28 `input_required`
//! round (SEP-2322) as the client sees it — the service's own state sealed
//! (XChaCha20-Poly1305, a key derived from the session key, so any replica
//! opens it and none of its bytes can pass for a session id) together with
//! what it was issued for: the principal, the service, the method, the
//! tool or prompt and its arguments, and an expiry. A state that was altered, has expired, or
//! comes back from another principal or for another request is refused; the
//! gateway keeps nothing between rounds. `arguments_digest` is the layout-
//! independent digest of a request's arguments a round is bound to.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::GatewayError;

use super::SESSION_KEY_BYTES;
use super::aead::{SealingKey, Unopened};

/// Domain of the derived key.
const KEY_CONTEXT: &[u8] = b"micromcp request state v1";
/// How long a round may wait for the client's retry.
pub const ROUND_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Longest sealed state the gateway issues or opens.
pub const MAX_REQUEST_STATE_BYTES: usize = 64 * 1024;

/// What a round was issued for (the request it may continue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundFor<'a> {
    /// The principal's id.
    pub principal: &'a str,
    /// The service that asked.
    pub service: &'a str,
    /// `tools/call` or `prompts/get`.
    pub method: &'a str,
    /// The tool or prompt, as the client names it.
    pub name: &'a str,
    /// A digest of the request's arguments (a round answers one request,
    /// not the same tool with other arguments).
    pub arguments: &'a str,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "p")]
    principal: String,
    #[serde(rename = "s")]
    service: String,
    #[serde(rename = "m")]
    method: String,
    #[serde(rename = "n")]
    name: String,
    #[serde(rename = "a")]
    arguments: String,
    /// Expiry, seconds since the Unix epoch.
    #[serde(rename = "e")]
    expires_unix: u64,
    /// The service's state, base64.
    #[serde(rename = "st")]
    state: String,
}

/// A round opened: the service's state, the round's id (its box's nonce,
/// for rounds that may be used once) and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRound {
    pub state: Vec<u8>,
    pub id: [u8; 24],
    /// Seconds since the Unix epoch.
    pub expires_unix: u64,
}

/// Seals and opens `requestState` values.
pub struct RequestStateCodec {
    key: SealingKey,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs())
}

fn refused(reason: &str) -> GatewayError {
    GatewayError::InvalidParams(format!(
        "params.requestState {reason}; call again without inputResponses and requestState"
    ))
}

// === impl RequestStateCodec ===

impl RequestStateCodec {
    /// A codec whose key is derived from the session key.
    pub fn new(session_key: &[u8; SESSION_KEY_BYTES]) -> Self {
        Self {
            key: SealingKey::derived(session_key, KEY_CONTEXT),
        }
    }

    /// The client's `requestState` for a round of `issued_for` carrying
    /// the service's `state`.
    pub fn seal(&self, issued_for: &RoundFor<'_>, state: &[u8]) -> Result<String, GatewayError> {
        self.seal_for(issued_for, state, ROUND_LIFETIME)
    }

    /// [`RequestStateCodec::seal`] with a shorter `lifetime` than a
    /// service's round (a person's approval).
    pub fn seal_for(
        &self,
        issued_for: &RoundFor<'_>,
        state: &[u8],
        lifetime: Duration,
    ) -> Result<String, GatewayError> {
        let lifetime = lifetime.min(ROUND_LIFETIME);
        let sealed = Sealed {
            principal: issued_for.principal.to_owned(),
            service: issued_for.service.to_owned(),
            method: issued_for.method.to_owned(),
            name: issued_for.name.to_owned(),
            arguments: issued_for.arguments.to_owned(),
            expires_unix: now_unix() + lifetime.as_secs(),
            state: URL_SAFE_NO_PAD.encode(state),
        };
        let plaintext = serde_json::to_vec(&sealed)
            .map_err(|error| GatewayError::Internal(format!("request state encode: {error}")))?;
        let text = self.key.seal(&rand::random(), &plaintext);
        if text.len() > MAX_REQUEST_STATE_BYTES {
            return Err(GatewayError::Internal(format!(
                "service {:?} gave a request state of {} bytes sealed; at most {MAX_REQUEST_STATE_BYTES}",
                issued_for.service,
                text.len()
            )));
        }
        Ok(text)
    }

    /// The service's state inside `text`, when it was sealed here (by any
    /// replica sharing the key) for exactly `expected` and has not expired.
    pub fn open(&self, text: &str, expected: &RoundFor<'_>) -> Result<Vec<u8>, GatewayError> {
        self.open_round(text, expected).map(|opened| opened.state)
    }

    /// [`RequestStateCodec::open`], with the round's id and expiry.
    pub fn open_round(
        &self,
        text: &str,
        expected: &RoundFor<'_>,
    ) -> Result<OpenedRound, GatewayError> {
        let (plaintext, id) = self
            .key
            .open(text, MAX_REQUEST_STATE_BYTES)
            .map_err(|unopened| match unopened {
                Unopened::TooLong => refused("is longer than any this gateway issues"),
                Unopened::Malformed => refused("was not issued by this gateway"),
                Unopened::Altered => refused("was altered or was not issued by this gateway"),
            })?;
        let sealed: Sealed = serde_json::from_slice(&plaintext)
            .map_err(|_| refused("was not issued by this gateway"))?;
        if sealed.expires_unix < now_unix() {
            return Err(refused("has expired"));
        }
        if sealed.principal != expected.principal {
            return Err(refused("was issued to another principal"));
        }
        if sealed.service != expected.service
            || sealed.method != expected.method
            || sealed.name != expected.name
            || sealed.arguments != expected.arguments
        {
            return Err(refused(&format!(
                "was issued for {} {:?}, not this request",
                sealed.method, sealed.name
            )));
        }
        let state = URL_SAFE_NO_PAD
            .decode(sealed.state)
            .map_err(|_| refused("was not issued by this gateway"))?;
        Ok(OpenedRound {
            state,
            id,
            expires_unix: sealed.expires_unix,
        })
    }
}

/// A digest of a request's `arguments` that does not depend on how the
/// client laid them out (object keys sorted, no whitespace), so a retry
/// matches the request it repeats.
pub fn arguments_digest(arguments: Option<&str>) -> String {
    let value: serde_json::Value = arguments
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(serde_json::Value::Null);
    let mut hasher = Sha256::new();
    canonical(&value, &mut hasher);
    let digest = hasher.finalize();
    digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::json!(key).to_string().as_bytes());
                hasher.update(b":");
                canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        serde_json::Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<'a>(principal: &'a str, name: &'a str) -> RoundFor<'a> {
        RoundFor {
            principal,
            service: "kit",
            method: "tools/call",
            name,
            arguments: "a1",
        }
    }

    #[test]
    fn a_round_opens_for_the_request_it_was_issued_for() {
        let codec = RequestStateCodec::new(&[7; 32]);
        let sealed = codec
            .seal(&round("alice", "kit.ask"), b"step-2")
            .expect("seal");
        assert_eq!(
            codec
                .open(&sealed, &round("alice", "kit.ask"))
                .expect("open"),
            b"step-2"
        );
        // Another replica with the same key opens it too.
        let replica = RequestStateCodec::new(&[7; 32]);
        assert!(replica.open(&sealed, &round("alice", "kit.ask")).is_ok());
    }

    #[test]
    fn each_round_has_its_own_id_and_a_short_lived_one_expires_sooner() {
        let codec = RequestStateCodec::new(&[7; 32]);
        let issued_for = round("alice", "kit.delete");
        let short = codec
            .seal_for(&issued_for, b"", Duration::from_secs(120))
            .expect("seal");
        let again = codec
            .seal_for(&issued_for, b"", Duration::from_secs(120))
            .expect("seal");
        let (short, again) = (
            codec.open_round(&short, &issued_for).expect("open"),
            codec.open_round(&again, &issued_for).expect("open"),
        );
        assert_ne!(
            short.id, again.id,
            "the same request asked twice: two rounds"
        );
        assert!(short.expires_unix <= now_unix() + 120);
        let long = codec.seal(&issued_for, b"s").expect("seal");
        let long = codec.open_round(&long, &issued_for).expect("open");
        assert!(long.expires_unix >= now_unix() + ROUND_LIFETIME.as_secs() - 1);
        let capped = codec
            .seal_for(&issued_for, b"", Duration::from_secs(86_400))
            .expect("seal");
        let capped = codec.open_round(&capped, &issued_for).expect("open");
        assert!(capped.expires_unix <= now_unix() + ROUND_LIFETIME.as_secs());
    }

    #[test]
    fn altered_foreign_or_misdirected_states_are_refused() {
        let codec = RequestStateCodec::new(&[7; 32]);
        let sealed = codec.seal(&round("alice", "kit.ask"), b"x").expect("seal");
        let message = |error: GatewayError| error.to_string();
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        assert!(
            message(
                codec
                    .open(&altered, &round("alice", "kit.ask"))
                    .expect_err("altered")
            )
            .contains("altered")
        );
        assert!(
            message(
                codec
                    .open(&sealed, &round("bob", "kit.ask"))
                    .expect_err("bob")
            )
            .contains("another principal")
        );
        assert!(
            message(
                codec
                    .open(&sealed, &round("alice", "kit.other"))
                    .expect_err("tool")
            )
            .contains("not this request")
        );
        let other_arguments = RoundFor {
            arguments: "a2",
            ..round("alice", "kit.ask")
        };
        assert!(
            message(
                codec
                    .open(&sealed, &other_arguments)
                    .expect_err("arguments")
            )
            .contains("not this request")
        );
        let other_key = RequestStateCodec::new(&[8; 32]);
        assert!(other_key.open(&sealed, &round("alice", "kit.ask")).is_err());
        assert!(
            codec
                .open("not-base64!", &round("alice", "kit.ask"))
                .is_err()
        );
        assert!(
            codec
                .open(
                    &"A".repeat(MAX_REQUEST_STATE_BYTES + 1),
                    &round("alice", "kit.ask")
                )
                .is_err()
        );
    }

    #[test]
    fn the_arguments_digest_ignores_layout_but_not_values() {
        let one = arguments_digest(Some(r#"{"b": [1, {"y": 2, "x": 1}], "a": "z"}"#));
        let same = arguments_digest(Some(r#"{"a":"z","b":[1,{"x":1,"y":2}]}"#));
        let other = arguments_digest(Some(r#"{"a":"z","b":[1,{"x":1,"y":3}]}"#));
        assert_eq!(one, same);
        assert_ne!(one, other);
        assert_ne!(arguments_digest(None), other);
    }
}
