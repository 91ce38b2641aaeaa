//! The admin listener: a second HTTP listener, apart from the clients'
//! `/mcp`, for operators and their tools — `/metrics` (Prometheus text
//! exposition), `/healthz`, `/readyz`, the JSON reads (`api`) and changes
//! (`changes`: registrations, reload; always behind the token; each one
//! audited, `audited`) — behind the admin token, or
//! without one for loopback `Host`s only (`micromcp_telemetry::access`);
//! connections handled as the `/mcp` front's are (caps of `[limits]`,
//! counted apart, header and idle timeouts). State that already lives in
//! the gateway (breakers, limits, catalog, endpoints) is read at scrape
//! time, so it costs the request path nothing.

mod api;
mod audited;
mod changes;
mod operator;
mod page;
mod registry;
mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post, put};
use micromcp_telemetry::access::{self, Access};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::http::connections::serve_connections;
use super::limits::connection_limits;
use crate::catalog::ListKind;
use crate::gateway::Gateway;
use crate::live_config::LiveConfig;
use crate::telemetry;

/// What the admin routes work on.
#[derive(Clone)]
pub(crate) struct Admin {
    gateway: Arc<Gateway>,
    /// Reloads and registrations, when the gateway can be changed.
    live_opt: Option<Arc<LiveConfig>>,
}

impl FromRef<Admin> for Arc<Gateway> {
    fn from_ref(admin: &Admin) -> Self {
        admin.gateway.clone()
    }
}

/// The admin routes for `gateway` (changed through `live_opt`);
/// `token_opt` is the admin token.
pub fn router(
    gateway: Arc<Gateway>,
    live_opt: Option<Arc<LiveConfig>>,
    token_opt: Option<&str>,
) -> Router {
    let access = Access::new(
        token_opt,
        "admin.token_file or MICROMCP_ADMIN_TOKEN; micromcp up keeps it in .micromcp/admin-token",
    );
    let audit_gateway = gateway.clone();
    let admin = Admin { gateway, live_opt };
    let changes = Router::new()
        .route("/api/services", post(changes::register))
        .route(
            "/api/services/{name}",
            put(changes::replace).delete(changes::deregister),
        )
        .route("/api/reload", post(changes::reload))
        .route("/api/mcp", post(operator::request))
        .route("/api/registry/plan", post(registry::plan))
        .route("/api/registry/add", post(registry::add))
        .route("/api/tools/{name}/approve", post(tools::approve))
        .layer(middleware::from_fn_with_state(
            token_opt.is_some(),
            changes::need_token,
        ))
        .layer(middleware::from_fn_with_state(
            audit_gateway.clone(),
            audited::record_change,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(super::http::health::readyz))
        .route("/api/services", get(api::services))
        .route("/api/audit", get(api::audit))
        .route("/api/registry/servers", get(registry::search))
        .route("/api/tools/held", get(tools::held))
        .merge(changes)
        .with_state(admin)
        .layer(middleware::from_fn_with_state(access, access::check))
        // Outside the token check: refused changes are recorded too.
        .layer(middleware::from_fn_with_state(
            audit_gateway,
            audited::record_refused,
        ))
        // The page holds no data (its script asks the API, with the token
        // typed into it): served to anyone who reaches the listener.
        .merge(page::router())
}

/// Serves the admin routes on `listener` until `shutdown`.
pub async fn serve(
    gateway: Arc<Gateway>,
    live_opt: Option<Arc<LiveConfig>>,
    listener: TcpListener,
    token_opt: Option<String>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // The `/mcp` front's connection handling: its caps (counted apart from
    // the front's), header and idle timeouts, graceful drain.
    let limits = connection_limits(&gateway.config.limits);
    let config = gateway.config.limits.clone();
    let book = gateway.unwritten.clone();
    let app = router(gateway, live_opt, token_opt.as_deref());
    serve_connections(
        app,
        listener,
        limits,
        &config,
        None,
        book,
        shutdown.cancelled_owned(),
    )
    .await
}

pub use micromcp_telemetry::access::may_serve_without_token;

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    record_state(&gateway);
    access::metrics_response()
}

/// Per list kind (named as in labels and the API), the items each service
/// lists now, by service index.
fn catalog_counts(gateway: &Gateway) -> Vec<(&'static str, Vec<usize>)> {
    let services = gateway.backends.index_count();
    let catalog = gateway.backends.catalog();
    [
        (ListKind::Tools, "tools"),
        (ListKind::Prompts, "prompts"),
        (ListKind::Resources, "resources"),
        (ListKind::ResourceTemplates, "resource_templates"),
    ]
    .into_iter()
    .map(|(kind, name)| (name, catalog.counts_by_service(kind, services)))
    .collect()
}

/// Sets the gauges (and counters kept elsewhere) that describe the
/// gateway's state now.
fn record_state(gateway: &Gateway) {
    let services = gateway.backends.services();
    let counts = catalog_counts(gateway);
    for backend in &services {
        let index = backend.index;
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
        for (kind, by_service) in &counts {
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
