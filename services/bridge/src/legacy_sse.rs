//! `LegacySseTransport`: the client side of the 2024-11-05 HTTP+SSE
//! transport, for upstream servers that predate Streamable HTTP. A GET
//! opens the event stream; its first `endpoint` event names the URL the
//! client POSTs messages to; every answer and server request then arrives
//! as a `message` event on that one stream. rmcp has no client for this
//! transport, so this module supplies one as an rmcp [`Transport`].

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::{Sse, SseStream};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Longest the server may take to name its message endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages buffered between the event stream and the rmcp service.
const INCOMING_CAPACITY: usize = 64;
/// Largest single event accepted from the upstream.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// What can go wrong talking HTTP+SSE to an upstream.
#[derive(Debug, thiserror::Error)]
pub enum LegacySseError {
    #[error("cannot reach {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} did not answer with an event stream (content type {content_type:?})")]
    NotEventStream { url: String, content_type: String },
    #[error("the event stream ended before naming its message endpoint")]
    NoEndpoint,
    #[error("no endpoint event within {0:?}")]
    EndpointTimeout(Duration),
    #[error("message endpoint {0:?} is not a URL on the server's origin")]
    ForeignEndpoint(String),
    #[error("cannot encode a message: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One open HTTP+SSE connection to an upstream server.
pub struct LegacySseTransport {
    client: reqwest::Client,
    headers: HeaderMap,
    endpoint: reqwest::Url,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    _reader: DropGuard,
}

impl LegacySseTransport {
    /// Opens the event stream at `url` and waits for the endpoint event.
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: HeaderMap,
    ) -> Result<Self, LegacySseError> {
        let request_error = |source| LegacySseError::Request {
            url: url.to_owned(),
            source,
        };
        let response = client
            .get(url)
            .headers(headers.clone())
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(request_error)?;
        if !response.status().is_success() {
            return Err(LegacySseError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !content_type.starts_with("text/event-stream") {
            return Err(LegacySseError::NotEventStream {
                url: url.to_owned(),
                content_type,
            });
        }
        let base = response.url().clone();
        let mut events = bounded_events(response);
        let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
            while let Some(Ok(event)) = events.next().await {
                if event.event.as_deref() == Some("endpoint") {
                    return Ok(event.data.unwrap_or_default());
                }
            }
            Err(LegacySseError::NoEndpoint)
        })
        .await
        .map_err(|_| LegacySseError::EndpointTimeout(ENDPOINT_TIMEOUT))??;
        let endpoint = same_origin_endpoint(&base, endpoint.trim())?;
        let (sender, incoming) = mpsc::channel(INCOMING_CAPACITY);
        let stop = CancellationToken::new();
        tokio::spawn(read_messages(events, sender, stop.clone()));
        Ok(Self {
            client,
            headers,
            endpoint,
            incoming,
            _reader: stop.drop_guard(),
        })
    }
}

/// Resolves the announced endpoint against the stream's URL and refuses one
/// on another origin (a server must not steer the client's credentials away).
fn same_origin_endpoint(
    base: &reqwest::Url,
    announced: &str,
) -> Result<reqwest::Url, LegacySseError> {
    let endpoint = base
        .join(announced)
        .map_err(|_| LegacySseError::ForeignEndpoint(announced.to_owned()))?;
    if endpoint.origin() != base.origin() {
        return Err(LegacySseError::ForeignEndpoint(announced.to_owned()));
    }
    Ok(endpoint)
}

/// The parsed events of a response.
type Events = Pin<Box<dyn Stream<Item = Result<Sse, sse_stream::Error>> + Send>>;

/// Parses the response body as events, failing the stream when one event
/// grows past [`MAX_EVENT_BYTES`] (so a broken upstream cannot make the
/// parser buffer without end).
fn bounded_events(response: reqwest::Response) -> Events {
    let mut since_boundary = 0usize;
    let bytes = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        since_boundary = match last_boundary(&chunk) {
            Some(end) => chunk.len() - end,
            None => since_boundary + chunk.len(),
        };
        if since_boundary > MAX_EVENT_BYTES {
            return Err(std::io::Error::other(format!(
                "upstream event larger than {MAX_EVENT_BYTES} bytes"
            )));
        }
        Ok(chunk)
    });
    Box::pin(SseStream::from_bytes_stream(bytes))
}

/// Where the last blank line (end of an event) in `chunk` ends, if any
/// (within a byte for CRLF; the bound only needs to be approximate).
fn last_boundary(chunk: &[u8]) -> Option<usize> {
    chunk
        .windows(2)
        .rposition(|pair| pair == b"\n\n" || pair == b"\r\r" || pair == b"\n\r")
        .map(|start| start + 2)
}

/// Forwards `message` events to the service until the stream ends; the
/// channel closing tells rmcp the connection is gone.
async fn read_messages(
    mut events: Events,
    sender: mpsc::Sender<RxJsonRpcMessage<RoleClient>>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(error)) => {
                tracing::warn!(%error, "upstream event stream broke");
                return;
            }
            None => return,
        };
        if !matches!(event.event.as_deref(), None | Some("message")) {
            continue;
        }
        let Some(data) = event.data else { continue };
        match serde_json::from_str(&data) {
            Ok(message) => {
                if sender.send(message).await.is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "upstream sent a message that is not JSON-RPC"),
        }
    }
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = LegacySseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json");
        let url = self.endpoint.to_string();
        async move {
            let body = serde_json::to_vec(&item)?;
            let response =
                request
                    .body(body)
                    .send()
                    .await
                    .map_err(|source| LegacySseError::Request {
                        url: url.clone(),
                        source,
                    })?;
            if !response.status().is_success() {
                return Err(LegacySseError::Status {
                    url,
                    status: response.status().as_u16(),
                });
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        self.incoming.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.incoming.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> reqwest::Url {
        reqwest::Url::parse("http://127.0.0.1:3001/sse").expect("url")
    }

    #[test]
    fn relative_endpoints_resolve_against_the_stream_url() {
        let endpoint =
            same_origin_endpoint(&base(), "/message?sessionId=abc").expect("same origin");
        assert_eq!(
            endpoint.as_str(),
            "http://127.0.0.1:3001/message?sessionId=abc"
        );
    }

    #[test]
    fn event_boundaries_are_found_for_every_line_ending() {
        assert_eq!(last_boundary(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(
            last_boundary(b"data: a\r\n\r\n"),
            Some(10),
            "within a byte of the end"
        );
        assert_eq!(last_boundary(b"data: a\r\rx"), Some(9));
        assert_eq!(last_boundary(b"data: partial"), None);
    }

    #[test]
    fn endpoints_on_other_origins_are_refused() {
        for announced in [
            "http://evil.example/message",
            "https://127.0.0.1:3001/message",
            "http://127.0.0.1:9999/message",
        ] {
            assert!(
                matches!(
                    same_origin_endpoint(&base(), announced),
                    Err(LegacySseError::ForeignEndpoint(_))
                ),
                "{announced} must be refused"
            );
        }
    }
}
