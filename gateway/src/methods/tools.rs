//! `tools/call`: routes the call to its service as a bidirectional gRPC
//! stream. If the service answers at once the reply is one JSON response;
//! as soon as it sends an event (progress, log, input request) the reply
//! becomes a stream of messages. Input requests are relayed to handshake-era
//! clients as server-to-client requests; dropping the reply (client gone or
//! cancelled) drops the gRPC stream, which cancels the call in the service.
//! The whole call — not only its first answer — ends at the configured
//! deadline (`gateway.request_timeout_secs`): the stream is dropped (the
//! service sees the cancellation) and the client gets a clear timeout error.
//! A call of a tool its service annotates idempotent or read-only that
//! fails as UNAVAILABLE before its first message is sent again, within the
//! service's retry budget and the deadline; any other tool's never is.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use micromcp_proto::{
    CallToolClientMessage, CallToolServerMessage, CallToolStart, call_tool_client_message,
    call_tool_server_message::Message,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use tracing::Instrument;

use super::outbound::{backend_span, deadline_error, input_response, relays_input};
use super::result::finish_service_result;
use super::{consent, outbound, route};
use crate::backends::{BackendClient, Target, from_status};
use crate::context::{CallContext, EraState, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::{encode_error, encode_notification, encode_request, encode_result};
use crate::wire::protocol::ParamsHead;

/// Everything the event pump needs about the client's request.
struct CallState {
    service: String,
    id_text: String,
    progress_token_opt: Option<String>,
    /// The open request stream, when the call relays input requests.
    to_service_opt: Option<mpsc::Sender<CallToolClientMessage>>,
    cancelled: CancellationToken,
    /// When the call is ended whatever the service is doing.
    deadline: Instant,
    timeout: Duration,
}

pub(crate) async fn call_tool(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: ParamsHead<'_>,
) -> Result<Reply, GatewayError> {
    let name = head.required_name()?;
    let route = route::tool(gateway, context, name)?;
    match route.approval_rule() {
        None => call_routed(gateway, context, id_text, head, route).await,
        Some(rule) => {
            consent::can_ask(context, name, rule)?;
            let (rule, name) = (rule.to_owned(), name.to_owned());
            drop(route);
            Ok(after_approval(gateway, context, id_text, &head, name, rule))
        }
    }
}

/// The reply of a call that needs approval: the question to the client,
/// then — once approved, and authorized again — the call's own messages.
fn after_approval(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: &ParamsHead<'_>,
    name: String,
    rule: String,
) -> Reply {
    let params = consent::owned_params(head, &name);
    let arguments = head.arguments.map(|raw| raw.get().to_owned());
    let (to_client, messages) = mpsc::channel(16);
    let (gateway, context, id_text) = (gateway.clone(), context.clone(), id_text.to_owned());
    tokio::spawn(async move {
        let outcome = async {
            consent::ask(
                &gateway,
                &context,
                &name,
                arguments.as_deref(),
                &rule,
                &to_client,
            )
            .await?;
            let raw = serde_json::value::RawValue::from_string(params)
                .map_err(|error| GatewayError::Internal(error.to_string()))?;
            let head = ParamsHead::parse(Some(&raw))?;
            let route = route::tool(&gateway, &context, &name)?;
            let reply = call_routed(&gateway, &context, &id_text, head, route).await?;
            consent::forward(reply, &to_client).await
        }
        .await;
        if let Err(error) = outcome {
            let _ = to_client.send(encode_error(&id_text, &error)).await;
        }
    });
    Reply::Events(messages)
}

/// `tools/call` once authorized (and approved where it must be).
async fn call_routed(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: ParamsHead<'_>,
    mut route: route::Route<'_>,
) -> Result<Reply, GatewayError> {
    let timeout = gateway.config.request_timeout;
    let deadline = Instant::now() + timeout;
    let service = route.service_name().to_owned();
    let admitted = tokio::select! {
        admitted = route.admit(timeout) => admitted,
        () = tokio::time::sleep_until(deadline) => Err(deadline_error(&service, timeout)),
    };
    let (client, mut permit) = admitted?;
    let backend_span = backend_span(&service, route.original());
    let meta = head.meta.as_ref();
    let progress_token_opt = meta
        .and_then(|meta| meta.progress_token)
        .map(|token| token.get().to_owned());
    let mut start = CallToolStart {
        name: route.take_original(),
        arguments_json: head.arguments.map_or_else(Bytes::new, |raw| {
            Bytes::copy_from_slice(raw.get().as_bytes())
        }),
        progress_requested: progress_token_opt.is_some(),
        client_capabilities_json: Bytes::copy_from_slice(context.client_capabilities().as_bytes()),
        log_level: context.log_level().unwrap_or_default(),
        input_relay: relays_input(context),
    };
    // A call that relays input keeps its request stream open, so it is
    // never sent twice; an idempotent or read-only tool's call may be.
    let retries_safely = route.tool_retries_safely() && !start.input_relay;
    let traceparent = meta.and_then(|meta| meta.traceparent.as_deref());
    let cancelled = match &context.era {
        EraState::Legacy { runtime, .. } => runtime.start_request(id_text),
        EraState::Modern { .. } => CancellationToken::new(),
    };
    let mut retried = 0;
    let mut client_opt = Some(client);
    let opened = loop {
        // Copies only when the call may be sent again.
        let (attempt_start, attempt_client_opt) = if retries_safely {
            (start.clone(), client_opt.clone())
        } else {
            (std::mem::take(&mut start), client_opt.take())
        };
        let Some(attempt_client) = attempt_client_opt else {
            break Err(GatewayError::Internal("a call sent twice".into()));
        };
        // Built in the backend span: the service continues it.
        let (request, to_service_opt) = backend_span
            .in_scope(|| call_request(gateway, context, &route, attempt_start, traceparent));
        let opening = open_call(attempt_client, request, &cancelled, &service);
        let attempt = tokio::select! {
            opened = opening.instrument(backend_span.clone()) => opened,
            () = tokio::time::sleep_until(deadline) => {
                Err(OpenFailure::Other(deadline_error(&service, timeout)))
            }
        };
        match attempt {
            Ok((events, first)) => break Ok((events, first, to_service_opt)),
            Err(OpenFailure::Status(status))
                if retries_safely && status.code() == tonic::Code::Unavailable =>
            {
                let wait_opt = route
                    .retry_backoff(retried)
                    .filter(|wait| Instant::now() + *wait < deadline);
                let Some(wait) = wait_opt else {
                    break Err(from_status(&service, &Target::Tool, &status));
                };
                tracing::debug!(%service, retried, "retrying a call of an idempotent tool");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancelled.cancelled() => break Err(cancelled_error()),
                }
                retried += 1;
            }
            Err(failure) => break Err(failure.into_error(&service)),
        }
    };
    let (mut events, first, to_service_opt) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            let failed = Err(error);
            permit.record(&failed);
            finish_request(context, id_text);
            return failed;
        }
    };
    if let Message::Result(result) = first {
        permit.record(&Ok::<(), GatewayError>(()));
        let _ = tokio::time::timeout_at(deadline, drain(&mut events)).await;
        finish_request(context, id_text);
        let body = finish_service_result(context, &result.result_json);
        return Ok(Reply::Json(encode_result(id_text, &body)));
    }
    let (to_client, from_call) = mpsc::channel(32);
    let state = CallState {
        service,
        id_text: id_text.to_owned(),
        progress_token_opt,
        to_service_opt,
        cancelled,
        deadline,
        timeout,
    };
    let pump_context = context.clone();
    let pump_gateway = gateway.clone();
    tokio::spawn(async move {
        let ended = pump(
            &pump_gateway,
            &pump_context,
            &state,
            first,
            events,
            &to_client,
        )
        .await;
        if let Some(outcome) = ended {
            permit.record(&outcome);
        }
        finish_request(&pump_context, &state.id_text);
    });
    Ok(Reply::Events(from_call))
}

/// The gRPC request of one attempt at a call: its start message, and the
/// open request stream when the call relays the client's answers to input
/// requests (otherwise the stream ends with the start message, so the
/// service never waits on it).
fn call_request(
    gateway: &Gateway,
    context: &CallContext,
    route: &route::Route<'_>,
    start: CallToolStart,
    traceparent: Option<&str>,
) -> (
    tonic::Request<ReceiverStream<CallToolClientMessage>>,
    Option<mpsc::Sender<CallToolClientMessage>>,
) {
    let input_relay = start.input_relay;
    let (to_service, from_gateway) = mpsc::channel(4);
    // A fresh channel has room: this cannot fail.
    let _ = to_service.try_send(CallToolClientMessage {
        message: Some(call_tool_client_message::Message::Start(start)),
    });
    let request = outbound::request(
        gateway,
        context,
        route.readable_sources(),
        ReceiverStream::new(from_gateway),
        traceparent,
    );
    (request, input_relay.then_some(to_service))
}

/// Why a call could not be opened.
enum OpenFailure {
    /// The service (or the way to it) failed the call with this status.
    Status(tonic::Status),
    /// Anything else, already the client's error.
    Other(GatewayError),
}

impl OpenFailure {
    fn into_error(self, service: &str) -> GatewayError {
        match self {
            Self::Status(status) => from_status(service, &Target::Tool, &status),
            Self::Other(error) => error,
        }
    }
}

fn cancelled_error() -> GatewayError {
    GatewayError::InvalidRequest("request cancelled".into())
}

/// Starts the gRPC call and waits for the service's first message.
async fn open_call(
    mut client: BackendClient,
    request: tonic::Request<ReceiverStream<CallToolClientMessage>>,
    cancelled: &CancellationToken,
    service: &str,
) -> Result<(Streaming<CallToolServerMessage>, Message), OpenFailure> {
    let outcome = tokio::select! {
        outcome = client.call_tool(request) => outcome,
        () = cancelled.cancelled() => return Err(OpenFailure::Other(cancelled_error())),
    };
    let mut events = outcome.map_err(OpenFailure::Status)?.into_inner();
    let first = tokio::select! {
        first = events.message() => first,
        () = cancelled.cancelled() => return Err(OpenFailure::Other(cancelled_error())),
    };
    let first = first
        .map_err(OpenFailure::Status)?
        .and_then(|message| message.message)
        .ok_or_else(|| {
            OpenFailure::Other(GatewayError::transient(
                service,
                "the service ended the call without a result",
            ))
        })?;
    Ok((events, first))
}

/// Reads a finished call stream to its end (the trailers). Dropping a
/// stream early resets it, and HTTP/2 servers close connections that see
/// too many resets (rapid-reset protection), which would break every other
/// call sharing the channel.
async fn drain(events: &mut Streaming<CallToolServerMessage>) {
    while let Ok(Some(_)) = events.message().await {}
}

fn finish_request(context: &CallContext, id_text: &str) {
    if let EraState::Legacy { runtime, .. } = &context.era {
        runtime.finish_request(id_text);
    }
}

/// Relays service events to the client until the result (or an error);
/// the call's outcome, or `None` when the client left or cancelled.
async fn pump(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    state: &CallState,
    first: Message,
    mut events: Streaming<CallToolServerMessage>,
    to_client: &mpsc::Sender<Vec<u8>>,
) -> Option<Result<(), GatewayError>> {
    let mut next = Some(first);
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
                let body = finish_service_result(context, &result.result_json);
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
    let declared = serde_json::from_str::<serde_json::Value>(context.client_capabilities())
        .ok()
        .is_some_and(|capabilities| {
            !capability.is_empty() && capabilities.get(capability).is_some()
        });
    let Some(to_service) = state.to_service_opt.clone() else {
        tracing::warn!(service = %state.service, "input request on a call without input relay; ignored");
        return None;
    };
    let key = input.key.clone();
    let refusal = if context.is_modern() {
        Some("input requests need a 2025-11-25 session; this gateway does not relay them to 2026-07-28 clients yet".to_owned())
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
