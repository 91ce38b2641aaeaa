//! Replica-local state of handshake-era sessions: the log level a client
//! set, in-flight requests (for `notifications/cancelled`), the SSE
//! stream logs that make streams resumable with `Last-Event-ID`, the tools
//! it found (`[catalog] add_found_tools`), and the
//! session's resource subscriptions — each holding its place in the
//! principal's watch quota, and all ended once the session has been
//! without a GET stream for a while ([`SessionRuntime::end_watches_if_unheard`]). Everything
//! here is an optimisation over the sealed session id: a session whose
//! runtime lives on another replica still works, it only cannot resume that
//! replica's streams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::found_tools::FoundTools;
use crate::quota::QuotaPermit;

/// Most events kept per session for resumption.
const MAX_LOGGED_EVENTS: usize = 1024;

/// One SSE stream's events, readable from any position.
#[derive(Default)]
pub struct StreamLog {
    state: Mutex<StreamState>,
    changed: Notify,
}

#[derive(Default)]
struct StreamState {
    /// (sequence number, JSON-RPC message); sequence numbers start at 1.
    events: Vec<(u64, Arc<Vec<u8>>)>,
    next_seq: u64,
    closed: bool,
}

/// What a reader gets next.
pub enum StreamRead {
    Event(u64, Arc<Vec<u8>>),
    Closed,
}

// === impl StreamLog ===

impl StreamLog {
    /// Appends a message; returns its sequence number.
    pub fn push(&self, message: Vec<u8>) -> u64 {
        let seq = {
            let Ok(mut state) = self.state.lock() else {
                return 0;
            };
            state.next_seq += 1;
            let seq = state.next_seq;
            state.events.push((seq, Arc::new(message)));
            if state.events.len() > MAX_LOGGED_EVENTS {
                let excess = state.events.len() - MAX_LOGGED_EVENTS;
                state.events.drain(..excess);
            }
            seq
        };
        self.changed.notify_waiters();
        seq
    }

    /// Marks the stream finished.
    pub fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
        }
        self.changed.notify_waiters();
    }

    /// The first event after `after`, waiting for it if needed.
    pub async fn next_after(&self, after: u64) -> StreamRead {
        loop {
            let notified = self.changed.notified();
            {
                let Ok(state) = self.state.lock() else {
                    return StreamRead::Closed;
                };
                if let Some((seq, message)) = state.events.iter().find(|(seq, _)| *seq > after) {
                    return StreamRead::Event(*seq, message.clone());
                }
                if state.closed {
                    return StreamRead::Closed;
                }
            }
            notified.await;
        }
    }

    fn is_closed(&self) -> bool {
        self.state.lock().map(|state| state.closed).unwrap_or(true)
    }
}

/// One resource subscription: cancels its watch, holds its quota place.
pub struct Subscription {
    pub token: CancellationToken,
    pub place: QuotaPermit<String>,
}

/// One session's replica-local state.
pub struct SessionRuntime {
    pub log_level: Mutex<Option<String>>,
    /// Resource subscriptions (`resources/subscribe`), by URI.
    pub subscriptions: Mutex<HashMap<String, Subscription>>,
    /// Tools found with `find_tools`, listed under `add_found_tools`.
    pub found_tools: Mutex<FoundTools>,
    pub(super) in_flight: Mutex<HashMap<String, CancellationToken>>,
    streams: Mutex<HashMap<u64, Arc<StreamLog>>>,
    next_stream: AtomicU64,
    pub get_stream_open: AtomicBool,
    /// Changes whenever the GET stream opens or closes.
    stream_epoch: AtomicU64,
    /// A check for subscriptions without a stream is pending.
    unheard_check_armed: AtomicBool,
    /// The gateway's own requests sent on the GET stream.
    pub routed: super::routed::RoutedRequests,
    last_used: Mutex<Instant>,
}

/// The id of the standalone GET stream within a session.
pub const GET_STREAM: u64 = 0;

// === impl SessionRuntime ===

impl Drop for SessionRuntime {
    fn drop(&mut self) {
        self.end_watches();
    }
}

impl Default for SessionRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionRuntime {
    pub(super) fn new() -> Self {
        Self {
            log_level: Mutex::new(None),
            subscriptions: Mutex::default(),
            found_tools: Mutex::default(),
            in_flight: Mutex::default(),
            streams: Mutex::default(),
            next_stream: AtomicU64::new(1),
            get_stream_open: AtomicBool::new(false),
            stream_epoch: AtomicU64::new(0),
            unheard_check_armed: AtomicBool::new(false),
            routed: super::routed::RoutedRequests::default(),
            last_used: Mutex::new(Instant::now()),
        }
    }

    /// Ends every resource subscription (their watches and quota places).
    pub fn end_watches(&self) -> usize {
        let ended: Vec<Subscription> = match self.subscriptions.lock() {
            Ok(mut subscriptions) => subscriptions.drain().map(|(_, watch)| watch).collect(),
            Err(_) => Vec::new(),
        };
        for watch in &ended {
            watch.token.cancel();
        }
        ended.len()
    }

    /// Notes that the GET stream opened (`true`) or closed.
    pub fn get_stream_changed(&self, open: bool) {
        self.get_stream_open.store(open, Ordering::Relaxed);
        self.stream_epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// After `after`, ends the subscriptions if the session's GET stream
    /// stayed closed all that time (their updates would reach nobody). A
    /// subscription made without a stream arms one check at a time
    /// (`from_subscribe`); every stream closing arms its own.
    pub fn end_watches_if_unheard(self: &Arc<Self>, after: Duration, from_subscribe: bool) {
        if self.get_stream_open.load(Ordering::Relaxed) {
            return;
        }
        if from_subscribe && self.unheard_check_armed.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let epoch = self.stream_epoch.load(Ordering::Relaxed);
        let runtime = Arc::downgrade(self);
        handle.spawn(async move {
            tokio::time::sleep(after).await;
            let Some(runtime) = runtime.upgrade() else {
                return;
            };
            if from_subscribe {
                runtime.unheard_check_armed.store(false, Ordering::Relaxed);
            }
            let unheard = !runtime.get_stream_open.load(Ordering::Relaxed)
                && runtime.stream_epoch.load(Ordering::Relaxed) == epoch;
            if unheard {
                let ended = runtime.end_watches();
                if ended > 0 {
                    tracing::debug!(
                        ended,
                        "resource subscriptions ended: their session had no GET stream"
                    );
                }
            }
        });
    }

    /// After `after`, hands the requests sent on the GET stream to
    /// `refuse` if the stream closed now stayed closed all that time (a
    /// client that comes back resumes the stream and answers them).
    pub fn refuse_routed_if_unheard(
        self: &Arc<Self>,
        after: Duration,
        refuse: impl FnOnce(Vec<(String, String)>) + Send + 'static,
    ) {
        if self.get_stream_open.load(Ordering::Relaxed) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let epoch = self.stream_epoch.load(Ordering::Relaxed);
        let runtime = Arc::downgrade(self);
        handle.spawn(async move {
            tokio::time::sleep(after).await;
            let Some(runtime) = runtime.upgrade() else {
                return;
            };
            if !runtime.get_stream_open.load(Ordering::Relaxed)
                && runtime.stream_epoch.load(Ordering::Relaxed) == epoch
            {
                let routed = runtime.routed.take();
                if !routed.is_empty() {
                    refuse(routed);
                }
            }
        });
    }

    /// The level set with `logging/setLevel`, if any.
    pub fn log_level(&self) -> Option<String> {
        self.log_level.lock().ok().and_then(|level| level.clone())
    }

    /// Registers an in-flight request; the token fires on cancellation.
    pub fn start_request(&self, request_id: &str) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert(request_id.to_owned(), token.clone());
        }
        token
    }

    /// Forgets a finished request.
    pub fn finish_request(&self, request_id: &str) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(request_id);
        }
    }

    /// Cancels an in-flight request (unknown ids are ignored).
    pub fn cancel_request(&self, request_id: &str) {
        let token_opt = self
            .in_flight
            .lock()
            .ok()
            .and_then(|mut in_flight| in_flight.remove(request_id));
        if let Some(token) = token_opt {
            token.cancel();
        }
    }

    /// Opens a new stream log (a POST's SSE stream) and returns its id.
    pub fn open_stream(&self) -> (u64, Arc<StreamLog>) {
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        self.stream(id)
            .map(|log| (id, log))
            .unwrap_or_else(|| (id, Arc::default()))
    }

    /// The log of stream `id`, created if it is the GET stream or new.
    pub fn stream(&self, id: u64) -> Option<Arc<StreamLog>> {
        let mut streams = self.streams.lock().ok()?;
        if id >= self.next_stream.load(Ordering::Relaxed) && id != GET_STREAM {
            return None;
        }
        // Drop finished streams beyond the most recent few.
        if streams.len() > 64 {
            let mut closed: Vec<u64> = streams
                .iter()
                .filter(|(_, log)| log.is_closed())
                .map(|(id, _)| *id)
                .collect();
            closed.sort_unstable();
            for old in closed.iter().take(closed.len().saturating_sub(16)) {
                streams.remove(old);
            }
        }
        Some(streams.entry(id).or_default().clone())
    }

    /// The log of an existing stream only.
    pub fn existing_stream(&self, id: u64) -> Option<Arc<StreamLog>> {
        self.streams.lock().ok()?.get(&id).cloned()
    }

    pub(super) fn touch(&self) {
        if let Ok(mut last_used) = self.last_used.lock() {
            *last_used = Instant::now();
        }
    }

    pub(super) fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .map(|last_used| last_used.elapsed())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stream_logs_replay_from_any_position() {
        let log = StreamLog::default();
        log.push(b"a".to_vec());
        log.push(b"b".to_vec());
        let StreamRead::Event(seq, message) = log.next_after(1).await else {
            panic!("expected an event");
        };
        assert_eq!((seq, message.as_slice()), (2, b"b".as_slice()));
        log.close();
        assert!(matches!(log.next_after(2).await, StreamRead::Closed));
    }

    #[tokio::test]
    async fn readers_wake_on_new_events() {
        let log = Arc::new(StreamLog::default());
        let reader = {
            let log = log.clone();
            tokio::spawn(async move { matches!(log.next_after(0).await, StreamRead::Event(1, _)) })
        };
        tokio::task::yield_now().await;
        log.push(b"x".to_vec());
        assert!(reader.await.expect("join"));
    }

    #[test]
    fn cancellation_fires_the_token_once() {
        let runtime = SessionRuntime::new();
        let token = runtime.start_request("7");
        runtime.cancel_request("8");
        assert!(!token.is_cancelled());
        runtime.cancel_request("7");
        assert!(token.is_cancelled());
    }
}
