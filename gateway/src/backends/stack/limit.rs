//! A concurrency limit per service with a bounded queue shared fairly
//! between principals: up to `max_concurrent` calls run, up to
//! `max_queued` more wait for a place (no longer than `max_wait`), and
//! anything past that is shed at once. The queue is one line per
//! principal: a place given back goes to the principals with calls
//! waiting in turn (round robin), so another principal's call waits for
//! one place to free up, not behind a flooder's whole line; and when the
//! queue is full, a call whose principal has fewer calls waiting than the
//! longest line takes the place of that line's newest call (that one is
//! shed) — one principal's flood cannot make another's calls fail or wait
//! on a full queue. tower's `ConcurrencyLimit` would hold its place only
//! until a response's headers (a streaming tool call would free it at
//! once) and queues without bound; so the place is a [`Place`] the call
//! holds to its very end.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// Calls running and waiting for one service.
#[derive(Debug)]
pub struct Limit {
    max_concurrent: usize,
    max_queued: usize,
    state: Mutex<State>,
    shed_total: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    queued: usize,
    /// Principals with calls waiting, in the order of their turns.
    turns: VecDeque<Arc<str>>,
    /// Each principal's waiting calls, oldest first.
    lines: HashMap<Arc<str>, VecDeque<Waiter>>,
    next_ticket: u64,
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    /// Sent: the place is handed over. Dropped unsent: shed (its place
    /// in the queue went to another principal's call).
    sender: oneshot::Sender<()>,
}

/// Why a call was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Every place taken and the queue full (of this principal's calls,
    /// or of lines no longer than its own).
    QueueFull {
        max_concurrent: usize,
        max_queued: usize,
    },
    /// Waited `max_wait` in the queue.
    Waited(Duration),
}

/// One place in the limit, given back (to the next principal's call in
/// turn, if any) when dropped.
#[derive(Debug)]
pub struct Place {
    limit: Arc<Limit>,
}

/// A call waiting in its principal's line; removed from it when dropped
/// (the client left, the wait ran out), a place handed to it meanwhile
/// passed on.
struct InLine<'a> {
    limit: &'a Arc<Limit>,
    principal: Arc<str>,
    ticket: u64,
    receiver: oneshot::Receiver<()>,
    done: bool,
}

// === impl Limit ===

impl Limit {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        Self {
            max_concurrent,
            max_queued,
            state: Mutex::default(),
            shed_total: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for one call of `principal`, waiting in its line when the
    /// queue has room for it.
    pub async fn acquire(
        self: &Arc<Self>,
        principal: &str,
        max_wait: Duration,
    ) -> Result<Place, Shed> {
        let mut waiting = {
            let mut state = self.lock();
            if state.running < self.max_concurrent && state.queued == 0 {
                state.running += 1;
                return Ok(Place {
                    limit: self.clone(),
                });
            }
            if state.queued >= self.max_queued && !state.evict_for(principal) {
                drop(state);
                return Err(self.shed(self.queue_full()));
            }
            let (principal, ticket, receiver) = state.enqueue(principal);
            InLine {
                limit: self,
                principal,
                ticket,
                receiver,
                done: false,
            }
        };
        let outcome = tokio::time::timeout(max_wait, &mut waiting.receiver).await;
        match outcome {
            Ok(Ok(())) => {
                waiting.done = true;
                Ok(Place {
                    limit: self.clone(),
                })
            }
            Ok(Err(_)) => {
                waiting.done = true;
                Err(self.shed(self.queue_full()))
            }
            Err(_) => {
                // Handed a place just as the wait ran out: it is taken.
                if waiting.leave() {
                    return Ok(Place {
                        limit: self.clone(),
                    });
                }
                Err(self.shed(Shed::Waited(max_wait)))
            }
        }
    }

    fn queue_full(&self) -> Shed {
        Shed::QueueFull {
            max_concurrent: self.max_concurrent,
            max_queued: self.max_queued,
        }
    }

    fn shed(&self, shed: Shed) -> Shed {
        self.shed_total.fetch_add(1, Ordering::Relaxed);
        shed
    }

    /// Gives a place back: to the next principal's oldest call in turn.
    fn release(&self) {
        let mut state = self.lock();
        while let Some(waiter) = state.next_in_turn() {
            if waiter.sender.send(()).is_ok() {
                return;
            }
        }
        state.running = state.running.saturating_sub(1);
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Calls shed so far.
    pub fn shed_total(&self) -> u64 {
        self.shed_total.load(Ordering::Relaxed)
    }
}

// === impl State ===

impl State {
    /// Makes room in a full queue for a call of `principal` by shedding
    /// the newest call of the longest line, when that line is longer than
    /// `principal`'s own would be with the call; false when there is none
    /// such (the newcomer is shed).
    fn evict_for(&mut self, principal: &str) -> bool {
        let own = self.lines.get(principal).map_or(0, VecDeque::len);
        let Some((longest, _)) = self
            .lines
            .iter()
            .filter(|(_, line)| line.len() > own + 1)
            .max_by_key(|(_, line)| line.len())
        else {
            return false;
        };
        let longest = longest.clone();
        let Some(line) = self.lines.get_mut(&longest) else {
            return false;
        };
        // Dropping its sender tells the evicted call it was shed.
        drop(line.pop_back());
        self.queued -= 1;
        true
    }

    /// Puts a call of `principal` at the end of its line.
    fn enqueue(&mut self, principal: &str) -> (Arc<str>, u64, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queued += 1;
        let key = match self.lines.get_key_value(principal) {
            Some((key, _)) => key.clone(),
            None => Arc::from(principal),
        };
        let line = self.lines.entry(key.clone()).or_default();
        if line.is_empty() {
            self.turns.push_back(key.clone());
        }
        line.push_back(Waiter { ticket, sender });
        (key, ticket, receiver)
    }

    /// The oldest call of the principal whose turn it is (that principal
    /// then goes to the back of the turns while it has calls waiting).
    fn next_in_turn(&mut self) -> Option<Waiter> {
        while let Some(principal) = self.turns.pop_front() {
            let Some(line) = self.lines.get_mut(&principal) else {
                continue;
            };
            let Some(waiter) = line.pop_front() else {
                self.lines.remove(&principal);
                continue;
            };
            if line.is_empty() {
                self.lines.remove(&principal);
            } else {
                self.turns.push_back(principal);
            }
            self.queued -= 1;
            return Some(waiter);
        }
        None
    }

    /// Takes call `ticket` out of `principal`'s line; false when it is no
    /// longer there (handed a place, or shed).
    fn remove(&mut self, principal: &str, ticket: u64) -> bool {
        let Some(line) = self.lines.get_mut(principal) else {
            return false;
        };
        let Some(position) = line.iter().position(|waiter| waiter.ticket == ticket) else {
            return false;
        };
        line.remove(position);
        self.queued -= 1;
        if line.is_empty() {
            self.lines.remove(principal);
            self.turns.retain(|turn| &**turn != principal);
        }
        true
    }
}

// === impl InLine ===

impl InLine<'_> {
    /// Leaves the line; true when a place was handed over meanwhile (it is
    /// then this call's).
    fn leave(&mut self) -> bool {
        self.done = true;
        let removed = self.limit.lock().remove(&self.principal, self.ticket);
        !removed && self.receiver.try_recv().is_ok()
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        if !self.done && self.leave() {
            // Handed a place but gone before taking it: pass it on.
            self.limit.release();
        }
    }
}

// === impl Place ===

impl Drop for Place {
    fn drop(&mut self) {
        self.limit.release();
    }
}

#[cfg(test)]
mod tests;
