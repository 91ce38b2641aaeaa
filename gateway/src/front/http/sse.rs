//! Server-sent-event bodies: a POST's event stream (resumable through the
//! session's stream log in the handshake era, a plain channel in the
//! stateless era), the standalone GET stream with `list_changed`
//! notifications, keep-alive comments on idle streams, and priming events
//! with a `retry` hint (SEP-1699).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use http::{HeaderValue, StatusCode, header};
use tokio::sync::{broadcast, mpsc};

use crate::catalog::ListKind;
use crate::gateway::Gateway;
use crate::session::{GET_STREAM, SessionRuntime, StreamLog, StreamRead};
use crate::wire::jsonrpc::encode_notification;

/// Client reconnection delay suggested in priming events, in milliseconds.
const RETRY_MS: u64 = 1000;

fn event(id_opt: Option<&str>, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 48);
    if let Some(id) = id_opt {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"event: message\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn priming(stream_id: u64, after: u64) -> Bytes {
    Bytes::from(format!(
        "id: {stream_id}-{after}\nretry: {RETRY_MS}\ndata: \n\n"
    ))
}

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Wraps an event stream as an SSE response.
pub fn response(
    body: impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
) -> Response {
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A one-event SSE body (a complete response for an SSE-only client).
pub fn single(
    message: Vec<u8>,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures::stream::once(async move { Ok(event(None, &message)) })
}

/// Stateless era: events straight from the call; dropping the body cancels it.
pub fn from_channel(
    mut messages: mpsc::Receiver<Vec<u8>>,
    keepalive: Duration,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    async_stream::stream! {
        loop {
            match tokio::time::timeout(keepalive, messages.recv()).await {
                Ok(Some(message)) => yield Ok(event(None, &message)),
                Ok(None) => break,
                Err(_) => yield Ok(Bytes::from_static(KEEP_ALIVE)),
            }
        }
    }
}

/// Handshake era: moves a call's events into a session stream log (so the
/// call goes on and stays resumable if the client disconnects).
pub fn record(mut messages: mpsc::Receiver<Vec<u8>>, log: Arc<StreamLog>) {
    tokio::spawn(async move {
        while let Some(message) = messages.recv().await {
            log.push(message);
        }
        log.close();
    });
}

/// Reads a stream log from `after` on, as SSE, until it closes.
pub fn from_log(
    stream_id: u64,
    log: Arc<StreamLog>,
    after: u64,
    keepalive: Duration,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    async_stream::stream! {
        yield Ok(priming(stream_id, after));
        let mut position = after;
        loop {
            match tokio::time::timeout(keepalive, log.next_after(position)).await {
                Ok(StreamRead::Event(seq, message)) => {
                    position = seq;
                    yield Ok(event(Some(&format!("{stream_id}-{seq}")), &message));
                }
                Ok(StreamRead::Closed) => break,
                Err(_) => yield Ok(Bytes::from_static(KEEP_ALIVE)),
            }
        }
    }
}

/// The session's GET stream while it lasts: when it ends (or its body is
/// dropped unread) the session is marked without one, its subscriptions
/// end unless a new stream comes within `unheard_after`, and the gateway's
/// requests sent on it are refused unless a new stream comes soon
/// (`json_only::refuse_unheard`).
struct GetStreamGuard {
    runtime: Arc<SessionRuntime>,
    gateway: Arc<Gateway>,
    unheard_after: Duration,
}

impl GetStreamGuard {
    fn open(runtime: Arc<SessionRuntime>, gateway: Arc<Gateway>, unheard_after: Duration) -> Self {
        runtime.get_stream_changed(true);
        Self {
            runtime,
            gateway,
            unheard_after,
        }
    }
}

impl Drop for GetStreamGuard {
    fn drop(&mut self) {
        self.runtime.get_stream_changed(false);
        self.runtime
            .end_watches_if_unheard(self.unheard_after, false);
        super::json_only::refuse_unheard(&self.gateway, &self.runtime);
    }
}

fn list_changed_method(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Tools => "notifications/tools/list_changed",
        ListKind::Prompts => "notifications/prompts/list_changed",
        ListKind::Resources | ListKind::ResourceTemplates => "notifications/resources/list_changed",
    }
}

/// The standalone GET stream: `list_changed` notifications (recorded in the
/// session's GET stream log, so they can be replayed) and keep-alives.
pub fn get_stream(
    gateway: Arc<Gateway>,
    runtime: Arc<SessionRuntime>,
    after: u64,
    (keepalive, unheard_after): (Duration, Duration),
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let mut changes = gateway.backends.subscribe();
    let guard = GetStreamGuard::open(runtime.clone(), gateway, unheard_after);
    async_stream::stream! {
        let _guard = guard;
        let Some(log) = runtime.stream(GET_STREAM) else {
            return;
        };
        yield Ok(priming(GET_STREAM, after));
        let mut position = after;
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(kind) => {
                        log.push(encode_notification(list_changed_method(kind), b"{}"));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        log.push(encode_notification("notifications/tools/list_changed", b"{}"));
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                read = tokio::time::timeout(keepalive, log.next_after(position)) => match read {
                    Ok(StreamRead::Event(seq, message)) => {
                        position = seq;
                        yield Ok(event(Some(&format!("{GET_STREAM}-{seq}")), &message));
                    }
                    Ok(StreamRead::Closed) => break,
                    Err(_) => yield Ok(Bytes::from_static(KEEP_ALIVE)),
                },
            }
        }
    }
}

/// Parses a `Last-Event-ID` of the form `<stream>-<seq>`.
pub fn parse_event_id(text: &str) -> Option<(u64, u64)> {
    let (stream, seq) = text.trim().split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip() {
        assert_eq!(parse_event_id("3-17"), Some((3, 17)));
        assert_eq!(parse_event_id("x"), None);
        assert_eq!(
            &event(Some("1-2"), b"{}")[..],
            b"id: 1-2\nevent: message\ndata: {}\n\n"
        );
    }
}
