//! `audited`: every change asked of the admin API — a service registered,
//! replaced or removed, a reload, a registry entry added, a tool approved —
//! written to the audit log as one record (transport `admin`, method
//! `admin/<action>`, the service or tool it names, the HTTP status it was
//! answered with, `operator` when the admin token was given), refused
//! attempts included: a change to what agents can reach is as traceable as
//! a call. Reads and the operator's MCP requests (audited as calls) are not
//! recorded here. Two layers: [`record_refused`], outside the token check,
//! records refusals from the path alone (it reads no body: an
//! unauthenticated client makes the gateway buffer nothing);
//! [`record_change`], inside it, reads the body once (as the handlers' own
//! limit allows) to name the service a POST registers or adds.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};

use crate::audit::{AuditRecord, Decision, Outcome};
use crate::gateway::Gateway;
use crate::principal::OPERATOR;

/// Largest body read to find the name a change names (axum's own limit
/// for the handlers' `Bytes`).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The action `method` on `path` is, and the name its path carries.
fn action_of(method: &Method, path: &str) -> Option<(&'static str, Option<String>)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "services"]) => Some(("admin/register", None)),
        ("PUT", ["api", "services", name]) => Some(("admin/replace", Some((*name).to_owned()))),
        ("DELETE", ["api", "services", name]) => {
            Some(("admin/deregister", Some((*name).to_owned())))
        }
        ("POST", ["api", "reload"]) => Some(("admin/reload", None)),
        ("POST", ["api", "registry", "add"]) => Some(("admin/registry_add", None)),
        ("POST", ["api", "tools", name, "approve"]) => {
            Some(("admin/approve", Some((*name).to_owned())))
        }
        _ => None,
    }
}

/// The `name` a JSON body carries, if any.
fn name_in(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("name")?.as_str().map(str::to_owned)
}

/// Middleware outside the token check: records a change refused for its
/// token (401/403), named from the path only.
pub(super) async fn record_refused(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let Some((action, target_opt)) = action_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let time = jiff::Timestamp::now();
    let started = Instant::now();
    let response = next.run(request).await;
    if is_refusal(response.status()) {
        write(
            &gateway,
            action,
            target_opt.as_deref(),
            time,
            started,
            0,
            response.status(),
        );
    }
    response
}

fn is_refusal(status: StatusCode) -> bool {
    matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
}

/// Middleware inside the token check: runs a change and records it
/// (refusals are [`record_refused`]'s).
pub(super) async fn record_change(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let Some((action, mut target_opt)) = action_of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let time = jiff::Timestamp::now();
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let (request, bytes_in) = if target_opt.is_none() && parts.method == Method::POST {
        let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
            let answer = (StatusCode::PAYLOAD_TOO_LARGE, "the body is over 2 MiB").into_response();
            write(&gateway, action, None, time, started, 0, answer.status());
            return answer;
        };
        target_opt = name_in(&bytes);
        let length = bytes.len() as u64;
        (Request::from_parts(parts, Body::from(bytes)), length)
    } else {
        (Request::from_parts(parts, body), 0)
    };
    let response = next.run(request).await;
    if !is_refusal(response.status()) {
        write(
            &gateway,
            action,
            target_opt.as_deref(),
            time,
            started,
            bytes_in,
            response.status(),
        );
    }
    response
}

fn write(
    gateway: &Gateway,
    action: &'static str,
    target_opt: Option<&str>,
    time: jiff::Timestamp,
    started: Instant,
    bytes_in: u64,
    status: StatusCode,
) {
    let refused = is_refusal(status);
    gateway.audit.write(&AuditRecord {
        time,
        request_id: None,
        principal: (!refused).then_some(OPERATOR),
        transport: "admin",
        era: None,
        method: Some(action),
        target: target_opt,
        decision: if refused {
            Decision::Deny
        } else {
            Decision::Allow
        },
        reason: refused.then_some("the admin token is missing or wrong"),
        outcome: if status.is_success() {
            Outcome::Ok
        } else {
            Outcome::Error
        },
        error: None,
        http_status: Some(status.as_u16()),
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        bytes_in,
        bytes_out: 0,
        arguments: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_named_and_reads_are_not() {
        assert_eq!(
            action_of(&Method::DELETE, "/api/services/kit"),
            Some(("admin/deregister", Some("kit".into())))
        );
        assert_eq!(
            action_of(&Method::POST, "/api/tools/fs.write_file/approve"),
            Some(("admin/approve", Some("fs.write_file".into())))
        );
        assert_eq!(
            action_of(&Method::POST, "/api/reload"),
            Some(("admin/reload", None))
        );
        assert_eq!(action_of(&Method::GET, "/api/services"), None);
        assert_eq!(action_of(&Method::POST, "/api/mcp"), None);
        assert_eq!(action_of(&Method::POST, "/api/registry/plan"), None);
        assert_eq!(
            name_in(br#"{"name":"wx","mcp_server":{}}"#),
            Some("wx".into())
        );
        assert_eq!(name_in(b"not json"), None);
    }
}
