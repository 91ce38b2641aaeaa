//! How the front answers when it is not a method's own result: a JSON
//! body, a JSON-RPC error with the HTTP status its category takes and the
//! headers it calls for (`WWW-Authenticate` on 401 and 403, `Retry-After`
//! on 429), or a plain-text refusal.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::error::GatewayError;
use crate::wire::jsonrpc::encode_error;

pub(super) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) fn error_response(id_text: &str, error: &GatewayError, modern: bool) -> Response {
    let mut response = json_response(error.http_status(modern), encode_error(id_text, error));
    let challenge = match error {
        GatewayError::Unauthorized(_) => Some(HeaderValue::from_static(
            "Bearer realm=\"micromcp\", error=\"invalid_token\"",
        )),
        GatewayError::Forbidden { scope_opt, .. } => {
            let scope = scope_opt
                .as_deref()
                .map(|scope| format!(", scope=\"{scope}\""))
                .unwrap_or_default();
            HeaderValue::from_str(&format!(
                "Bearer realm=\"micromcp\", error=\"insufficient_scope\"{scope}"
            ))
            .ok()
        }
        _ => None,
    };
    if let Some(challenge) = challenge {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let GatewayError::RateLimited { retry_after_ms, .. } = error {
        let seconds = retry_after_ms.div_ceil(1000).max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `503 Service Unavailable` with `Retry-After: 1` and a JSON-RPC
/// transient error saying why.
pub(super) fn unavailable(id_text: &str, message: &str) -> Response {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id_text},"error":{{"code":{},"message":{},"data":{{"category":"transient_error","retryAfterMs":1000}}}}}}"#,
        crate::error::TRANSIENT,
        serde_json::Value::from(message),
    );
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, body.into_bytes());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(super) fn plain(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

/// `202 Accepted`, empty: a notification or an answer to the gateway taken.
pub(super) fn accepted() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}
