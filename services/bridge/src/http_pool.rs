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
//! Redirects are followed as rmcp's default client follows them: only
//! same-origin 307 and 308 (which keep the method and body), at most
//! [`MAX_REDIRECTS`] hops; a cross-origin redirect would replay the session
//! id and the entry's headers to another host.

use std::sync::OnceLock;
use std::time::Duration;

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

static SHARED: OnceLock<reqwest::Client> = OnceLock::new();

/// The bridge's pooled client (built on first use; the TLS provider must be
/// installed before).
pub fn shared_client() -> Result<reqwest::Client, HttpPoolError> {
    if let Some(client) = SHARED.get() {
        return Ok(client.clone());
    }
    let client = build_client()?;
    Ok(SHARED.get_or_init(|| client).clone())
}

fn build_client() -> Result<reqwest::Client, HttpPoolError> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .redirect(redirect_policy())
        .build()?)
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
