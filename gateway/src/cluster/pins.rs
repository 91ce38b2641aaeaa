//! Tool-definition approvals shared between replicas: an operator's
//! approval through one replica's admin API is written to one hash (field
//! `service` + newline + `tool`, value: the sha256 of the definition
//! approved) and every replica reads it each second, approving the held
//! definition with exactly that digest — never another one offered since.
//! While Redis cannot answer, an approval is refused (503 naming Redis):
//! nothing is approved on one replica only.

use std::collections::HashMap;

use super::Cluster;
use super::store::StoreError;

/// One shared approval: service, tool, sha256 of the definition.
pub type SharedApproval = (String, String, String);

// === impl Cluster ===

impl Cluster {
    /// Shares the approval of `service`'s `tool` with definition `sha256`.
    pub async fn share_tool_approval(
        &self,
        service: &str,
        tool: &str,
        sha256: &str,
    ) -> Result<(), StoreError> {
        let mut set = redis::cmd("HSET");
        set.arg(self.store.key("pins", "approved"))
            .arg(format!("{service}\n{tool}"))
            .arg(sha256.to_ascii_lowercase());
        self.store.query::<i64>(&set, "pins").await.map(|_| ())
    }

    /// Every approval shared so far.
    pub async fn tool_approvals(&self) -> Result<Vec<SharedApproval>, StoreError> {
        let mut all = redis::cmd("HGETALL");
        all.arg(self.store.key("pins", "approved"));
        let approvals: HashMap<String, String> = self.store.query(&all, "pins").await?;
        Ok(approvals
            .into_iter()
            .filter_map(|(field, sha256)| {
                let (service, tool) = field.split_once('\n')?;
                Some((service.to_owned(), tool.to_owned(), sha256))
            })
            .collect())
    }
}
