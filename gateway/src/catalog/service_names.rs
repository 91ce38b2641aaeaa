//! `ServiceNames`: the index every catalog item, policy decision and route
//! uses for its service. A name gets its index the first time it is seen
//! (configured services in config order, then services registered or added
//! by a reload) and keeps it for the life of the process, even while the
//! service is removed: an index read from any catalog snapshot always means
//! the same name, so a snapshot taken before a reconfiguration can never
//! send a request to another service than the one it authorized.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// How many distinct service names one process may ever know.
pub const MAX_SERVICE_NAMES: usize = 1024;

/// Service names by stable index.
#[derive(Debug)]
pub struct ServiceNames {
    names: Box<[OnceLock<Box<str>>]>,
    /// Name → index, and the next free index (under one lock).
    assigned: Mutex<HashMap<Box<str>, usize>>,
}

impl Default for ServiceNames {
    fn default() -> Self {
        Self {
            names: (0..MAX_SERVICE_NAMES).map(|_| OnceLock::new()).collect(),
            assigned: Mutex::default(),
        }
    }
}

// === impl ServiceNames ===

impl ServiceNames {
    /// The index of `name`, given it one if it has none yet; `None` once
    /// [`MAX_SERVICE_NAMES`] names are known.
    pub fn index_for(&self, name: &str) -> Option<usize> {
        let mut assigned = self.assigned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = assigned.get(name) {
            return Some(*index);
        }
        let index = assigned.len();
        if index >= MAX_SERVICE_NAMES {
            return None;
        }
        let _ = self.names[index].set(name.into());
        assigned.insert(name.into(), index);
        Some(index)
    }

    /// Names given indices in order (tests, benches, start-up).
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> std::sync::Arc<Self> {
        let all = Self::default();
        for name in names {
            let _ = all.index_for(name);
        }
        std::sync::Arc::new(all)
    }

    /// The index of `name`, when it has one.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.assigned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }

    /// The name at `index` (empty for an index never given).
    pub fn name(&self, index: usize) -> &str {
        self.names
            .get(index)
            .and_then(OnceLock::get)
            .map_or("", |name| name)
    }

    /// Every name given so far, by index.
    pub fn all(&self) -> Vec<&str> {
        self.names
            .iter()
            .map_while(OnceLock::get)
            .map(|name| &**name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_its_index() {
        let names = ServiceNames::default();
        assert_eq!(names.index_for("fs"), Some(0));
        assert_eq!(names.index_for("fetch"), Some(1));
        assert_eq!(names.index_for("fs"), Some(0));
        assert_eq!(names.index_of("fetch"), Some(1));
        assert_eq!(names.index_of("search"), None);
        assert_eq!(names.name(1), "fetch");
        assert_eq!(names.name(7), "");
        assert_eq!(names.all(), vec!["fs", "fetch"]);
    }

    #[test]
    fn names_past_the_cap_get_no_index() {
        let names = ServiceNames::default();
        for index in 0..MAX_SERVICE_NAMES {
            assert_eq!(names.index_for(&format!("s{index}")), Some(index));
        }
        assert_eq!(names.index_for("one-more"), None);
        assert_eq!(names.index_for("s3"), Some(3));
    }
}
