//! Turns a dispatched request's outcome into the HTTP response the client
//! asked for (JSON or SSE), and hands the audit entry to streamed answers
//! so their record is written when they end. A rate-limit refusal is noted
//! in the principal's share (`shares`), which refuses what comes back early.
//! A session call answered in plain JSON sends the gateway's own requests
//! on the GET stream, or refuses them (`json_only`).

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};

use super::answers::{error_response, json_response};
use super::{guard, json_only, pieces_body, sse};
use crate::audit::{AuditEntry, AuditedBody, audit_events, error_answer_code};
use crate::context::{CallContext, EraState, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::encode_error;

/// The response to a dispatched request.
pub(super) async fn respond(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    accepts: guard::Accepts,
    id_text: &str,
    outcome: Result<Reply, GatewayError>,
    audit: &mut AuditEntry,
) -> Response {
    let modern = context.is_modern();
    match outcome {
        Err(error) => {
            audit.error(&error);
            if let GatewayError::RateLimited {
                message,
                retry_after_ms,
            } = &error
            {
                // Coming back before then is refused from the headers.
                let retry_after = std::time::Duration::from_millis(*retry_after_ms);
                gateway
                    .shares
                    .refused(&context.principal.id, retry_after, message);
            }
            // A rate limit's 429 and Retry-After matter more than the body type.
            if accepts.json || matches!(error, GatewayError::RateLimited { .. }) {
                error_response(id_text, &error, modern)
            } else {
                sse::response(sse::single(encode_error(id_text, &error)))
            }
        }
        Ok(Reply::Json(body)) => {
            if accepts.json {
                json_response(StatusCode::OK, body)
            } else {
                sse::response(sse::single(body))
            }
        }
        Ok(Reply::Pieces(pieces)) => {
            if accepts.json {
                let mut response = Response::new(Body::new(pieces_body::PiecesBody::new(pieces)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            } else {
                sse::response(sse::single(pieces.concat()))
            }
        }
        Ok(Reply::Body(pieces)) => {
            if accepts.json {
                audit.http_status(StatusCode::OK.as_u16());
                let pieces = AuditedBody::new(pieces, audit.take());
                let mut response = Response::new(Body::from_stream(
                    pieces.map(|piece| piece.map_err(std::io::Error::other)),
                ));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            } else {
                let collected: Vec<Result<Bytes, GatewayError>> = pieces.collect().await;
                let mut body = Vec::new();
                for piece in collected {
                    match piece {
                        Ok(piece) => body.extend_from_slice(&piece),
                        Err(error) => {
                            audit.error(&error);
                            return sse::response(sse::single(encode_error(id_text, &error)));
                        }
                    }
                }
                sse::response(sse::single(body))
            }
        }
        Ok(Reply::Events(mut messages)) => {
            if !accepts.sse {
                // JSON-only client: the gateway's requests go on the GET
                // stream (or are refused), the rest is dropped; the answer
                // is the last message.
                let runtime_opt = match &context.era {
                    EraState::Legacy { runtime, .. } => Some(runtime),
                    EraState::Modern { .. } => None,
                };
                let mut last = Vec::new();
                while let Some(message) = messages.recv().await {
                    if let Some(runtime) = runtime_opt {
                        json_only::route(gateway, &context.principal.id, runtime, &message);
                    }
                    last = message;
                }
                if let Some(code) = error_answer_code(id_text, &last) {
                    audit.failed(code);
                }
                return json_response(StatusCode::OK, last);
            }
            audit.http_status(StatusCode::OK.as_u16());
            let messages = audit_events(messages, audit.take(), id_text);
            let keepalive = gateway.config.keepalive;
            match &context.era {
                EraState::Legacy { runtime, .. } => {
                    let (stream_id, log) = runtime.open_stream();
                    sse::record(messages, log.clone());
                    sse::response(sse::from_log(stream_id, log, 0, keepalive))
                }
                EraState::Modern { .. } => sse::response(sse::from_channel(messages, keepalive)),
            }
        }
    }
}
