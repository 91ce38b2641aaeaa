//! CORS for browser clients whose origin is allowed (`gateway.allowed_origins`,
//! or a page served from an allowed host): `OPTIONS /mcp` preflights are
//! answered with the methods and MCP headers a client sends, and every
//! answer to such an origin names it and exposes the headers a client must
//! read (`Mcp-Session-Id`, `WWW-Authenticate`, `Retry-After`). Any other
//! origin's preflight is refused (403), as its requests are by the guard.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::guard::check_host_and_origin;
use crate::gateway::Gateway;

const ALLOWED_METHODS: &str = "GET, POST, DELETE";
const ALLOWED_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id";
const EXPOSED_HEADERS: &str = "mcp-session-id, www-authenticate, retry-after";
/// How long a browser may keep a preflight's answer.
const MAX_AGE_SECS: &str = "600";

/// `OPTIONS /mcp`.
pub(super) async fn preflight(
    State(gateway): State<Arc<Gateway>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut response = Response::new(Body::empty());
    // HTTP/2 carries the host in the URI (`:authority`), not a Host header.
    if let Err((status, message)) = check_host_and_origin(&gateway.config, &headers, uri.host()) {
        *response.status_mut() = status;
        *response.body_mut() = Body::from(message);
        return response;
    }
    *response.status_mut() = StatusCode::NO_CONTENT;
    let answer = response.headers_mut();
    answer.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    if let Some(origin) = headers.get(header::ORIGIN) {
        answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        answer.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        answer.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        answer.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
        answer.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Names an allowed origin on the answer to its request (requests without
/// an `Origin` header pass untouched).
pub(super) async fn allow_origin(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let origin_opt = request.headers().get(header::ORIGIN).cloned();
    let allowed = origin_opt.is_some()
        && check_host_and_origin(&gateway.config, request.headers(), request.uri().host()).is_ok();
    let mut response = next.run(request).await;
    if let (true, Some(origin)) = (allowed, origin_opt) {
        let answer = response.headers_mut();
        answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        answer.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        answer.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}
