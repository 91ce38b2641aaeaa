//! The per-call path of a bridged `tools/call`, kept short: the upstream
//! request is built once from the raw arguments bytes (one parse, no
//! `Value` round trip), sent on the session the caller goes through, its
//! progress routed to the call, the upstream told if the gateway cancels,
//! and the answer serialised once to the raw JSON the gateway splices.
//! Which session a call uses and how that session lives are the service's
//! and [`crate::upstream`]'s business, not this module's.

use bytes::Bytes;
use micromcp_sdk::{Round, ServiceError, ServiceResult, ToolEvents, ToolOutput};
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, InputResponses, JsonObject, RequestId, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions};
use serde_json::Value;

use crate::convert::{self, map_error};
use crate::handler::BridgeState;
use crate::routing::token_key;

/// One call to forward: the tool, its raw arguments, and the request's
/// view of the client (round, log level, progress).
pub struct Forward<'a> {
    pub peer: &'a Peer<RoleClient>,
    pub state: &'a BridgeState,
    pub timeout: std::time::Duration,
    pub name: String,
    pub arguments_json: &'a [u8],
}

/// Forwards one call to the upstream and maps its answer.
pub async fn forward(call: Forward<'_>, events: ToolEvents) -> ServiceResult<ToolOutput> {
    let params = request_params(call.name, call.arguments_json, events.round())?;
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let mut options = PeerRequestOptions::with_timeout(call.timeout);
    options.meta = Some(convert::client_meta(events.round(), events.log_level()));
    // rmcp's futures are boxed: held inline they would make every call's
    // future (and each copy of it between the gRPC layer and here) large.
    let handle = Box::pin(call.peer.send_request_with_option(request, options))
        .await
        .map_err(map_error)?;
    let progress_requested = events.progress_requested();
    // Progress finds the call by its token; upstream requests (sampling,
    // elicitation, roots) and logs find it too when its client can take
    // them. A call that can take nothing is not registered at all.
    let registration_opt = (progress_requested || wants_upstream_events(&events)).then(|| {
        call.state
            .calls
            .register(token_key(&handle.progress_token), events)
    });
    // If the gateway cancels (this future is dropped), tell the upstream.
    let cancel_guard = CancelOnDrop {
        peer: call.peer,
        id_opt: Some(handle.id.clone()),
    };
    let response = Box::pin(handle.await_response()).await;
    cancel_guard.disarm();
    if let Some(registration) = &registration_opt {
        // rmcp runs notification handlers as tasks of their own: progress
        // and logs the upstream sent before its result were claimed for
        // this call as they were read, and reach the client before it.
        registration.settled().await;
    }
    match response.map_err(map_error)? {
        ServerResult::CallToolResult(result) => {
            Ok(ToolOutput::from_raw_json(tool_result_json(result)))
        }
        ServerResult::InputRequiredResult(result) => Err(convert::input_required(&result)),
        other => Err(ServiceError::Internal(format!(
            "unexpected upstream answer: {}",
            serde_json::to_string(&other).unwrap_or_default()
        ))),
    }
}

/// True when the call's client can be given upstream logs or asked for
/// input: only then must the handler find it.
fn wants_upstream_events(events: &ToolEvents) -> bool {
    events.log_level().is_some()
        || ["sampling", "elicitation", "roots"]
            .iter()
            .any(|name| events.client_supports(name))
}

/// The upstream `tools/call` params: the name, the arguments parsed once
/// from the gateway's raw bytes, and on a retried round the client's
/// answers and the upstream's own state.
pub fn request_params(
    name: String,
    arguments_json: &[u8],
    round: &Round,
) -> ServiceResult<CallToolRequestParams> {
    let arguments: JsonObject = if arguments_json.is_empty() {
        JsonObject::new()
    } else {
        serde_json::from_slice(arguments_json).map_err(|error| {
            ServiceError::InvalidArgument(format!("invalid request: arguments: {error}"))
        })?
    };
    let mut params = CallToolRequestParams::new(name).with_arguments(arguments);
    if round.is_retry() {
        let mut answers = InputResponses::new();
        for (key, raw) in round.responses() {
            let answer: Value = serde_json::from_slice(raw).map_err(|error| {
                ServiceError::InvalidArgument(format!(
                    "input response {key:?} is not JSON: {error}"
                ))
            })?;
            answers.insert(key.to_owned(), answer);
        }
        params.input_responses = Some(answers);
        if !round.state().is_empty() {
            let state = std::str::from_utf8(round.state()).map_err(|_| {
                ServiceError::InvalidArgument("the request state is not the upstream's".into())
            })?;
            params.request_state = Some(state.to_owned());
        }
    }
    Ok(params)
}

/// A tool result as the raw JSON object the gateway splices, serialised
/// once: without the `resultType` a modern upstream adds (the gateway adds
/// its own per era) nor the upstream's identity in `_meta` (not the
/// gateway's; other `_meta` keys stay).
pub fn tool_result_json(mut result: CallToolResult) -> Bytes {
    result.result_type = None;
    if let Some(meta) = result.meta.as_mut() {
        meta.remove("io.modelcontextprotocol/serverInfo");
        if meta.is_empty() {
            result.meta = None;
        }
    }
    serde_json::to_vec(&result).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

/// Sends `notifications/cancelled` upstream if the call is abandoned (the
/// peer is cloned only then).
struct CancelOnDrop<'a> {
    peer: &'a Peer<RoleClient>,
    id_opt: Option<RequestId>,
}

// === impl CancelOnDrop ===

impl CancelOnDrop<'_> {
    fn disarm(mut self) {
        self.id_opt = None;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id_opt.take() else {
            return;
        };
        let peer = self.peer.clone();
        tokio::spawn(async move {
            let cancelled =
                CancelledNotificationParam::new(Some(id), Some("cancelled by the client".into()));
            let _ = peer.notify_cancelled(cancelled).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_parsed_once_into_the_params() {
        let params = request_params("echo".into(), br#"{"text":"hello"}"#, &Round::default())
            .expect("params");
        assert_eq!(params.name, "echo");
        assert_eq!(
            Value::Object(params.arguments.expect("arguments")),
            json!({"text": "hello"})
        );
        assert!(params.input_responses.is_none() && params.request_state.is_none());
    }

    #[test]
    fn arguments_that_are_not_an_object_are_refused() {
        let refused = request_params("echo".into(), b"[1]", &Round::default());
        assert!(matches!(refused, Err(ServiceError::InvalidArgument(_))));
    }

    #[test]
    fn tool_results_lose_result_type_and_server_info_only() {
        let result: CallToolResult = serde_json::from_value(json!({
            "content": [{"type": "text", "text": "hi"}],
            "resultType": "complete",
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "up"}, "kept": 1}
        }))
        .expect("a result");
        let raw: Value = serde_json::from_slice(&tool_result_json(result)).expect("JSON");
        assert_eq!(
            raw,
            json!({"content": [{"type": "text", "text": "hi"}], "_meta": {"kept": 1}})
        );
    }
}
