//! The admin listener's JSON reads: `/api/services` —
//! each service with its namespace, endpoints and their wires, whether it
//! is reachable (and why not), its breaker and limit, its catalog counts and, for a
//! service with several endpoints, each endpoint's state, and whether it
//! was registered at run time — and
//! `/api/audit?limit=N` — the last audit records written (at most
//! [`RECENT_RECORDS`](crate::audit::RECENT_RECORDS), oldest first; only
//! when the audit log is on).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Deserialize;

use crate::audit::RECENT_RECORDS;
use crate::front::http::health::service_state;
use crate::gateway::Gateway;

/// `GET /api/services`.
pub(super) async fn services(State(admin): State<super::Admin>) -> Response {
    let gateway = &admin.gateway;
    let registered = super::changes::registered_names(admin.live_opt.as_ref());
    let backends = gateway.backends.services();
    let counts = super::catalog_counts(gateway);
    let listed: Vec<serde_json::Value> = backends
        .iter()
        .map(|backend| {
            let index = backend.index;
            let config = &backend.config;
            let mut catalog_counts = serde_json::Map::new();
            for (name, by_service) in &counts {
                catalog_counts.insert(
                    (*name).to_owned(),
                    by_service.get(index).copied().unwrap_or(0).into(),
                );
            }
            let mut service = service_state(backend);
            service["namespace"] = config.namespace.clone().into();
            service["endpoints"] = config.endpoints.describe().into();
            service["catalog"] = catalog_counts.into();
            service["content_from"] = config.content_from.clone().into();
            service["registered"] = registered.contains(&config.name).into();
            if let Some(endpoints) = backend.endpoint_states() {
                service["endpoint_states"] = serde_json::json!(endpoints);
            }
            service
        })
        .collect();
    let skipped = admin
        .live_opt
        .as_ref()
        .map(|live| live.skipped())
        .unwrap_or_default();
    json(serde_json::json!({ "services": listed, "skipped": skipped }).to_string())
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    limit: Option<usize>,
}

/// `GET /api/audit?limit=N` (default 50).
pub(super) async fn audit(
    State(gateway): State<Arc<Gateway>>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(50).min(RECENT_RECORDS);
    let records = gateway.audit.recent(limit);
    let mut body = String::from("{\"records\":[");
    for (index, record) in records.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        // Each record is already one JSON object.
        body.push_str(record);
    }
    body.push_str("]}");
    json(body)
}

fn json(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
