//! `/readyz`: whether every service is reachable (its catalog stream is
//! up), and per service the state of its stack — breaker, calls running,
//! calls shed, and each endpoint's state when it has several — for
//! operators and probes.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use super::json_response;
use crate::gateway::Gateway;

/// Ready (200) when every service is available; 503 otherwise.
pub(super) async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let services: Vec<serde_json::Value> = gateway
        .backends
        .services()
        .iter()
        .map(|backend| {
            let mut service = serde_json::json!({
                "name": backend.config.name,
                "available": backend.is_available(),
                "breaker": backend.stack.breaker_state(),
                "breaker_opened_total": backend.stack.breaker_opened_total(),
                "calls_running": backend.stack.running(),
                "calls_shed_total": backend.stack.shed_total(),
            });
            if let Some(endpoints) = backend.endpoint_states() {
                service["endpoints"] = serde_json::json!(endpoints);
            }
            service
        })
        .collect();
    let ready = gateway
        .backends
        .services()
        .iter()
        .all(|backend| backend.is_available());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        serde_json::json!({"ready": ready, "services": services})
            .to_string()
            .into_bytes(),
    )
}
