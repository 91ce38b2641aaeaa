//! A POST's place in its principal's share of the front (`shares`): taken
//! by requests only — after authentication and before the body is read
//! when the request names its method in `Mcp-Method` (2026-07-28), right
//! after its envelope is parsed otherwise. Answers to the gateway's own
//! requests (an elicitation's result) and notifications (a cancellation)
//! never wait in the line: the calls holding the places may be waiting for
//! them. A call (a method the
//! rate limits count) of a principal that came back before its
//! `Retry-After` gets its 429 from here — from the headers, body never
//! read, when it names its method in `Mcp-Method` (2026-07-28); right
//! after the envelope is parsed otherwise — the answer held a while, and
//! the connection closed once the principal keeps coming early (HTTP/1.1).

use axum::response::Response;
use http::{HeaderValue, Version, header};

use crate::audit::AuditEntry;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::rates::is_limited;
use crate::shares::{EarlyRefusal, SharePermit};

/// The place of a request that names its method in `Mcp-Method`, or the
/// held refusal of such a call come early; `None` when the header names no
/// method or a notification (decided once the envelope is parsed).
pub(super) async fn enter_named(
    gateway: &Gateway,
    principal_id: &str,
    parts: &http::request::Parts,
    audit: &mut AuditEntry,
) -> Result<Option<SharePermit>, Response> {
    let Some(method) = parts
        .headers
        .get("mcp-method")
        .and_then(|value| value.to_str().ok())
    else {
        return Ok(None);
    };
    if method.starts_with("notifications/") {
        return Ok(None);
    }
    enter(
        gateway,
        principal_id,
        is_limited(method),
        parts.version,
        audit,
    )
    .await
    .map(Some)
}

/// The place of a request known by its parsed envelope (`method`), or the
/// held refusal of an early call.
pub(super) async fn enter(
    gateway: &Gateway,
    principal_id: &str,
    limited: bool,
    version: Version,
    audit: &mut AuditEntry,
) -> Result<SharePermit, Response> {
    match gateway.shares.enter(principal_id, limited).await {
        Ok(place) => Ok(place),
        Err(early) => Err(refuse_early(early, version, audit).await),
    }
}

async fn refuse_early(early: EarlyRefusal, version: Version, audit: &mut AuditEntry) -> Response {
    tokio::time::sleep(early.hold).await;
    let left = early.retry_after.saturating_sub(early.hold);
    let error = GatewayError::RateLimited {
        message: format!(
            "{}; this request came before its Retry-After and was refused unread",
            early.message
        ),
        retry_after_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1),
    };
    let mut response = super::refuse(audit, "null", &error, false);
    if early.close && version <= Version::HTTP_11 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
