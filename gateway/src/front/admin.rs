//! The admin listener: a second HTTP listener, apart from the clients'
//! `/mcp`, for operators and their tools — `/metrics` (Prometheus text
//! exposition), `/healthz` and `/readyz`. With an admin token every route
//! needs `Authorization: Bearer <admin token>` (compared in constant time);
//! without one it serves only requests whose `Host` is a loopback name, so a
//! web page cannot read it through DNS rebinding. State that already lives
//! in the gateway (breakers, limits, catalog, endpoints) is read at scrape
//! time, so it costs the request path nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalog::ListKind;
use crate::gateway::Gateway;
use crate::telemetry;

/// Who may use the admin listener.
#[derive(Clone)]
struct AdminAccess {
    /// sha256 of the admin token, when one is set.
    token_sha256_opt: Option<[u8; 32]>,
}

/// The admin routes for `gateway`; `token_opt` is the admin token.
pub fn router(gateway: Arc<Gateway>, token_opt: Option<&str>) -> Router {
    let access = AdminAccess {
        token_sha256_opt: token_opt.map(|token| Sha256::digest(token.as_bytes()).into()),
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(super::http::health::readyz))
        .with_state(gateway)
        .layer(middleware::from_fn_with_state(access, check_access))
}

/// Serves the admin routes on `listener` until `shutdown`.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    token_opt: Option<String>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(gateway, token_opt.as_deref());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// True when `address` may serve without an admin token (loopback).
pub fn may_serve_without_token(address: SocketAddr) -> bool {
    address.ip().is_loopback()
}

async fn check_access(State(access): State<AdminAccess>, request: Request, next: Next) -> Response {
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
                let mut refused =
                    (StatusCode::UNAUTHORIZED, "admin token required\n").into_response();
                refused.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"micromcp-admin\""),
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
                        "host {host:?} is not a loopback name; without an admin token (admin.token_file or MICROMCP_ADMIN_TOKEN) the admin listener serves only localhost\n"
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

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    record_state(&gateway);
    let Some(text) = telemetry::render() else {
        return (StatusCode::NOT_FOUND, "metrics are not recorded\n").into_response();
    };
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Sets the gauges (and counters kept elsewhere) that describe the
/// gateway's state now.
fn record_state(gateway: &Gateway) {
    let services = gateway.backends.services();
    let catalog = gateway.backends.catalog();
    let kinds = [
        (ListKind::Tools, "tools"),
        (ListKind::Prompts, "prompts"),
        (ListKind::Resources, "resources"),
        (ListKind::ResourceTemplates, "resource_templates"),
    ];
    let counts: Vec<Vec<usize>> = kinds
        .iter()
        .map(|(kind, _)| catalog.counts_by_service(*kind, services.len()))
        .collect();
    for (index, backend) in services.iter().enumerate() {
        let service = telemetry::static_label(&backend.config.name);
        metrics::gauge!(telemetry::SERVICE_AVAILABLE, "service" => service)
            .set(f64::from(u8::from(backend.is_available())));
        let breaker = match backend.stack.breaker_state() {
            "open" => 2.0,
            "half_open" => 1.0,
            _ => 0.0,
        };
        metrics::gauge!(telemetry::BREAKER_STATE, "service" => service).set(breaker);
        metrics::counter!(telemetry::BREAKER_OPENED, "service" => service)
            .absolute(backend.stack.breaker_opened_total());
        metrics::gauge!(telemetry::CALLS_RUNNING, "service" => service)
            .set(backend.stack.running() as f64);
        metrics::counter!(telemetry::CALLS_SHED, "service" => service)
            .absolute(backend.stack.shed_total());
        for ((_, kind), by_service) in kinds.iter().zip(&counts) {
            metrics::gauge!(telemetry::CATALOG_ITEMS, "service" => service, "kind" => *kind)
                .set(by_service.get(index).copied().unwrap_or(0) as f64);
        }
        if let Some(endpoints) = backend.endpoint_states() {
            // Counted by state, not labelled by address: addresses found by
            // DNS come and go, and each would leave a series behind.
            let ejected = endpoints.iter().filter(|endpoint| endpoint.ejected).count();
            metrics::gauge!(telemetry::ENDPOINTS, "service" => service, "state" => "serving")
                .set((endpoints.len() - ejected) as f64);
            metrics::gauge!(telemetry::ENDPOINTS, "service" => service, "state" => "ejected")
                .set(ejected as f64);
        }
    }
}
