//! The admin web page at `/`: three files embedded in the binary
//! (`page/index.html`, `page/admin.js`, `page/admin.css`; plain HTML, CSS
//! and JavaScript, no build step) that show the services, the catalog with
//! search, a form calling a tool from its input schema, recent audit records
//! and live counters — all read from the API with the admin token the
//! operator types in. Served with a strict Content-Security-Policy (its own
//! scripts and styles only, no framing).

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};

const INDEX_HTML: &str = include_str!("page/index.html");
const ADMIN_JS: &str = include_str!("page/admin.js");
const ADMIN_CSS: &str = include_str!("page/admin.css");

/// What the page may load and do.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's routes.
pub(super) fn router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/admin.js",
            get(|| async { asset(ADMIN_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/admin.css",
            get(|| async { asset(ADMIN_CSS, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
