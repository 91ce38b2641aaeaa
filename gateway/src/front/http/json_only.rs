//! Server-to-client requests (`elicitation/create`, `sampling/createMessage`,
//! `roots/list`) of a 2025-11-25 call whose POST takes a plain JSON answer:
//! that answer has no room for them, so each goes on the session's GET
//! stream when one is open (as the 2025-11-25 Streamable HTTP transport
//! allows for requests not sent on a POST's stream); with no GET stream
//! the request is answered at once, here, with an error naming the way
//! out, and the call ends promptly instead of waiting for an answer that
//! cannot come. Notifications of the call (progress, logs) are dropped.
//! A GET stream that closes with such requests unanswered and is not
//! opened again within [`GET_STREAM_RETURN_GRACE`] gets them refused the
//! same way ([`refuse_unheard`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::gateway::Gateway;
use crate::session::{GET_STREAM, SessionRuntime};

/// The head of a message the call sent toward the client.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<&'a str>,
}

/// Sends `message` on the GET stream when it is a request of the gateway's
/// own, or answers that request with an error when there is no GET stream.
pub(super) fn route(
    gateway: &Gateway,
    principal_id: &str,
    runtime: &SessionRuntime,
    message: &[u8],
) {
    let Ok(head) = serde_json::from_slice::<Head<'_>>(message) else {
        return;
    };
    let (Some(id), Some(method)) = (head.id, head.method) else {
        return;
    };
    if runtime.get_stream_open.load(Ordering::Relaxed)
        && let Some(log) = runtime.stream(GET_STREAM)
    {
        runtime.routed.sent(id.get(), principal_id);
        log.push(message.to_vec());
        return;
    }
    let error = serde_json::json!({
        "code": crate::error::INVALID_REQUEST,
        "message": format!(
            "{method} cannot reach this client: its POST accepts only application/json and its session has no open GET stream (open one with GET /mcp, or accept text/event-stream)"
        ),
    })
    .to_string();
    if gateway.deliver_client_response(id.get(), principal_id, None, Some(&error)) {
        tracing::debug!(
            method,
            "server request refused: the client has no stream to receive it"
        );
    }
}

/// How long a closed GET stream may take to come back (resuming from its
/// `Last-Event-ID`) before the requests sent on it are refused; clients
/// reconnect within about a second (the priming event's `retry`).
pub const GET_STREAM_RETURN_GRACE: Duration = Duration::from_secs(5);

/// The session's GET stream closed: unless another opens within
/// [`GET_STREAM_RETURN_GRACE`], every request sent on it still waiting for
/// the client's answer is answered with an error, and its call ends.
pub(super) fn refuse_unheard(gateway: &Arc<Gateway>, runtime: &Arc<SessionRuntime>) {
    let gateway = Arc::downgrade(gateway);
    runtime.refuse_routed_if_unheard(GET_STREAM_RETURN_GRACE, move |routed| {
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        let error = serde_json::json!({
            "code": crate::error::INVALID_REQUEST,
            "message": format!(
                "the client's GET stream closed before it answered, and no new one came within {} s (keep the GET stream open, or accept text/event-stream on the POST)",
                GET_STREAM_RETURN_GRACE.as_secs()
            ),
        })
        .to_string();
        for (id_text, principal) in routed {
            if gateway.deliver_client_response(&id_text, &principal, None, Some(&error)) {
                tracing::debug!(
                    id = %id_text,
                    "server request refused: its GET stream closed unanswered"
                );
            }
        }
    });
}
