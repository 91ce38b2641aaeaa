//! Shares of something scarce, counted in total and per key: client
//! connections per source address (`front::limits`), streamed resource
//! reads per principal (`methods::resources`), calls in flight per
//! principal (`rates`). A [`QuotaPermit`] holds one place and gives it back
//! when dropped, with anything it was given to hold (a place in the
//! cluster's store); a refusal says which cap was hit.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Places held now, against a total cap and an optional per-key cap.
#[derive(Debug)]
pub struct Quota<K: Hash + Eq> {
    max_total: usize,
    max_per_key_opt: Option<usize>,
    held: Mutex<Held<K>>,
}

#[derive(Debug)]
struct Held<K> {
    total: usize,
    /// Places per key, kept only when there is a per-key cap.
    per_key: HashMap<K, usize>,
}

/// One place, given back when dropped (with whatever else it holds).
#[derive(Debug)]
pub struct QuotaPermit<K: Hash + Eq + Clone> {
    quota: Arc<Quota<K>>,
    key: K,
    /// Dropped with the place: e.g. the same place taken in a shared store.
    also_opt: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Which cap a refused request hit, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Total(usize),
    PerKey(usize),
}

// === impl Quota ===

impl<K: Hash + Eq + Clone> Quota<K> {
    /// At most `max_total` places, and `max_per_key_opt` for one key.
    pub fn new(max_total: usize, max_per_key_opt: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_key_opt,
            held: Mutex::new(Held {
                total: 0,
                per_key: HashMap::new(),
            }),
        })
    }

    /// Takes a place for `key`, or says which cap is reached.
    pub fn acquire(self: &Arc<Self>, key: K) -> Result<QuotaPermit<K>, Exceeded> {
        let mut held = self
            .held
            .lock()
            .map_err(|_| Exceeded::Total(self.max_total))?;
        if held.total >= self.max_total {
            return Err(Exceeded::Total(self.max_total));
        }
        if let Some(max_per_key) = self.max_per_key_opt {
            let count = held.per_key.get(&key).copied().unwrap_or(0);
            if count >= max_per_key {
                return Err(Exceeded::PerKey(max_per_key));
            }
            held.per_key.insert(key.clone(), count + 1);
        }
        held.total += 1;
        drop(held);
        Ok(QuotaPermit {
            quota: self.clone(),
            key,
            also_opt: None,
        })
    }

    /// The cap per key, when there is one.
    pub fn max_per_key(&self) -> Option<usize> {
        self.max_per_key_opt
    }

    /// Places `key` holds now (counted only under a per-key cap).
    pub fn held_by(&self, key: &K) -> usize {
        self.held
            .lock()
            .map_or(0, |held| held.per_key.get(key).copied().unwrap_or(0))
    }

    /// Places held now.
    pub fn held(&self) -> usize {
        self.held.lock().map_or(0, |held| held.total)
    }
}

impl<K: Hash + Eq + Clone> QuotaPermit<K> {
    /// The place, also holding `also` until it is given back.
    pub fn holding(mut self, also: Box<dyn std::any::Any + Send + Sync>) -> Self {
        self.also_opt = Some(also);
        self
    }
}

impl<K: Hash + Eq + Clone> Drop for QuotaPermit<K> {
    fn drop(&mut self) {
        let Ok(mut held) = self.quota.held.lock() else {
            return;
        };
        held.total = held.total.saturating_sub(1);
        if let Some(count) = held.per_key.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_dropped_permits_give_their_place_back() {
        let quota = Quota::new(3, Some(2));
        let first = quota.acquire("a").expect("first");
        let _second = quota.acquire("a").expect("second");
        assert_eq!(quota.acquire("a").err(), Some(Exceeded::PerKey(2)));
        let _third = quota.acquire("b").expect("other key");
        assert_eq!(quota.acquire("b").err(), Some(Exceeded::Total(3)));
        assert_eq!(quota.held(), 3);
        drop(first);
        assert_eq!(quota.held(), 2);
        assert!(quota.acquire("a").is_ok(), "a's place came back");
        let total_only = Quota::new(1, None);
        let _only = total_only.acquire("a").expect("only");
        assert_eq!(total_only.acquire("b").err(), Some(Exceeded::Total(1)));
    }
}
