//! `TaskIdCodec`: the task ids (tasks extension, SEP-2663) clients see. A
//! service's own task id is sealed together with the service's name and the
//! principal the task was created for (XChaCha20-Poly1305 under a key
//! derived from the session key; the nonce is a keyed digest of those
//! three, so one task always has the same id and any replica opens it).
//! An id that was altered, or is brought by another principal, opens to
//! nothing: to that caller the task does not exist.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SESSION_KEY_BYTES;

const NONCE_BYTES: usize = 24;
/// Longest task id the gateway opens.
pub const MAX_TASK_ID_BYTES: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "p")]
    principal: String,
    #[serde(rename = "s")]
    service: String,
    #[serde(rename = "t")]
    task: String,
}

/// Seals and opens the task ids clients see.
pub struct TaskIdCodec {
    cipher: XChaCha20Poly1305,
    nonce_key: [u8; 32],
}

fn derived(session_key: &[u8; SESSION_KEY_BYTES], context: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(context);
    hasher.update(session_key);
    hasher.finalize().into()
}

impl TaskIdCodec {
    /// A codec whose keys are derived from the session key.
    pub fn new(session_key: &[u8; SESSION_KEY_BYTES]) -> Self {
        let key = derived(session_key, b"micromcp task ids v1");
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
            nonce_key: derived(session_key, b"micromcp task id nonces v1"),
        }
    }

    /// The id a client sees for `service`'s task `task`, created for `principal`.
    pub fn seal(&self, principal: &str, service: &str, task: &str) -> String {
        let sealed = Sealed {
            principal: principal.to_owned(),
            service: service.to_owned(),
            task: task.to_owned(),
        };
        let plaintext = serde_json::to_vec(&sealed).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.nonce_key);
        hasher.update(&plaintext);
        let digest = hasher.finalize();
        let nonce = XNonce::from_slice(&digest[..NONCE_BYTES]);
        // Encrypting a byte vector in memory cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(nonce, plaintext.as_slice())
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        bytes.extend_from_slice(nonce);
        bytes.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `(service, task)` of a client's task id, when it was sealed here for
    /// `principal`.
    pub fn open(&self, id: &str, principal: &str) -> Option<(String, String)> {
        if id.len() > MAX_TASK_ID_BYTES {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .ok()?;
        let sealed: Sealed = serde_json::from_slice(&plaintext).ok()?;
        (sealed.principal == principal).then_some((sealed.service, sealed.task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_id_is_stable_and_opens_only_for_its_principal() {
        let codec = TaskIdCodec::new(&[3; 32]);
        let id = codec.seal("alice", "kit", "t-1");
        assert_eq!(id, codec.seal("alice", "kit", "t-1"), "one task, one id");
        assert_ne!(id, codec.seal("bob", "kit", "t-1"));
        assert_eq!(
            codec.open(&id, "alice"),
            Some(("kit".to_owned(), "t-1".to_owned()))
        );
        assert_eq!(codec.open(&id, "bob"), None);
        assert_eq!(
            TaskIdCodec::new(&[3; 32])
                .open(&id, "alice")
                .map(|(_, task)| task),
            Some("t-1".to_owned())
        );
        assert_eq!(TaskIdCodec::new(&[4; 32]).open(&id, "alice"), None);
        let mut altered = id.into_bytes();
        altered[30] = if altered[30] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            codec.open(&String::from_utf8(altered).expect("ascii"), "alice"),
            None
        );
        assert_eq!(codec.open("nonsense", "alice"), None);
    }
}
