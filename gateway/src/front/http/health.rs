//! `/readyz`: whether this gateway can serve — ready while at least one
//! service is reachable (its catalog stream is up), so that one service
//! being down does not take every replica out of a load balancer (each
//! would report the same) — and per service the state of its stack
//! (reachable, breaker, calls running, calls shed, each endpoint's state
//! when it has several, why it is down) for operators; the unreachable
//! ones are listed as `degraded`. With `[cluster]`, the shared store's
//! state too (`cluster`: up, live replicas, fallbacks taken); its absence
//! never makes a replica unready, as each shared decision has a fallback,
//! but a store refusing this replica's credentials is listed as `degraded`
//! (`cluster`, with `cluster.down_reason`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use super::answers::json_response;
use crate::backends::Backend;
use crate::gateway::Gateway;

/// What operators see of one service now: reachable (and why not), its
/// breaker and its limit (`/readyz`, and the admin API adds to it).
pub(crate) fn service_state(backend: &Backend) -> serde_json::Value {
    let mut service = serde_json::json!({
        "name": backend.config.name,
        "available": backend.is_available(),
        "breaker": backend.stack.breaker_state(),
        "breaker_opened_total": backend.stack.breaker_opened_total(),
        "calls_running": backend.stack.running(),
        "calls_shed_total": backend.stack.shed_total(),
    });
    if let Some(reason) = backend.down_reason() {
        service["down_reason"] = reason.into();
    }
    service
}

/// Ready (200) when at least one service is available (or none are
/// configured); 503 otherwise.
pub(crate) async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    let backends = gateway.backends.services();
    let services: Vec<serde_json::Value> = backends
        .iter()
        .map(|backend| {
            let mut service = service_state(backend);
            if let Some(endpoints) = backend.endpoint_states() {
                service["endpoints"] = serde_json::json!(endpoints);
            }
            service
        })
        .collect();
    let mut degraded: Vec<&str> = backends
        .iter()
        .filter(|backend| !backend.is_available())
        .map(|backend| backend.config.name.as_str())
        .collect();
    let ready = degraded.len() < services.len() || services.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A store refusing this replica's credentials is degraded (a
    // configuration error to fix), not unready: the fallbacks still serve.
    if let Some(cluster) = &gateway.cluster_opt
        && cluster.degraded_reason().is_some()
    {
        degraded.push("cluster");
    }
    let mut body = serde_json::json!({"ready": ready, "degraded": degraded, "services": services,
        "held_tools": gateway.backends.pins().held()});
    if let Some(cluster) = &gateway.cluster_opt {
        body["cluster"] = cluster.state();
    }
    json_response(status, body.to_string().into_bytes())
}
