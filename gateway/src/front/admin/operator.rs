//! `POST /api/mcp`: one MCP request (`{"method": …, "params": …}`) served
//! in-process for the admin page — list the catalog, call a tool from its
//! form — as the principal `operator` (every scope; Cedar policies still
//! apply), in the 2026-07-28 era, through the same dispatch, route,
//! authorization and audit (transport `admin`) as a client's request. It
//! needs the admin token, on loopback too. The answer is the JSON-RPC
//! response (progress and other notifications are dropped).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::Admin;
use super::changes::json_body;
use crate::context::{CallContext, Reply};
use crate::dispatch;
use crate::error::GatewayError;
use crate::principal::{OPERATOR, Principal};
use crate::wire::jsonrpc::{Envelope, encode_error};
use crate::wire::protocol::{MirroredHeaders, ParamsHead, validate_modern};

/// The protocol version the operator's requests carry.
const ERA: &str = "2026-07-28";

/// `POST /api/mcp`.
pub(super) async fn request(
    State(admin): State<Admin>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let asked = match json_body(&headers, &body) {
        Ok(asked) => asked,
        Err(refused) => return *refused,
    };
    let Some(method) = asked.get("method").and_then(Value::as_str) else {
        return (StatusCode::BAD_REQUEST, "\"method\" is required\n").into_response();
    };
    let mut params = asked.get("params").cloned().unwrap_or_else(|| json!({}));
    if let Value::Object(fields) = &mut params {
        let meta = fields.entry("_meta").or_insert_with(|| json!({}));
        if let Value::Object(meta) = meta {
            meta.insert("io.modelcontextprotocol/protocolVersion".into(), ERA.into());
            // The page cannot answer requests for input: it declares nothing.
            meta.insert(
                "io.modelcontextprotocol/clientCapabilities".into(),
                json!({}),
            );
        }
    }
    let line = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let answer = serve(&admin, line.as_bytes()).await;
    let mut response = answer.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves one request line as the operator; the JSON-RPC answer.
async fn serve(admin: &Admin, line: &[u8]) -> Vec<u8> {
    let gateway = &admin.gateway;
    let principal = Principal::unrestricted(OPERATOR);
    let mut audit = gateway.audit.begin("admin");
    audit.principal(&principal);
    let envelope = match Envelope::parse(line) {
        Ok(envelope) => envelope,
        Err(error) => {
            audit.error(&error);
            audit.finish();
            return encode_error("null", &error);
        }
    };
    let id_text = envelope.id_text();
    let method = envelope.method.as_deref().unwrap_or_default();
    audit.request(method, line.len());
    let outcome = async {
        let head = ParamsHead::parse(envelope.params)?;
        audit.request_target(method, &head, &gateway.config.catalog);
        validate_modern(method, &head, &MirroredHeaders::default(), false)?;
        let context = CallContext::modern(
            principal.clone(),
            head.meta.as_ref(),
            gateway.next_request_id(),
        );
        audit.context(&context);
        let reply =
            dispatch::handle(gateway, &context, method, id_text, head, envelope.params).await?;
        collect(reply).await
    }
    .await;
    let body = outcome.unwrap_or_else(|error| {
        audit.error(&error);
        encode_error(id_text, &error)
    });
    audit.sent(body.len());
    audit.finish();
    body
}

/// The response of `reply` as one message.
async fn collect(reply: Reply) -> Result<Vec<u8>, GatewayError> {
    Ok(match reply {
        Reply::Json(body) => body,
        Reply::Pieces(pieces) => pieces.concat(),
        Reply::Events(mut messages) => {
            let mut last = Vec::new();
            while let Some(message) = messages.recv().await {
                last = message;
            }
            last
        }
        Reply::Body(mut pieces) => {
            let mut body = Vec::new();
            while let Some(piece) = pieces.next().await {
                body.extend_from_slice(&piece?);
            }
            body
        }
    })
}
