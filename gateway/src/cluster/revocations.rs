//! Ended sessions shared between replicas: a `DELETE` on one replica
//! writes the session's key (a digest of its id, never the id) with the
//! session's own expiry and a value sealed for that key (`seals`: the same
//! box every time, so the rate-limit script can compare it), and every
//! replica checks it before serving a handshake-era session — with a
//! call's rate limits in one script (`gcra`), or one `GET` for a request
//! without. A value no replica wrote ends nothing: it is ignored and
//! counted. While the store cannot answer, the check fails open or closed
//! as `cluster.revocations_when_down` says; the replica's own list (kept
//! by the session codec) still holds what it ended or learnt itself.

use sha2::{Digest, Sha256};

use super::Cluster;
use super::store::StoreError;

/// What a sealed revocation says (bound to its key by the seal).
const ENDED: &str = "ended";

fn session_name(session_id: &str) -> String {
    hex::encode(&Sha256::digest(session_id.as_bytes())[..16])
}

// === impl Cluster ===

impl Cluster {
    /// The key that says `session_id` was ended, and the value a replica
    /// writes there.
    pub(crate) fn revocation_entry(&self, session_id: &str) -> (String, String) {
        let key = self.store.key("revoked", &session_name(session_id));
        let value = self.values.seal_fixed(&key, ENDED);
        (key, value)
    }

    /// Notes `session_id` as ended until `expires_unix` (when it would have
    /// expired anyway).
    pub async fn revoke_session(
        &self,
        session_id: &str,
        expires_unix: u64,
    ) -> Result<(), StoreError> {
        let (key, value) = self.revocation_entry(session_id);
        let mut set = redis::cmd("SET");
        set.arg(key).arg(value).arg("EXAT").arg(expires_unix.max(1));
        self.store.query::<()>(&set, "revoke").await
    }

    /// True when some replica ended `session_id`.
    pub async fn is_session_revoked(&self, session_id: &str) -> Result<bool, StoreError> {
        let (key, value) = self.revocation_entry(session_id);
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let stored: Option<Vec<u8>> = self.store.query(&get, "revoked").await?;
        match stored {
            Some(stored) if stored == value.as_bytes() => Ok(true),
            Some(_) => {
                self.ignored("revocation", &key);
                Ok(false)
            }
            None => Ok(false),
        }
    }
}
