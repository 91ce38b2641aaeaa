//! The admin API's tool-definition pins: `GET /api/tools/held` lists the
//! tools held because their definition changed since it was approved (by
//! exposed name, with both digests); `POST /api/tools/{name}/approve`
//! (admin token) approves the definition a held tool offers now, and the
//! tool is listed and callable again.

use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

use super::Admin;
use super::changes::{answer, problem};
use crate::gateway::Gateway;

/// The exposed name of `service`'s tool `tool`.
fn exposed(gateway: &Gateway, service: &str, tool: &str) -> String {
    match gateway.backends.named(service) {
        Some(backend) if !backend.config.namespace.is_empty() => format!(
            "{}{}{tool}",
            backend.config.namespace, gateway.config.namespace_separator
        ),
        _ => tool.to_owned(),
    }
}

/// `GET /api/tools/held`.
pub(super) async fn held(State(admin): State<Admin>) -> Response {
    let gateway = &admin.gateway;
    let held: Vec<serde_json::Value> = gateway
        .backends
        .pins()
        .held()
        .into_iter()
        .map(|held| {
            let mut listed = json!(held);
            listed["name"] = exposed(gateway, &held.service, &held.tool).into();
            listed
        })
        .collect();
    answer(StatusCode::OK, json!({ "held": held }))
}

/// `POST /api/tools/{name}/approve`.
pub(super) async fn approve(State(admin): State<Admin>, Path(name): Path<String>) -> Response {
    let gateway = &admin.gateway;
    let held = gateway
        .backends
        .pins()
        .held()
        .into_iter()
        .find(|held| exposed(gateway, &held.service, &held.tool) == name);
    let Some(held) = held else {
        return problem(
            StatusCode::NOT_FOUND,
            &format!("no held tool is named {name:?} (GET /api/tools/held lists them)"),
        );
    };
    if !gateway.backends.approve_tool(&held.service, &held.tool) {
        return problem(
            StatusCode::CONFLICT,
            &format!("{name:?} was approved meanwhile"),
        );
    }
    answer(
        StatusCode::OK,
        json!({ "approved": name, "service": held.service, "sha256": held.offered_sha256 }),
    )
}
