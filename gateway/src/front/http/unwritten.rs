//! The front's side of the unwritten-answers book (`crate::unwritten`):
//! each answer of known size is charged to the connection that writes it,
//! and a request past a bound waits, unread, until its principal and
//! connection are under the bounds again, at most
//! `limits.stalled_reader_timeout_secs`; then it gets a 503 with
//! `Retry-After` (held a second first), its connection closed (its client
//! is not taking its answers).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use crate::gateway::Gateway;
use crate::unwritten::{ConnectionLedger, Overdrawn, Reservation};

/// Admits a POST of `principal_id` on its connection's ledger before its
/// body is read (its declared length reserved), or the held refusal.
pub async fn admit(
    gateway: &Gateway,
    parts: &http::request::Parts,
    principal_id: &str,
) -> Result<Option<Reservation>, Response> {
    let Some(ledger) = parts.extensions.get::<std::sync::Arc<ConnectionLedger>>() else {
        return Ok(None);
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok())
        .unwrap_or(0)
        .min(gateway.config.max_body_bytes);
    // Over a bound the request waits, unread, for the client to take its
    // answers (or for its stalled connections to be closed), at most the
    // stalled-writer time; a client that opens connections again at once
    // would otherwise cost a refusal (and a body sent for nothing) each.
    let waited_at_most = gateway.config.limits.stalled_reader_timeout;
    let started = tokio::time::Instant::now();
    loop {
        match ledger.admit(principal_id, declared) {
            Ok(reservation) => return Ok(Some(reservation)),
            Err(overdrawn) if started.elapsed() >= waited_at_most => {
                return Err(refusal(overdrawn).await);
            }
            Err(_) => tokio::time::sleep(ADMISSION_RETRY).await,
        }
    }
}

/// How often a request over a bound looks again.
const ADMISSION_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// Charges a response of known size to the connection it is written on;
/// whether it was charged.
pub fn charge(ledger: &ConnectionLedger, response: &Response) -> bool {
    let Some(size) = http_body::Body::size_hint(response.body()).exact() else {
        return false;
    };
    ledger.charge(usize::try_from(size).unwrap_or(usize::MAX));
    size > 0
}

/// How long a refusal is held before it is sent: a client that opens its
/// connections again at once is slowed to one request per connection and
/// [`REFUSAL_HOLD`], instead of spending the gateway's time on refusals.
pub const REFUSAL_HOLD: std::time::Duration = std::time::Duration::from_secs(1);

/// What a refused request is told, after [`REFUSAL_HOLD`]: a 503,
/// `Retry-After`, the connection closed (its client is not taking its
/// answers).
pub async fn refusal(overdrawn: Overdrawn) -> Response {
    tokio::time::sleep(REFUSAL_HOLD).await;
    let message = match overdrawn {
        Overdrawn::Connection(limit) => format!(
            "this connection holds more answers its client has not read than limits.max_unwritten_bytes_per_connection ({limit} bytes); read them, or retry later"
        ),
        Overdrawn::Principal(limit) => format!(
            "this principal's connections hold more answers and requests than limits.max_unwritten_bytes_per_principal ({limit} bytes); read the answers, or retry later"
        ),
        Overdrawn::Total(limit) => format!(
            "all clients together hold more answers and requests than limits.max_unwritten_bytes ({limit} bytes), and this principal more than an equal share of it; read the answers, or retry later"
        ),
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": crate::error::TRANSIENT,
            "message": message,
            "data": {"category": "transient_error", "retryAfterMs": 1000},
        },
    })
    .to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
