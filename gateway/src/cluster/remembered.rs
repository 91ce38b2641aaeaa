//! Remembered approvals shared between replicas: a person's yes to a tool
//! and its arguments (`consent.remember_secs`) holds on every replica, not
//! only the one that asked. One key per approval (a digest of principal,
//! tool and arguments), expiring when the approval would. While Redis
//! cannot answer, a replica remembers only its own and asks again for the
//! rest — the cautious side.

use std::time::Duration;

use super::Cluster;
use super::store::StoreError;

// === impl Cluster ===

impl Cluster {
    /// Remembers the approval `key` on every replica for `remember`.
    pub async fn remember_approval(
        &self,
        key: &[u8; 32],
        remember: Duration,
    ) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(self.store.key("approved", &hex::encode(key)))
            .arg(1)
            .arg("PX")
            .arg(
                u64::try_from(remember.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
        self.store.query::<()>(&set, "remember").await
    }

    /// True when some replica remembers the approval `key`.
    pub async fn is_approval_remembered(&self, key: &[u8; 32]) -> Result<bool, StoreError> {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.store.key("approved", &hex::encode(key)));
        self.store
            .query::<u32>(&exists, "remembered")
            .await
            .map(|count| count > 0)
    }
}
