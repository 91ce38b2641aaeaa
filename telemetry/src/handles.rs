//! [`HandleCache`]: metric handles of one thread by their `'static` label
//! values — a lookup hashes a few (address, length) pairs instead of
//! building and comparing a key in the shared registry.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::thread::LocalKey;
use std::time::Duration;

use metrics::{Counter, Histogram};

/// Handles (`T`: counters, histograms, or a tuple of them) by `N` labels.
pub struct HandleCache<const N: usize, T> {
    /// Keyed by each label's address and length (two values may share an
    /// address when one is the start of the other).
    entries: HashMap<[(usize, usize); N], T, BuildHasherDefault<PointerHasher>>,
}

impl<const N: usize, T> Default for HandleCache<N, T> {
    fn default() -> Self {
        Self {
            entries: HashMap::default(),
        }
    }
}

impl<const N: usize, T> HandleCache<N, T> {
    /// The handles for `labels`, made by `make` the first time.
    pub fn get_or_insert(&mut self, labels: [&'static str; N], make: impl FnOnce() -> T) -> &T {
        self.entries
            .entry(labels.map(|label| (label.as_ptr() as usize, label.len())))
            .or_insert_with(make)
    }
}

/// A thread's cache of a counter and a histogram per label set.
pub type CountAndTime<const N: usize> = RefCell<HandleCache<N, (Counter, Histogram)>>;

/// Counts one event and records how long it took, with the handles `cache`
/// keeps for `labels` (made by `make` the first time on this thread).
pub fn count_and_time<const N: usize>(
    cache: &'static LocalKey<CountAndTime<N>>,
    labels: [&'static str; N],
    make: impl FnOnce() -> (Counter, Histogram),
    elapsed: Duration,
) {
    cache.with(|handles| {
        let mut handles = handles.borrow_mut();
        let (counter, histogram) = handles.get_or_insert(labels, make);
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

/// Hashes label addresses (already unique per value) by multiply and fold.
#[derive(Default)]
pub struct PointerHasher(u64);

impl Hasher for PointerHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_share_an_address_are_told_apart() {
        let longer: &'static str = "error_x";
        let shorter: &'static str = &longer[..5];
        let mut cache: HandleCache<1, &'static str> = HandleCache::default();
        assert_eq!(*cache.get_or_insert([longer], || "long"), "long");
        assert_eq!(*cache.get_or_insert([shorter], || "short"), "short");
        assert_eq!(*cache.get_or_insert([longer], || "again"), "long");
    }
}
