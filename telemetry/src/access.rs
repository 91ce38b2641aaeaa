//! Who may read an operator's listener (`/metrics` and the like): with a
//! token, only requests carrying `Authorization: Bearer <token>` (compared
//! in constant time, as sha256 digests); without one, only requests whose
//! `Host` is a loopback name, so that a web page cannot read the listener
//! through DNS rebinding. A listener beyond loopback must have a token
//! ([`may_serve_without_token`]).

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The rule of one listener, for `axum::middleware::from_fn_with_state`
/// with [`check`].
#[derive(Clone)]
pub struct Access {
    /// sha256 of the token, when one is set.
    token_sha256_opt: Option<[u8; 32]>,
    /// Where the token is configured, for the refusal's text.
    token_keys: &'static str,
}

impl Access {
    /// Requires `token_opt` when given; `token_keys` names where it is set
    /// (`"admin.token_file or MICROMCP_ADMIN_TOKEN"`).
    pub fn new(token_opt: Option<&str>, token_keys: &'static str) -> Self {
        Self {
            token_sha256_opt: token_opt.map(|token| Sha256::digest(token.as_bytes()).into()),
            token_keys,
        }
    }
}

/// True when `address` may serve without a token (loopback).
pub fn may_serve_without_token(address: SocketAddr) -> bool {
    address.ip().is_loopback()
}

/// The middleware: refuses requests [`Access`] does not let through.
pub async fn check(State(access): State<Access>, request: Request, next: Next) -> Response {
    match access.token_sha256_opt {
        Some(expected) => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(|token| -> [u8; 32] { Sha256::digest(token.trim().as_bytes()).into() });
            let valid = presented.is_some_and(|digest| bool::from(digest.ct_eq(&expected)));
            if !valid {
                let mut refused = (
                    StatusCode::UNAUTHORIZED,
                    format!("a bearer token is required ({})\n", access.token_keys),
                )
                    .into_response();
                refused.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"micromcp-operator\""),
                );
                return refused;
            }
        }
        None => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .or_else(|| request.uri().host())
                .unwrap_or_default();
            if !is_loopback_host(host) {
                return (
                    StatusCode::FORBIDDEN,
                    format!(
                        "host {host:?} is not a loopback name; without a token ({}) this listener serves only localhost\n",
                        access.token_keys
                    ),
                )
                    .into_response();
            }
        }
    }
    next.run(request).await
}

fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `/metrics` answer: every metric in the text exposition format (404
/// before [`install`](crate::install)).
pub fn metrics_response() -> Response {
    let Some(text) = crate::render() else {
        return (StatusCode::NOT_FOUND, "metrics are not recorded\n").into_response();
    };
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_recognised() {
        for host in [
            "localhost",
            "LOCALHOST:9464",
            "127.0.0.1",
            "127.0.0.5:1",
            "[::1]:9464",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "attacker.example",
            "10.0.0.1:9464",
            "[2001:db8::1]",
            "localhost.evil",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
