//! A POST's place in its principal's share of the front (`shares`): taken
//! after authentication and before the body is read. A call (a method the
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

/// The request's place, or the held refusal of an early call that names
/// its method in `Mcp-Method`.
pub(super) async fn enter(
    gateway: &Gateway,
    principal_id: &str,
    parts: &http::request::Parts,
    audit: &mut AuditEntry,
) -> Result<SharePermit, Response> {
    let named_call = parts
        .headers
        .get("mcp-method")
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_limited);
    match gateway.shares.enter(principal_id, named_call).await {
        Ok(place) => Ok(place),
        Err(early) => Err(refuse_early(early, parts.version, audit).await),
    }
}

/// The held refusal of an early call known by its parsed envelope.
pub(super) async fn refuse_if_early(
    gateway: &Gateway,
    principal_id: &str,
    method: &str,
    version: Version,
    audit: &mut AuditEntry,
) -> Option<Response> {
    if !is_limited(method) {
        return None;
    }
    let early = gateway.shares.early(principal_id)?;
    Some(refuse_early(early, version, audit).await)
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
