//! The event pump of a `tools/call` whose service sent events before its
//! result: progress and logs go to the client; input requests are relayed
//! to 2025-11-25 sessions (`relay_input`, while the service waits); an
//! `InputRequired` round ends the call for a 2026-07-28 client (the
//! client retries) and, for a session, is asked of the client here before
//! the call is sent to the service again with the answers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use micromcp_proto::{
    CallToolClientMessage, CallToolServerMessage, CallToolStart, InputRequired,
    call_tool_server_message::Message,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;

use super::{call_request, drain, open_call};
use crate::backends::{BackendClient, Target, from_status};
use crate::context::CallContext;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::methods::input_rounds::{self, MAX_ROUNDS};
use crate::methods::outbound::{deadline_error, input_response};
use crate::methods::result::finish_tool_result;
use crate::wire::jsonrpc::{encode_error, encode_notification, encode_request, encode_result};

/// Everything the event pump needs about the client's request.
pub(super) struct CallState {
    pub service: String,
    /// The tool as the client names it.
    pub name: String,
    /// The call's `arguments` as sent (raw JSON; empty = none).
    pub arguments_json: Bytes,
    pub id_text: String,
    pub progress_token_opt: Option<String>,
    /// The open request stream, when the call relays input requests.
    pub to_service_opt: Option<mpsc::Sender<CallToolClientMessage>>,
    pub cancelled: CancellationToken,
    /// When the call is ended whatever the service is doing.
    pub deadline: Instant,
    pub timeout: Duration,
    /// What sending the call again needs (a session that can be asked).
    pub again_opt: Option<Box<Again>>,
}

/// The call as first sent, to send again with a round's answers.
pub(super) struct Again {
    pub backend: BackendClient,
    /// The start message without a round.
    pub start: CallToolStart,
    pub readable_sources_opt: Option<String>,
    pub traceparent_opt: Option<String>,
}

/// Relays service events to the client until the result (or an error);
/// the call's outcome, or `None` when the client left or cancelled.
pub(super) async fn pump(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    state: &mut CallState,
    first: Message,
    mut events: Streaming<CallToolServerMessage>,
    to_client: &mpsc::Sender<Vec<u8>>,
) -> Option<Result<(), GatewayError>> {
    let mut next = Some(first);
    let mut rounds = 0;
    loop {
        let message = match next.take() {
            Some(message) => message,
            None => {
                let received = tokio::select! {
                    received = events.message() => received,
                    () = state.cancelled.cancelled() => return None,
                    () = to_client.closed(), if context.is_modern() => return None,
                    () = tokio::time::sleep_until(state.deadline) => {
                        let error = deadline_error(&state.service, state.timeout);
                        let _ = to_client.send(encode_error(&state.id_text, &error)).await;
                        return Some(Err(error));
                    }
                };
                match received {
                    Ok(Some(CallToolServerMessage {
                        message: Some(message),
                    })) => message,
                    Ok(_) => {
                        let error = GatewayError::transient(
                            &state.service,
                            "the service ended the call without a result",
                        );
                        let _ = to_client.send(encode_error(&state.id_text, &error)).await;
                        return Some(Err(error));
                    }
                    Err(status) => {
                        let error = from_status(&state.service, &Target::Tool, &status);
                        let _ = to_client.send(encode_error(&state.id_text, &error)).await;
                        return Some(Err(error));
                    }
                }
            }
        };
        let outgoing = match message {
            Message::Result(result) => {
                let body =
                    finish_tool_result(gateway, context, &state.service, &result.result_json);
                let _ = to_client.send(encode_result(&state.id_text, &body)).await;
                let _ = tokio::time::timeout_at(state.deadline, drain(&mut events)).await;
                return Some(Ok(()));
            }
            Message::Progress(progress) => state.progress_token_opt.as_ref().map(|token| {
                let mut params = format!(
                    "{{\"progressToken\":{token},\"progress\":{}",
                    json!(progress.progress)
                );
                if let Some(total) = progress.total {
                    params.push_str(&format!(",\"total\":{}", json!(total)));
                }
                if !progress.message.is_empty() {
                    params.push_str(&format!(",\"message\":{}", json!(progress.message)));
                }
                params.push('}');
                encode_notification("notifications/progress", params.as_bytes())
            }),
            Message::Log(log) => {
                let data = if log.data_json.is_empty() {
                    Bytes::from_static(b"null")
                } else {
                    log.data_json
                };
                let mut params = format!("{{\"level\":{}", json!(log.level));
                if !log.logger.is_empty() {
                    params.push_str(&format!(",\"logger\":{}", json!(log.logger)));
                }
                params.push_str(",\"data\":");
                let mut params = params.into_bytes();
                params.extend_from_slice(&data);
                params.push(b'}');
                Some(encode_notification("notifications/message", &params))
            }
            Message::InputRequest(input) => relay_input(gateway, context, state, input),
            Message::InputRequired(required) => {
                let _ = tokio::time::timeout_at(state.deadline, drain(&mut events)).await;
                if context.is_modern() {
                    let request = input_rounds::RoundRequest {
                        service: &state.service,
                        method: "tools/call",
                        name: &state.name,
                        arguments: std::str::from_utf8(&state.arguments_json)
                            .ok()
                            .filter(|text| !text.is_empty()),
                    };
                    let outcome =
                        input_rounds::required_result(gateway, context, &request, &required);
                    let message = match &outcome {
                        Ok(body) => encode_result(&state.id_text, body),
                        Err(error) => encode_error(&state.id_text, error),
                    };
                    let _ = to_client.send(message).await;
                    return Some(outcome.map(drop));
                }
                rounds += 1;
                match next_attempt(gateway, context, state, required, to_client, rounds).await {
                    Ok((again, first, to_service_opt)) => {
                        events = again;
                        state.to_service_opt = to_service_opt;
                        next = Some(first);
                        continue;
                    }
                    Err(error) => {
                        let _ = to_client.send(encode_error(&state.id_text, &error)).await;
                        return Some(Err(error));
                    }
                }
            }
        };
        if let Some(outgoing) = outgoing
            && to_client.send(outgoing).await.is_err()
            && context.is_modern()
        {
            return None;
        }
    }
}

/// Sends an input request to the client (handshake era, declared
/// capability) and forwards the answer to the service when it comes; else
/// answers the service with a refusal.
fn relay_input(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    state: &CallState,
    input: micromcp_proto::InputRequest,
) -> Option<Vec<u8>> {
    let capability = match input.method.as_str() {
        "elicitation/create" => "elicitation",
        "sampling/createMessage" => "sampling",
        "roots/list" => "roots",
        _ => "",
    };
    let declared = context.declared.has(capability);
    let Some(to_service) = state.to_service_opt.clone() else {
        tracing::warn!(service = %state.service, "input request on a call without input relay; ignored");
        return None;
    };
    let key = input.key.clone();
    let refusal = if context.is_modern() {
        Some("a 2026-07-28 client is asked for input in an input_required round: answer the call with InputRequired (as the SDK's request_input does), not with a streaming InputRequest".to_owned())
    } else if !declared {
        Some(format!(
            "the client did not declare the {capability:?} capability"
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        tokio::spawn(async move {
            let _ = to_service
                .send(input_response(key, Bytes::new(), reason))
                .await;
        });
        return None;
    }
    let (request_id, answer) = gateway.pending_requests.register(&context.principal.id);
    let message = encode_request(&request_id, &input.method, &input.params_json);
    let cancelled = state.cancelled.clone();
    let gateway = gateway.clone();
    tokio::spawn(async move {
        let response = tokio::select! {
            answer = answer => match answer {
                Ok(Ok(result)) => input_response(key, Bytes::from(result), String::new()),
                Ok(Err(error)) => input_response(key, Bytes::new(), error),
                Err(_) => input_response(key, Bytes::new(), "no answer".into()),
            },
            () = cancelled.cancelled() => {
                gateway.pending_requests.forget(&request_id);
                return;
            }
        };
        let _ = to_service.send(response).await;
    });
    Some(message)
}

/// A session's round: asks the client, then sends the call to the service
/// again with the answers; the new call's events and first message.
async fn next_attempt(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    state: &CallState,
    required: InputRequired,
    to_client: &mpsc::Sender<Vec<u8>>,
    rounds: usize,
) -> Result<
    (
        Streaming<CallToolServerMessage>,
        Message,
        Option<mpsc::Sender<CallToolClientMessage>>,
    ),
    GatewayError,
> {
    if rounds > MAX_ROUNDS {
        return Err(GatewayError::transient(
            &state.service,
            format!(
                "service {:?} still asked for input after {MAX_ROUNDS} rounds; the call was ended",
                state.service
            ),
        ));
    }
    let round = input_rounds::ask_session(
        gateway,
        context,
        &state.service,
        required,
        to_client,
        &state.cancelled,
        state.deadline,
    )
    .await?;
    let Some(again) = &state.again_opt else {
        return Err(GatewayError::InvalidRequest(format!(
            "service {:?} needs the client's input, and this session declared no elicitation, sampling or roots capability",
            state.service
        )));
    };
    let mut start = again.start.clone();
    start.input_round = Some(Box::new(round));
    let (request, to_service_opt) = call_request(
        gateway,
        context,
        again.readable_sources_opt.as_deref(),
        start,
        again.traceparent_opt.as_deref(),
    );
    let opening = open_call(
        again.backend.clone(),
        request,
        &state.cancelled,
        &state.service,
    );
    tokio::select! {
        opened = opening => opened
            .map(|(events, first)| (events, first, to_service_opt))
            .map_err(|failure| failure.into_error(&state.service)),
        () = tokio::time::sleep_until(state.deadline) => {
            Err(deadline_error(&state.service, state.timeout))
        }
    }
}
