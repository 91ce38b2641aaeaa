//! Registrations shared through `[cluster]`: a change made here is written
//! to Redis over the version this replica applied last (refused when
//! another replica changed the list first, or while Redis cannot answer),
//! and [`LiveConfig::follow_shared`] applies a newer list written through
//! any replica — the binary calls it every second. The document is sealed
//! under a key derived from the session key every replica holds, so one
//! written into Redis by anything else (it names what a replica runs) is
//! refused and logged, never applied (and read again: a list that did not
//! apply is tried each second until it does). Changes run off the
//! async threads already, so these wait for Redis in place.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::{ChangeError, Kept, LiveConfig, bridges_of, in_force};
use crate::cluster::{Saved, StoreError};
use crate::config::Registration;

/// Waits for `future` on the runtime this change runs beside.
fn wait_for<T>(future: impl Future<Output = T>) -> Result<T, ChangeError> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| ChangeError::Shared("no runtime to reach the cluster store from".into()))?;
    Ok(handle.block_on(future))
}

/// A shared read or write that failed: a version no replica wrote is a
/// conflict to resolve in Redis (409, named), anything else the store
/// being away (503).
fn shared_error(error: &StoreError) -> ChangeError {
    match error {
        StoreError::NotAVersion { .. } => ChangeError::Conflict(error.to_string()),
        _ => ChangeError::Shared(error.to_string()),
    }
}

/// The registrations document (the registrations file's format).
fn document_of(registrations: &[Registration]) -> String {
    let services: Vec<Value> = registrations
        .iter()
        .map(|registration| Value::Object(registration.entry.clone()))
        .collect();
    serde_json::json!({ "version": 1, "services": services }).to_string()
}

fn registrations_of(document: &str) -> Result<Vec<Registration>, String> {
    let parsed: Value = serde_json::from_str(document).map_err(|error| error.to_string())?;
    parsed
        .get("services")
        .and_then(Value::as_array)
        .ok_or("no services list")?
        .iter()
        .map(|entry| Registration::from_entry(entry.clone()))
        .collect()
}

// === impl LiveConfig ===

impl LiveConfig {
    /// Writes `registrations` as the shared list (nothing without `[cluster]`).
    pub(super) fn share(&self, registrations: &[Registration]) -> Result<(), ChangeError> {
        let Some(cluster) = &self.gateway.cluster_opt else {
            return Ok(());
        };
        let over = self.shared_version.load(Ordering::Relaxed);
        let document = cluster.seal_document(&document_of(registrations));
        match wait_for(cluster.save_registrations(over, &document))? {
            Ok(Saved::At(version)) => {
                self.shared_version.store(version, Ordering::Relaxed);
                Ok(())
            }
            Ok(Saved::Behind(_)) => Err(ChangeError::Conflict(
                "the registrations were changed through another replica meanwhile; send the change again in a moment".into(),
            )),
            Err(error) => Err(shared_error(&error)),
        }
    }

    /// Applies the shared list when it is newer than the one applied here;
    /// true when it was. A list that does not apply here is logged and
    /// left (the services in force stay).
    pub fn follow_shared(&self) -> Result<bool, ChangeError> {
        let Some(cluster) = &self.gateway.cluster_opt else {
            return Ok(false);
        };
        let mut kept = self.lock();
        let known = self.shared_version.load(Ordering::Relaxed);
        let Some((version, document)) =
            wait_for(cluster.registrations_since(known))?.map_err(|error| shared_error(&error))?
        else {
            return Ok(false);
        };
        let next = if document.is_empty() {
            Vec::new()
        } else {
            let opened = cluster.open_document(&document);
            opened
                .and_then(|document| registrations_of(&document))
                .map_err(|error| {
                    ChangeError::Invalid(vec![format!("shared registrations: {error}")])
                })?
        };
        // Marked as seen only once applied: a list that did not apply here
        // (or did not open) is tried again next time, not only when the
        // version changes.
        if next == kept.registrations {
            self.shared_version.store(version, Ordering::Relaxed);
            return Ok(false);
        }
        self.apply(&next, &[], None)?;
        self.shared_version.store(version, Ordering::Relaxed);
        self.source.run_bridges(&bridges_of(&in_force(&next, &[])));
        if let Some(file) = &self.file_opt {
            let _ = file.save(&next);
        }
        *kept = Kept {
            registrations: next,
            skipped: Vec::new(),
        };
        Ok(true)
    }
}
