//! Ended sessions shared between replicas: a `DELETE` on one replica
//! writes the session's key (a digest of its id, never the id) with the
//! session's own expiry and a value sealed for that key (`seals`), and
//! every replica checks it before serving a handshake-era session — with a
//! call's rate limits in one script (`gcra`), or one `GET` for a request
//! without. Checking costs a digest of the id: the stored value is opened
//! only when there is one (a session ended, or a value written by anything
//! else). A value no replica wrote ends nothing: it is ignored and
//! counted. While the store cannot answer, the check fails open or closed
//! as `cluster.revocations_when_down` says; the replica's own list (kept
//! by the session codec) still holds what it ended or learnt itself.

use sha2::{Digest, Sha256};

use super::Cluster;
use super::store::StoreError;

/// What a sealed revocation says (bound to its key by the seal).
const ENDED: &str = "ended";

/// Characters of a session id that encode its nonce (24 bytes, base64).
const NONCE_CHARS: usize = 32;

/// The name of a session's revocation key: a digest of its nonce, which
/// the session's own seal makes unique to it (the id was opened before it
/// is checked, as the replica's own list of ended sessions keys them) —
/// one block to hash, where a whole id is many.
fn session_name(session_id: &str) -> String {
    let nonce = session_id.get(..NONCE_CHARS).unwrap_or(session_id);
    hex::encode(&Sha256::digest(nonce.as_bytes())[..16])
}

// === impl Cluster ===

impl Cluster {
    /// The key that says `session_id` was ended.
    pub(crate) fn revocation_key(&self, session_id: &str) -> String {
        self.store.key("revoked", &session_name(session_id))
    }

    /// True when `stored`, found under revocation key `key`, was written
    /// there by a replica; otherwise it is ignored (logged once, counted).
    pub(crate) fn says_ended(&self, key: &str, stored: &[u8]) -> bool {
        let opened = std::str::from_utf8(stored)
            .ok()
            .and_then(|text| self.values.open(key, text));
        if opened.as_deref() == Some(ENDED) {
            return true;
        }
        self.ignored("revocation", key);
        false
    }

    /// Notes `session_id` as ended until `expires_unix` (when it would have
    /// expired anyway).
    pub async fn revoke_session(
        &self,
        session_id: &str,
        expires_unix: u64,
    ) -> Result<(), StoreError> {
        let key = self.revocation_key(session_id);
        let value = self.values.seal(&key, ENDED);
        let mut set = redis::cmd("SET");
        set.arg(key).arg(value).arg("EXAT").arg(expires_unix.max(1));
        self.store.query::<()>(&set, "revoke").await
    }

    /// True when some replica ended `session_id`.
    pub async fn is_session_revoked(&self, session_id: &str) -> Result<bool, StoreError> {
        let key = self.revocation_key(session_id);
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let stored: Option<Vec<u8>> = self.store.query(&get, "revoked").await?;
        Ok(stored.is_some_and(|stored| self.says_ended(&key, &stored)))
    }
}
