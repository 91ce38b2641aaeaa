//! `TaskIdCodec`: the task ids (tasks extension, SEP-2663) clients see. A
//! service's own task id is sealed together with the service's name and the
//! owner the task was created for — the view key of the principal (its
//! name, scopes and roles: another token of one JWT subject with fewer
//! scopes is another owner; a renewed token with the same scopes is the
//! same) — under XChaCha20-Poly1305 with a key derived from the session
//! key; the nonce is a keyed digest of those three, so one task always has
//! the same id and any replica opens it. An id that was altered, or is
//! brought by another owner, opens to nothing: to that caller the task does
//! not exist.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SESSION_KEY_BYTES;
use super::aead::{NONCE_BYTES, SealingKey, derive};
/// Longest task id the gateway opens.
pub const MAX_TASK_ID_BYTES: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "o")]
    owner: String,
    #[serde(rename = "s")]
    service: String,
    #[serde(rename = "t")]
    task: String,
}

/// Seals and opens the task ids clients see.
pub struct TaskIdCodec {
    key: SealingKey,
    nonce_key: [u8; 32],
}

impl TaskIdCodec {
    /// A codec whose keys are derived from the session key.
    pub fn new(session_key: &[u8; SESSION_KEY_BYTES]) -> Self {
        Self {
            key: SealingKey::derived(session_key, b"micromcp task ids v1"),
            nonce_key: derive(session_key, b"micromcp task id nonces v1"),
        }
    }

    /// The id a client sees for `service`'s task `task`, created for
    /// `owner` (a principal's view key, in hex).
    pub fn seal(&self, owner: &str, service: &str, task: &str) -> String {
        let sealed = Sealed {
            owner: owner.to_owned(),
            service: service.to_owned(),
            task: task.to_owned(),
        };
        let plaintext = serde_json::to_vec(&sealed).unwrap_or_default();
        let mut hasher = Sha256::new();
        hasher.update(self.nonce_key);
        hasher.update(&plaintext);
        let digest = hasher.finalize();
        let mut nonce = [0; NONCE_BYTES];
        nonce.copy_from_slice(&digest[..NONCE_BYTES]);
        self.key.seal(&nonce, &plaintext)
    }

    /// `(service, task)` of a client's task id, when it was sealed here for
    /// `owner`.
    pub fn open(&self, id: &str, owner: &str) -> Option<(String, String)> {
        let (plaintext, _) = self.key.open(id, MAX_TASK_ID_BYTES).ok()?;
        let sealed: Sealed = serde_json::from_slice(&plaintext).ok()?;
        (sealed.owner == owner).then_some((sealed.service, sealed.task))
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
