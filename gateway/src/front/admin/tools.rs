//! The admin API's tool-definition pins: `GET /api/tools/held` lists the
//! tools held because their definition changed since it was approved (by
//! exposed name, with both digests and the definition offered, whose digest
//! `offered_sha256` is); `POST /api/tools/{name}/approve`
//! (admin token, body `{"sha256": "<the offered digest reviewed>"}`)
//! approves that definition, and the tool is listed and callable again. A
//! tool that offers another definition by then — swapped between review
//! and approval — or an approval that names none is refused with 409
//! naming the digest offered now: nothing is approved unseen. With
//! `[cluster]` an approval is shared with every replica (each applies it
//! within a second), or refused with 503 naming Redis.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::Admin;
use super::changes::{answer, json_body, problem};
use crate::backends::pins::{Approval, definition_digest, definition_json};
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
            // The digest of the very definition shown (what an approval names).
            if let Some(tool) = gateway.backends.offered_tool(&held.service, &held.tool) {
                listed["offered_sha256"] = definition_digest(&tool).into();
                listed["offered"] = definition_json(&tool);
            }
            listed
        })
        .collect();
    answer(StatusCode::OK, json!({ "held": held }))
}

/// `POST /api/tools/{name}/approve`.
pub(super) async fn approve(
    State(admin): State<Admin>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reviewed = if body.is_empty() {
        String::new()
    } else {
        match json_body(&headers, &body) {
            Ok(asked) => asked
                .get("sha256")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            Err(refused) => return *refused,
        }
    };
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
    // With `[cluster]`, shared first (when it is the definition offered
    // here now): an approval the others cannot learn is not made at all.
    let offered_opt = gateway
        .backends
        .offered_tool(&held.service, &held.tool)
        .map(|tool| definition_digest(&tool));
    if offered_opt.is_some_and(|offered| offered.eq_ignore_ascii_case(&reviewed))
        && let Err(error) = gateway
            .share_tool_approval(&held.service, &held.tool, &reviewed)
            .await
    {
        return problem(StatusCode::SERVICE_UNAVAILABLE, &error.to_string());
    }
    match gateway
        .backends
        .approve_tool(&held.service, &held.tool, &reviewed)
    {
        Approval::Approved => answer(
            StatusCode::OK,
            json!({ "approved": name, "service": held.service, "sha256": reviewed.to_ascii_lowercase() }),
        ),
        Approval::NotHeld => problem(
            StatusCode::CONFLICT,
            &format!("{name:?} was approved meanwhile"),
        ),
        Approval::Changed { offered_sha256 } => {
            let message = if reviewed.is_empty() {
                format!(
                    "approving {name:?} needs the sha256 of the definition reviewed (body {{\"sha256\": …}}); it offers {offered_sha256} now"
                )
            } else {
                let shown: String = reviewed.chars().take(64).collect();
                format!(
                    "{name:?} offers another definition than the one reviewed ({shown}): it offers {offered_sha256} now; review that one"
                )
            };
            answer(
                StatusCode::CONFLICT,
                json!({ "error": message, "offered_sha256": offered_sha256 }),
            )
        }
    }
}
