//! Remembered approvals shared between replicas: a person's yes to a tool
//! and its arguments (`consent.remember_secs`) holds on every replica, not
//! only the one that asked. One key per approval (a digest of principal,
//! tool and arguments), expiring when the approval would; its value is the
//! approval's end (Unix ms) sealed for that key (`seals`), so a value no
//! replica wrote approves nothing (ignored and counted), and a replica's
//! value written back after its end approves nothing either. While Redis
//! cannot answer, a replica remembers only its own and asks again for the
//! rest — the cautious side.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Cluster;
use super::store::StoreError;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

// === impl Cluster ===

impl Cluster {
    /// Remembers the approval `key` on every replica for `remember`.
    pub async fn remember_approval(
        &self,
        key: &[u8; 32],
        remember: Duration,
    ) -> Result<(), StoreError> {
        let name = self.store.key("approved", &hex::encode(key));
        let remember_ms = u64::try_from(remember.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let until = now_ms().saturating_add(remember_ms);
        let mut set = redis::cmd("SET");
        set.arg(&name)
            .arg(self.values.seal(&name, &until.to_string()))
            .arg("PX")
            .arg(remember_ms);
        self.store.query::<()>(&set, "remember").await
    }

    /// True when some replica remembers the approval `key`.
    pub async fn is_approval_remembered(&self, key: &[u8; 32]) -> Result<bool, StoreError> {
        let name = self.store.key("approved", &hex::encode(key));
        let mut get = redis::cmd("GET");
        get.arg(&name);
        let Some(stored) = self
            .store
            .query::<Option<Vec<u8>>>(&get, "remembered")
            .await?
        else {
            return Ok(false);
        };
        let until_opt = std::str::from_utf8(&stored)
            .ok()
            .and_then(|text| self.values.open(&name, text))
            .and_then(|until| until.parse::<u64>().ok());
        match until_opt {
            Some(until) => Ok(until > now_ms()),
            None => {
                self.ignored("remembered_approval", &name);
                Ok(false)
            }
        }
    }
}
