//! A concurrency limit per service with a bounded queue: up to
//! `max_concurrent` calls run, up to `max_queued` more wait for a place (no
//! longer than `max_wait`), and anything past that is shed at once. tower's
//! `ConcurrencyLimit` would hold its place only until a response's headers
//! (a streaming tool call would free it at once) and queues without bound;
//! a bounded queue in front of it needs `Buffer`, a worker task per call
//! hop that the call path was rid of. So the place is a semaphore permit
//! the call holds to its very end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Calls running and waiting for one service.
#[derive(Debug)]
pub struct Limit {
    places: Arc<Semaphore>,
    max_concurrent: usize,
    max_queued: usize,
    queued: AtomicUsize,
    shed_total: AtomicU64,
}

/// Why a call was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Every place taken and the queue full.
    QueueFull {
        max_concurrent: usize,
        max_queued: usize,
    },
    /// Waited `max_wait` in the queue.
    Waited(Duration),
}

// === impl Limit ===

impl Limit {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            max_queued,
            queued: AtomicUsize::new(0),
            shed_total: AtomicU64::new(0),
        }
    }

    /// A place for one call, waiting in the queue when there is room in it.
    pub async fn acquire(&self, max_wait: Duration) -> Result<OwnedSemaphorePermit, Shed> {
        if let Ok(permit) = self.places.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(self.shed(Shed::QueueFull {
                max_concurrent: self.max_concurrent,
                max_queued: self.max_queued,
            }));
        }
        let waited = tokio::time::timeout(max_wait, self.places.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(self.shed(Shed::Waited(max_wait))),
        }
    }

    fn shed(&self, shed: Shed) -> Shed {
        self.shed_total.fetch_add(1, Ordering::Relaxed);
        shed
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.max_concurrent - self.places.available_permits()
    }

    /// Calls shed so far.
    pub fn shed_total(&self) -> u64 {
        self.shed_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn past_the_places_and_the_queue_calls_are_shed_at_once() {
        let limit = Arc::new(Limit::new(2, 1));
        let wait = Duration::from_secs(10);
        let first = limit.acquire(wait).await.expect("first");
        let _second = limit.acquire(wait).await.expect("second");
        assert_eq!(limit.running(), 2);
        let queued = {
            let limit = limit.clone();
            tokio::spawn(async move { limit.acquire(wait).await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert_eq!(
            limit.acquire(wait).await.err(),
            Some(Shed::QueueFull {
                max_concurrent: 2,
                max_queued: 1
            })
        );
        drop(first);
        assert_eq!(
            queued.await.expect("join"),
            Ok(()),
            "the queued call got the place"
        );
        assert_eq!(limit.shed_total(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_call_gives_up_after_its_wait() {
        let limit = Limit::new(1, 4);
        let _held = limit.acquire(Duration::from_secs(1)).await.expect("held");
        let shed = limit.acquire(Duration::from_secs(3)).await.err();
        assert_eq!(shed, Some(Shed::Waited(Duration::from_secs(3))));
    }
}
