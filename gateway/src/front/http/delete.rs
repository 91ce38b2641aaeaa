//! `DELETE /mcp`: a client ends its 2025-11-25 session (the id named by
//! `Mcp-Session-Id`, which must be its own); without one, 405 naming POST.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::answers::plain;
use super::{SESSION_HEADER, audited, guard, header_str, refuse};
use crate::audit::AuditEntry;
use crate::error::GatewayError;
use crate::gateway::Gateway;

pub(super) async fn delete_mcp(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let mut audit = gateway.audit.begin("http");
    audit.request("DELETE /mcp", 0);
    let (parts, _body) = request.into_parts();
    let response = delete_audited(&gateway, &parts, &mut audit).await;
    audited(audit, response)
}

async fn delete_audited(
    gateway: &Gateway,
    parts: &http::request::Parts,
    audit: &mut AuditEntry,
) -> Response {
    let principal = match guard::admit(gateway, parts, audit).await {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    let headers = &parts.headers;
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "DELETE ends a 2025-11-25 session and needs Mcp-Session-Id".into(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    };
    let ended = match gateway.open_session(session_id, &principal.id).await {
        Ok(claims) => gateway.end_session(session_id, &claims).await,
        Err(error) => Err(error),
    };
    match ended {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error @ GatewayError::Transient { .. }) => {
            audit.error(&error);
            plain(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
        Err(error) => refuse(audit, "null", &error, false),
    }
}
