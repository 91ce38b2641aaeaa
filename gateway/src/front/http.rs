//! The Streamable HTTP front on `/mcp` (POST, GET, DELETE), dual-era on one
//! endpoint, plus `/healthz` and `/readyz`. Order of checks per request:
//! Host/Origin → authentication → the principal's share of the front
//! (`share`: its line, an early request's refusal) → size and content type
//! → envelope parse → era (initialize, a session id, or 2026-07-28
//! `_meta`) → dispatch.
//! Browser clients of allowed origins get CORS answers (`cors`).

mod answers;
pub(crate) mod connections;
mod cors;
mod delete;
mod guard;
pub(crate) mod health;
mod json_only;
mod oauth;
mod paid_body;
mod pieces_body;
mod reply;
mod share;
mod sse;
mod stalled;
pub mod threads;
mod tls;
mod unwritten;

use std::sync::Arc;

use self::answers::{accepted, error_response, json_response, plain, unavailable};
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::net::TcpListener;
use tracing::Instrument;

use super::traced;
use crate::audit::AuditEntry;
use crate::context::CallContext;
use crate::dispatch;
use crate::error::GatewayError;
use crate::front::limits::{ConnectionLimits, connection_limits};
use crate::gateway::Gateway;
use crate::principal::Principal;
use crate::rates::is_limited;
use crate::wire::jsonrpc::{Envelope, MessageKind, encode_result};
use crate::wire::protocol::{
    LEGACY_VERSIONS, MODERN_VERSIONS, MirroredHeaders, ParamsHead, header_text, removed_method,
    validate_modern,
};

/// Header carrying the handshake-era session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// The gateway's HTTP routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(
            "/mcp",
            get(get_mcp)
                .post(post_mcp)
                .delete(delete::delete_mcp)
                .options(cors::preflight),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .route(
            "/.well-known/oauth-protected-resource",
            get(oauth::metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*path}",
            get(oauth::metadata),
        )
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            oauth::challenge,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            cors::allow_origin,
        ))
        .with_state(gateway)
}

/// Serves HTTP on `listener` until `shutdown` resolves, within the
/// connection caps of `[limits]` (counted for this listener alone).
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = connection_limits(&gateway.config.limits);
    serve_within(gateway, listener, limits, shutdown).await
}

/// [`serve`] with caps shared with other listeners (the front threads).
pub async fn serve_within(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    limits: Arc<ConnectionLimits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = gateway.config.limits.clone();
    let tls_opt = gateway
        .config
        .tls
        .as_ref()
        .map(|tls| tokio_rustls::TlsAcceptor::from(tls.server_config.clone()));
    let book = gateway.unwritten.clone();
    let router = router(gateway);
    connections::serve_connections(router, listener, limits, &config, tls_opt, book, shutdown).await
}

/// An error answer, noted in the request's audit entry.
pub(super) fn refuse(
    audit: &mut AuditEntry,
    id_text: &str,
    error: &GatewayError,
    modern: bool,
) -> Response {
    audit.error(error);
    error_response(id_text, error, modern)
}

/// Writes the audit entry of a finished exchange (streamed answers took
/// theirs along and write it when they end).
fn audited(mut audit: AuditEntry, response: Response) -> Response {
    if audit.is_on() {
        let size = http_body::Body::size_hint(response.body()).exact();
        audit.sent(size.map_or(0, |size| size as usize));
        audit.http_status(response.status().as_u16());
    }
    audit.finish();
    response
}

/// What `handle_request` needs of a POSTed request.
struct PostedRequest<'a> {
    headers: &'a HeaderMap,
    accepts: guard::Accepts,
    envelope: &'a Envelope<'a>,
    method: &'a str,
    session_id_opt: Option<&'a str>,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

async fn post_mcp(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let mut audit = gateway.audit.begin("http");
    let response = post_audited(gateway, request, &mut audit).await;
    audited(audit, response)
}

async fn post_audited(gateway: Arc<Gateway>, request: Request, audit: &mut AuditEntry) -> Response {
    let (parts, body) = request.into_parts();
    let principal = match guard::admit(&gateway, &parts, audit).await {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    // Held until the answer starts; when the headers name the method, the
    // body is not read before.
    let mut place_opt = match share::enter_named(&gateway, &principal.id, &parts, audit).await {
        Ok(place_opt) => place_opt,
        Err(response) => return response,
    };
    // Taken before the body is read, held until the answer is charged.
    let mut reservation_opt = match unwritten::admit(&gateway, &parts, &principal.id).await {
        Ok(reservation_opt) => reservation_opt,
        Err(refused) => return refused,
    };
    let headers = parts.headers;
    let accepts = guard::accepts(&headers);
    if !accepts.json && !accepts.sse {
        return plain(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must list application/json or text/event-stream".into(),
        );
    }
    if !guard::is_json_content(&headers) {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".into(),
        );
    }
    let limit = gateway.config.max_body_bytes;
    let too_large = GatewayError::PayloadTooLarge { limit };
    let declared = header_str(&headers, header::CONTENT_LENGTH.as_str())
        .and_then(|text| text.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return refuse(audit, "null", &too_large, false);
    }
    let body_timeout = gateway.config.limits.body_read_timeout;
    let body = match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return refuse(audit, "null", &too_large, false),
        Err(_) => {
            return plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s (limits.body_read_timeout_secs)",
                    body_timeout.as_secs()
                ),
            );
        }
    };
    if let Some(reservation) = &mut reservation_opt {
        reservation.grow_to(body.len());
    }
    let envelope = match Envelope::parse(&body) {
        Ok(envelope) => envelope,
        Err(error) => return refuse(audit, "null", &error, false),
    };
    let kind = match envelope.kind() {
        Ok(kind) => kind,
        Err(error) => return refuse(audit, envelope.id_text(), &error, false),
    };
    if kind != MessageKind::Request {
        // Notifications and answers to the gateway's requests are not
        // requests: no record.
        audit.discard();
    }
    let session_id_opt = header_str(&headers, SESSION_HEADER);
    match kind {
        MessageKind::Response => {
            let delivered = gateway.deliver_client_response(
                envelope.id_text(),
                &principal.id,
                envelope.result.map(|raw| raw.get()),
                envelope.error.map(|raw| raw.get()),
            );
            if !delivered {
                tracing::debug!(
                    id = envelope.id_text(),
                    "response to an unknown server request ignored"
                );
            }
            accepted()
        }
        MessageKind::Notification => {
            if envelope.method.as_deref() == Some("notifications/cancelled")
                && let Some(session_id) = session_id_opt
                && gateway.sessions.open(session_id, &principal.id).is_ok()
                && let Ok(head) = ParamsHead::parse(envelope.params)
                && let Some(request_id) = head.request_id
                && let Ok(runtime) = gateway.runtimes.get(session_id, &principal.id)
            {
                runtime.cancel_request(request_id.get());
            }
            accepted()
        }
        MessageKind::Request => {
            let method = envelope.method.clone().unwrap_or_default();
            // Taken from the headers already when they name the method.
            if place_opt.is_none() {
                match share::enter(
                    &gateway,
                    &principal.id,
                    is_limited(&method),
                    parts.version,
                    audit,
                )
                .await
                {
                    Ok(place) => place_opt = Some(place),
                    Err(refused) => return refused,
                }
            }
            let _place = place_opt;
            let posted = PostedRequest {
                headers: &headers,
                accepts,
                envelope: &envelope,
                method: &method,
                session_id_opt,
            };
            audit.request(&method, body.len());
            handle_request(&gateway, posted, principal, audit).await
        }
    }
}

async fn handle_request(
    gateway: &Arc<Gateway>,
    posted: PostedRequest<'_>,
    principal: Arc<Principal>,
    audit: &mut AuditEntry,
) -> Response {
    let PostedRequest {
        headers,
        accepts,
        envelope,
        method,
        session_id_opt,
    } = posted;
    let id_text = envelope.id_text();
    let head = match ParamsHead::parse(envelope.params) {
        Ok(head) => head,
        Err(error) => return refuse(audit, id_text, &error, false),
    };
    audit.request_target(method, &head, &gateway.config.catalog);
    let span = traced::request_span(
        header_str(headers, "traceparent"),
        method,
        &head,
        &principal,
    );
    let protocol_header = header_str(headers, PROTOCOL_VERSION_HEADER).map(header_text);
    if method == "initialize" && protocol_header.is_some_and(|v| MODERN_VERSIONS.contains(&v)) {
        return refuse(audit, id_text, &removed_method(method), true);
    }
    if method == "initialize" {
        audit.era("legacy");
        let sealed = dispatch::initialize(gateway, &head, &principal.id)
            .and_then(|(result, claims)| gateway.sessions.seal(&claims).map(|id| (result, id)));
        let (result, session_id) = match sealed {
            Ok(answer) => answer,
            Err(error) => return refuse(audit, id_text, &error, false),
        };
        let body = encode_result(id_text, result.as_bytes());
        let mut response = if accepts.json {
            json_response(StatusCode::OK, body)
        } else {
            sse::response(sse::single(body))
        };
        if let Ok(value) = HeaderValue::from_str(&session_id) {
            response.headers_mut().insert(SESSION_HEADER, value);
        }
        return response;
    }
    let context = if let Some(session_id) = session_id_opt {
        let opened = gateway.open_session_for(session_id, &principal.id, method);
        let (claims, pending_opt) = match opened.await {
            Ok(opened) => opened,
            Err(error) => return refuse(audit, id_text, &error, false),
        };
        if let Some(version) = protocol_header
            && !LEGACY_VERSIONS.contains(&version)
        {
            let error = GatewayError::InvalidRequest(format!(
                "unsupported MCP-Protocol-Version header: {version}"
            ));
            return refuse(audit, id_text, &error, false);
        }
        let runtime = match gateway.runtimes.get(session_id, &principal.id) {
            Ok(runtime) => runtime,
            Err(full) => return unavailable(id_text, &full.to_string()),
        };
        let context = CallContext::legacy(
            principal,
            claims.client_capabilities,
            runtime,
            gateway.next_request_id(),
        );
        match pending_opt {
            Some(pending) => context.with_pending_revocation(pending),
            None => context,
        }
    } else if head.meta_protocol_version().is_some()
        || protocol_header.is_some_and(|version| MODERN_VERSIONS.contains(&version))
    {
        let mirrored = MirroredHeaders {
            protocol_version: protocol_header,
            method: header_str(headers, "mcp-method"),
            name: header_str(headers, "mcp-name"),
        };
        if let Err(error) = validate_modern(method, &head, &mirrored, true) {
            return refuse(audit, id_text, &error, true);
        }
        CallContext::modern(principal, head.meta.as_ref(), gateway.next_request_id())
            .with_param_headers(guard::param_headers(headers))
    } else {
        let error = GatewayError::SessionRequired(
            "missing Mcp-Session-Id header: send initialize first (protocol 2025-11-25), or put io.modelcontextprotocol/protocolVersion in params._meta (protocol 2026-07-28)".into(),
        );
        return refuse(audit, id_text, &error, false);
    };
    audit.context(&context);
    let mut outcome = dispatch::handle(gateway, &context, method, id_text, head, envelope.params)
        .instrument(span.clone())
        .await;
    // A call refused before its rates were decided has its session checked now.
    if let Err(error) = gateway.confirm_session(&context).await {
        outcome = Err(error);
    }
    reply::respond(gateway, &context, accepts, id_text, outcome, audit)
        .instrument(span)
        .await
}

async fn get_mcp(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let mut audit = gateway.audit.begin("http");
    audit.request("GET /mcp", 0);
    let response = get_audited(gateway, request, &mut audit).await;
    audited(audit, response)
}

/// Opens (or resumes) a session's GET stream; its record is written when
/// the stream is opened or refused.
async fn get_audited(gateway: Arc<Gateway>, request: Request, audit: &mut AuditEntry) -> Response {
    let (parts, _body) = request.into_parts();
    let principal = match guard::admit(&gateway, &parts, audit).await {
        Ok(principal) => principal,
        Err(response) => return *response,
    };
    let headers = &parts.headers;
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET needs an Mcp-Session-Id (protocol 2025-11-25); protocol 2026-07-28 has no GET stream".into());
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    };
    if !guard::accepts(headers).sse {
        return plain(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must list text/event-stream".into(),
        );
    }
    if let Err(error) = gateway.open_session(session_id, &principal.id).await {
        return refuse(audit, "null", &error, false);
    }
    let runtime = match gateway.runtimes.get(session_id, &principal.id) {
        Ok(runtime) => runtime,
        Err(full) => return unavailable("null", &full.to_string()),
    };
    let keepalive = gateway.config.keepalive;
    let timers = (keepalive, gateway.config.limits.watch_without_stream);
    let mut after = 0;
    if let Some(last_event_id) = header_str(headers, "last-event-id") {
        let Some((stream_id, resumed_after)) = sse::parse_event_id(last_event_id) else {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("malformed Last-Event-ID: {last_event_id:?}"),
            );
        };
        if stream_id != crate::session::GET_STREAM {
            return match runtime.existing_stream(stream_id) {
                Some(log) => sse::response(sse::from_log(stream_id, log, resumed_after, keepalive)),
                None => plain(
                    StatusCode::NOT_FOUND,
                    format!("stream {stream_id} cannot be resumed on this gateway"),
                ),
            };
        }
        after = resumed_after;
    }
    if runtime.get_stream_open.swap(true, Ordering::Relaxed) {
        return plain(
            StatusCode::CONFLICT,
            "this session already has an open GET stream".into(),
        );
    }
    sse::response(sse::get_stream(gateway, runtime, after, timers))
}
