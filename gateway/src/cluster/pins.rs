//! Tool-definition approvals shared between replicas: an operator's
//! approval through one replica's admin API is written to one hash (field
//! `service` + newline + `tool`, value: the sha256 of the definition
//! approved, sealed for that hash and field: `seals`) and every replica
//! reads it each second, approving the held definition with exactly that
//! digest — never another one offered since. A value no replica sealed
//! for its field approves nothing (ignored, logged once, counted). While
//! Redis cannot answer, an approval is refused (503 naming Redis):
//! nothing is approved on one replica only.

use std::collections::HashMap;

use super::Cluster;
use super::store::StoreError;

/// One shared approval: service, tool, sha256 of the definition.
pub type SharedApproval = (String, String, String);

// === impl Cluster ===

impl Cluster {
    /// What a value of `field` is sealed for: the hash's key and the field.
    fn pin_name(&self, field: &str) -> String {
        format!("{}\n{field}", self.store.key("pins", "approved"))
    }

    /// Shares the approval of `service`'s `tool` with definition `sha256`.
    pub async fn share_tool_approval(
        &self,
        service: &str,
        tool: &str,
        sha256: &str,
    ) -> Result<(), StoreError> {
        let field = format!("{service}\n{tool}");
        let sealed = self
            .values
            .seal(&self.pin_name(&field), &sha256.to_ascii_lowercase());
        let mut set = redis::cmd("HSET");
        set.arg(self.store.key("pins", "approved"))
            .arg(field)
            .arg(sealed);
        self.store.query::<i64>(&set, "pins").await.map(|_| ())
    }

    /// Every approval shared so far (those a replica sealed).
    pub async fn tool_approvals(&self) -> Result<Vec<SharedApproval>, StoreError> {
        let mut all = redis::cmd("HGETALL");
        all.arg(self.store.key("pins", "approved"));
        let approvals: HashMap<Vec<u8>, Vec<u8>> = self.store.query(&all, "pins").await?;
        Ok(approvals
            .into_iter()
            .filter_map(|(field, sealed)| {
                let field = String::from_utf8(field).ok()?;
                let name = self.pin_name(&field);
                let opened = std::str::from_utf8(&sealed)
                    .ok()
                    .and_then(|text| self.values.open(&name, text));
                let Some(sha256) = opened else {
                    self.ignored("tool_approval", &name);
                    return None;
                };
                let (service, tool) = field.split_once('\n')?;
                Some((service.to_owned(), tool.to_owned(), sha256))
            })
            .collect())
    }
}
