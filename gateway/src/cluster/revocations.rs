//! Ended sessions shared between replicas: a `DELETE` on one replica
//! writes the session's key (a digest of its id, never the id) with the
//! session's own expiry, and every replica checks it before serving a
//! handshake-era session — one `EXISTS` per request of a session. While
//! the store cannot answer, the check fails open or closed as
//! `cluster.revocations_when_down` says; the replica's own list (kept by
//! the session codec) still holds what it ended or learnt itself.

use sha2::{Digest, Sha256};

use super::Cluster;
use super::store::StoreError;

fn session_name(session_id: &str) -> String {
    hex::encode(&Sha256::digest(session_id.as_bytes())[..16])
}

// === impl Cluster ===

impl Cluster {
    /// Notes `session_id` as ended until `expires_unix` (when it would have
    /// expired anyway).
    pub async fn revoke_session(
        &self,
        session_id: &str,
        expires_unix: u64,
    ) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(self.store.key("revoked", &session_name(session_id)))
            .arg(1)
            .arg("EXAT")
            .arg(expires_unix.max(1));
        self.store.query::<()>(&set, "revoke").await
    }

    /// True when some replica ended `session_id`.
    pub async fn is_session_revoked(&self, session_id: &str) -> Result<bool, StoreError> {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.store.key("revoked", &session_name(session_id)));
        self.store
            .query::<u32>(&exists, "revoked")
            .await
            .map(|count| count > 0)
    }
}
