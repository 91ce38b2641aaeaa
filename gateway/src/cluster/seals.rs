//! Sealed values of the shared keys that decide something (ended
//! sessions, remembered approvals, approved tool definitions): each value
//! is an XChaCha20-Poly1305 box under a key derived from the session key
//! every replica holds, and its plaintext starts with the full name of the
//! key (and hash field) it was written to — so a value written by anything
//! but a replica does not open, and a replica's value copied to another
//! key does not either. A value that fails is ignored, logged once per key
//! and counted (`micromcp_cluster_ignored_values_total{kind}`). Rate-limit
//! values are not sealed (the script that decides them runs inside Redis,
//! which holds no key): the script bounds them instead (`gcra`).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use super::Cluster;
use crate::session::aead::{NONCE_BYTES, SealingKey};
use crate::telemetry;

/// Longest sealed value opened (characters).
const MAX_SEALED_VALUE: usize = 4096;
/// Keys remembered as reported (beyond, the log is quiet; the metric counts on).
const MAX_REPORTED: usize = 1024;

/// Seals and opens the values of shared keys.
pub struct ValueSeal {
    key: SealingKey,
    /// Keys whose ignored value was logged already.
    reported: Mutex<HashSet<String>>,
}

// === impl ValueSeal ===

impl ValueSeal {
    pub fn new(session_key: &[u8; 32]) -> Self {
        Self {
            key: SealingKey::derived(session_key, b"micromcp cluster values v1"),
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// `payload` sealed for the key (and field) `name`: a fresh box each time.
    pub fn seal(&self, name: &str, payload: &str) -> String {
        self.key.seal(
            &rand::random::<[u8; NONCE_BYTES]>(),
            &plaintext(name, payload),
        )
    }

    /// The payload of `text` when a replica sealed it for exactly `name`.
    pub fn open(&self, name: &str, text: &str) -> Option<String> {
        let (plaintext, _) = self.key.open(text, MAX_SEALED_VALUE).ok()?;
        let head = plaintext_head(name);
        let payload = plaintext.strip_prefix(head.as_slice())?;
        String::from_utf8(payload.to_vec()).ok()
    }

    /// True the first time `name` is reported (bounded).
    fn first_report(&self, name: &str) -> bool {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        reported.len() < MAX_REPORTED && reported.insert(name.to_owned())
    }
}

/// The length of `name` (4 bytes, big-endian), `name`: the part a value
/// must start with for that key.
fn plaintext_head(name: &str) -> Vec<u8> {
    let length = u32::try_from(name.len()).unwrap_or(u32::MAX);
    let mut head = Vec::with_capacity(4 + name.len());
    head.extend_from_slice(&length.to_be_bytes());
    head.extend_from_slice(name.as_bytes());
    head
}

fn plaintext(name: &str, payload: &str) -> Vec<u8> {
    let mut plaintext = plaintext_head(name);
    plaintext.extend_from_slice(payload.as_bytes());
    plaintext
}

// === impl Cluster ===

impl Cluster {
    /// Notes a value of key `name` (of `kind`, a fixed label) that was not
    /// honoured: not sealed by a replica, or out of its bounds.
    pub(crate) fn ignored(&self, kind: &'static str, name: &str) {
        metrics::counter!(telemetry::CLUSTER_IGNORED_VALUES, "kind" => kind).increment(1);
        if self.values.first_report(name) {
            tracing::warn!(
                kind,
                key = name,
                "a value in the cluster store was not written by a replica sharing this session key (or is out of bounds): ignored"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_for_its_own_key_and_only_unaltered() {
        let seal = ValueSeal::new(&[9; 32]);
        let sealed = seal.seal("p:approved:aa", "123");
        assert_eq!(seal.open("p:approved:aa", &sealed).as_deref(), Some("123"));
        assert_eq!(
            seal.open("p:approved:ab", &sealed),
            None,
            "moved to another key"
        );
        assert_eq!(
            seal.open("p:approved:a", &sealed),
            None,
            "a prefix of its key"
        );
        assert_eq!(
            seal.open("p:approved:aa", "1"),
            None,
            "written by anything else"
        );
        let other = ValueSeal::new(&[8; 32]);
        assert_eq!(
            other.open("p:approved:aa", &sealed),
            None,
            "another session key"
        );
        assert_ne!(seal.seal("k", "v"), seal.seal("k", "v"));
    }
}
