//! The one HTTP client every Streamable HTTP session of this bridge uses —
//! the shared session, per-principal sessions and every reconnect — so
//! their requests share one pool of keep-alive connections to the upstream.
//!
//! rmcp's default client (`StreamableHttpClientTransport::from_config`)
//! disables idle pooling (`pool_max_idle_per_host(0)`): every POST then
//! opens a TCP connection and the bridge closes it after the answer, which
//! under load leaves thousands of sockets in TIME_WAIT and runs a real
//! network out of ephemeral ports (`bench/RESULTS.md`, 2026-12-07). Sharing
//! a connection between principals shares no identity: every request
//! carries its own session id and token.
//!
//! An upstream (or a proxy before it) that closes every connection after its
//! response, without saying `Connection: close`, makes a pooled request
//! fail when it races the close; a POST is not retried (the server may have
//! applied it). After the first such failure the bridge stops pooling —
//! one bridge process has one upstream — and opens a connection per
//! request as rmcp's client does, with a warning.
//!
//! Redirects are followed as rmcp's default client follows them: only
//! same-origin 307 and 308 (which keep the method and body), at most
//! [`MAX_REDIRECTS`] hops; a cross-origin redirect would replay the session
//! id and the entry's headers to another host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

/// Redirect hops one request may follow.
pub const MAX_REDIRECTS: usize = 10;

/// Idle connections kept per upstream host; more concurrent calls open more
/// connections, and the surplus is closed when they go idle.
const MAX_IDLE_PER_HOST: usize = 64;

/// How long an idle pooled connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the shared client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpPoolError {
    #[error("cannot build an HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

static POOLED: OnceLock<reqwest::Client> = OnceLock::new();
static UNPOOLED: OnceLock<reqwest::Client> = OnceLock::new();
/// Set once a pooled request failed as a connection the upstream closed.
static POOLING_OFF: AtomicBool = AtomicBool::new(false);

/// The bridge's client (its clients built now; the TLS provider must be
/// installed before).
pub fn shared_client() -> Result<BridgeHttpClient, HttpPoolError> {
    for (cell, idle_per_host) in [(&POOLED, MAX_IDLE_PER_HOST), (&UNPOOLED, 0)] {
        if cell.get().is_none() {
            let client = build_client(idle_per_host)?;
            let _ = cell.set(client);
        }
    }
    Ok(BridgeHttpClient(()))
}

fn build_client(idle_per_host: usize) -> Result<reqwest::Client, HttpPoolError> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .redirect(redirect_policy())
        .build()?)
}

/// rmcp's HTTP client for the bridge: reqwest's implementation on the
/// pooled client, or on the unpooled one once pooling is off.
#[derive(Clone, Debug)]
pub struct BridgeHttpClient(());

// === impl BridgeHttpClient ===

impl BridgeHttpClient {
    /// The client for the next request, and whether it pools.
    fn current(&self) -> (reqwest::Client, bool) {
        let pooling = !POOLING_OFF.load(Ordering::Relaxed);
        let cell = if pooling { &POOLED } else { &UNPOOLED };
        // Both cells are set before a BridgeHttpClient exists.
        let client = cell
            .get()
            .or_else(|| UNPOOLED.get())
            .cloned()
            .unwrap_or_default();
        (client, pooling)
    }

    fn observe<T>(
        pooling: bool,
        result: Result<T, StreamableHttpError<reqwest::Error>>,
    ) -> Result<T, StreamableHttpError<reqwest::Error>> {
        if let Err(StreamableHttpError::Client(error)) = &result
            && pooling
            && closed_under_us(error)
            && !POOLING_OFF.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %error,
                "the upstream closed a kept-alive connection: one connection per request from now on"
            );
        }
        result
    }
}

/// A request that failed on its way out (not connecting, not a timeout):
/// what a pooled connection the upstream had closed looks like.
fn closed_under_us(error: &reqwest::Error) -> bool {
    error.is_request() && !error.is_connect() && !error.is_timeout()
}

impl StreamableHttpClient for BridgeHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let (client, pooling) = self.current();
        let result = client
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await;
        Self::observe(pooling, result)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let (client, pooling) = self.current();
        let result = client
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        Self::observe(pooling, result)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let (client, pooling) = self.current();
        let result = client
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await;
        Self::observe(pooling, result)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let (client, pooling) = self.current();
        let result = client
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await;
        Self::observe(pooling, result)
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let (client, pooling) = self.current();
        let result = client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        Self::observe(pooling, result)
    }
}

fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let next = redirect_step(
            attempt.status(),
            attempt.previous().first(),
            attempt.url(),
            attempt.previous().len(),
        );
        match next {
            RedirectStep::Follow => attempt.follow(),
            RedirectStep::Stop => attempt.stop(),
            RedirectStep::TooMany => attempt.error(format!("exceeded {MAX_REDIRECTS} redirects")),
        }
    })
}

/// What to do with one redirect.
#[derive(Debug, PartialEq, Eq)]
enum RedirectStep {
    Follow,
    Stop,
    TooMany,
}

fn redirect_step(
    status: reqwest::StatusCode,
    first_opt: Option<&reqwest::Url>,
    next: &reqwest::Url,
    hops: usize,
) -> RedirectStep {
    let keeps_body = matches!(
        status,
        reqwest::StatusCode::TEMPORARY_REDIRECT | reqwest::StatusCode::PERMANENT_REDIRECT
    );
    let same_origin = first_opt.is_some_and(|first| first.origin() == next.origin());
    if !keeps_body || !same_origin {
        RedirectStep::Stop
    } else if hops > MAX_REDIRECTS {
        RedirectStep::TooMany
    } else {
        RedirectStep::Follow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        text.parse().expect("a valid url")
    }

    #[test]
    fn only_same_origin_307_and_308_are_followed() {
        let first = url("http://127.0.0.1:9/mcp");
        let same = url("http://127.0.0.1:9/v2/mcp");
        let other = url("http://evil.example:9/mcp");
        let other_port = url("http://127.0.0.1:10/mcp");
        let temporary = reqwest::StatusCode::TEMPORARY_REDIRECT;
        assert_eq!(
            redirect_step(temporary, Some(&first), &same, 1),
            RedirectStep::Follow
        );
        assert_eq!(
            redirect_step(
                reqwest::StatusCode::PERMANENT_REDIRECT,
                Some(&first),
                &same,
                1
            ),
            RedirectStep::Follow
        );
        assert_eq!(
            redirect_step(temporary, Some(&first), &other, 1),
            RedirectStep::Stop
        );
        assert_eq!(
            redirect_step(temporary, Some(&first), &other_port, 1),
            RedirectStep::Stop
        );
        assert_eq!(
            redirect_step(reqwest::StatusCode::FOUND, Some(&first), &same, 1),
            RedirectStep::Stop,
            "a 302 would turn the POST into a GET"
        );
        assert_eq!(
            redirect_step(temporary, Some(&first), &same, MAX_REDIRECTS + 1),
            RedirectStep::TooMany
        );
    }
}
