//! Server-to-client requests (`elicitation/create`, `sampling/createMessage`,
//! `roots/list`) of a 2025-11-25 call whose POST takes a plain JSON answer:
//! that answer has no room for them, so each goes on the session's GET
//! stream when one is open (as the 2025-11-25 Streamable HTTP transport
//! allows for requests not sent on a POST's stream); with no GET stream
//! the request is answered at once, here, with an error naming the way
//! out, and the call ends promptly instead of waiting for an answer that
//! cannot come. Notifications of the call (progress, logs) are dropped.

use std::sync::atomic::Ordering;

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
