//! [`BlockingPool`]: a bound on the blocking work (file system calls, index
//! searches) one service runs at once, and on the work waiting for a
//! place. Without it a slow disk or a hung mount takes a thread of tokio's
//! blocking pool per request, up to 512, and queues the rest without end;
//! with it the excess is refused at once with a transient error that says
//! so, and a request that leaves while waiting gives up its turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::ServiceError;

/// A bounded share of the blocking thread pool.
#[derive(Debug, Clone)]
pub struct BlockingPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// What the work is, for errors ("file system operations").
    what: &'static str,
    /// A place is held by the blocking work itself, so a request that
    /// leaves while its work runs does not free its place early.
    running: Arc<Semaphore>,
    max_running: usize,
    max_waiting: usize,
    waiting: AtomicUsize,
}

/// Takes a place in the queue until dropped.
struct Waiting<'a>(&'a AtomicUsize);

// === impl BlockingPool ===

impl BlockingPool {
    /// At most `max_running` pieces of `what` at once and `max_waiting`
    /// more waiting.
    pub fn new(what: &'static str, max_running: usize, max_waiting: usize) -> Self {
        let max_running = max_running.max(1);
        Self {
            shared: Arc::new(Shared {
                what,
                running: Arc::new(Semaphore::new(max_running)),
                max_running,
                max_waiting,
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs `work` on a blocking thread once there is a place; refused at
    /// once as unavailable when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let shared = &self.shared;
        let place = match shared.running.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                let queued = shared.waiting.fetch_add(1, Ordering::AcqRel);
                let _waiting = Waiting(&shared.waiting);
                if queued >= shared.max_waiting {
                    shared.report(true);
                    return Err(ServiceError::Unavailable(format!(
                        "busy: {} {} running and {} waiting; retry later",
                        shared.max_running, shared.what, shared.max_waiting
                    )));
                }
                shared.report(false);
                shared
                    .running
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| ServiceError::Internal("blocking pool closed".into()))?
            }
        };
        shared.report(false);
        let reporter = self.shared.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let worked = work();
            drop(place);
            reporter.report(false);
            worked
        })
        .await;
        outcome.map_err(|error| ServiceError::Internal(format!("{} failed: {error}", shared.what)))
    }

    /// Work running now.
    pub fn running(&self) -> usize {
        self.shared.max_running - self.shared.running.available_permits()
    }
}

impl Shared {
    /// Sets the pool's gauges (and counts a refusal) when metrics are on.
    fn report(&self, refused: bool) {
        crate::telemetry::blocking_pool(
            self.what,
            self.max_running - self.running.available_permits(),
            self.waiting.load(Ordering::Relaxed),
            refused,
        );
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn past_its_places_and_queue_work_is_refused_at_once() {
        let pool = BlockingPool::new("file system operations", 2, 1);
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        let mut held = Vec::new();
        for _ in 0..3 {
            let (pool, gate) = (pool.clone(), gate.clone());
            held.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = gate.lock().map(|gate| gate.recv());
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(pool.running(), 2);
        let refused = pool.run(|| ()).await.expect_err("queue is full");
        assert!(
            matches!(&refused, ServiceError::Unavailable(message)
                if message == "busy: 2 file system operations running and 1 waiting; retry later"),
            "{refused:?}"
        );
        for _ in 0..3 {
            release.send(()).expect("release");
        }
        for task in held {
            task.await.expect("task").expect("ran");
        }
        assert_eq!(pool.running(), 0);
        pool.run(|| ()).await.expect("room again");
    }

    #[tokio::test]
    async fn a_caller_that_leaves_the_queue_gives_up_its_turn() {
        let pool = BlockingPool::new("searches", 1, 1);
        let (release, gate) = mpsc::channel::<()>();
        let running = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = gate.recv();
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waited = tokio::time::timeout(Duration::from_millis(50), pool.run(|| ())).await;
        assert!(waited.is_err(), "still waiting for a place");
        let next = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 7).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.send(()).expect("release");
        running.await.expect("task").expect("ran");
        assert_eq!(
            next.await.expect("task").expect("ran"),
            7,
            "the queue place was freed"
        );
    }
}
