//! `tools/call`: routes the call to its service as a bidirectional gRPC
//! stream. If the service answers at once the reply is one JSON response;
//! as soon as it sends an event (progress, log, input request) the reply
//! becomes a stream of messages (`tools/pump.rs`). Input requests are
//! relayed to handshake-era clients as server-to-client requests; an
//! `input_required` round (2026-07-28, `input_rounds`) is the answer to a
//! 2026-07-28 client, whose retry brings the answers back in an
//! `InputRound`; dropping the reply (client gone or
//! cancelled) drops the gRPC stream, which cancels the call in the service.
//! The whole call — not only its first answer — ends at the configured
//! deadline (`gateway.request_timeout_secs`): the stream is dropped (the
//! service sees the cancellation) and the client gets a clear timeout error.
//! A call of a tool its service annotates idempotent or read-only that
//! fails as UNAVAILABLE before its first message is sent again, within the
//! service's retry budget and the deadline; any other tool's never is.
//! The gateway's own tools under `[catalog]` (`find_tools`, `call_tool`)
//! are answered or unwrapped first (`tools/search.rs`); the tools a session
//! found may join its list (`tools/found.rs`).

use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{
    CallToolClientMessage, CallToolServerMessage, CallToolStart, call_tool_client_message,
    call_tool_server_message::Message,
};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;
use tracing::Instrument;

mod found;
mod pump;
mod search;

pub use self::found::listed as listed_found_tools;
use self::pump::{Again, CallState, pump};
pub use self::search::listed as listed_gateway_tools;
use self::search::{GatewayTool, gateway_tool};
use super::consent::Approval;
use super::outbound::{backend_span, deadline_error, relays_input};
use super::result::finish_tool_result;
use super::{consent, input_rounds, outbound, route, task_ids};
use crate::backends::{BackendClient, Target, from_status};
use crate::catalog::param_headers;
use crate::context::{CallContext, EraState, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::{encode_error, encode_result};
use crate::wire::protocol::ParamsHead;

pub(crate) async fn call_tool(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: ParamsHead<'_>,
) -> Result<Reply, GatewayError> {
    // The gateway's own tools (`[catalog]`): `find_tools` answers here,
    // `call_tool` becomes the call it names. A call's `Mcp-Param-*`
    // headers mirror the arguments of the tool it names, `call_tool`'s
    // (none) for a call through it: the named tool's may be absent, but
    // those sent are checked as on a direct call.
    let (head, mirrors_arguments) =
        match gateway_tool(&gateway.config.catalog, head.required_name()?) {
            None => (head, true),
            Some(GatewayTool::Find) => {
                return search::find_tools(gateway, context, id_text, &head).await;
            }
            Some(GatewayTool::Call) => (search::unwrapped(head)?, false),
        };
    let name = head.required_name()?;
    // Through `call_tool` a tool the caller may not see is answered as an
    // unknown one: the search never shows it, nor does its refusal.
    let route = route::tool(gateway, context, name).map_err(|error| match error {
        GatewayError::Forbidden { message, .. } if !mirrors_arguments => GatewayError::HiddenTool {
            name: name.to_owned(),
            reason: message,
        },
        error => error,
    })?;
    if route.task_required() && !task_ids::declared(context) {
        return Err(task_ids::not_declared());
    }
    if let (Some(params), Some(headers)) = (route.param_headers(), context.param_headers()) {
        let arguments = head.arguments.map(RawValue::get);
        match mirrors_arguments {
            true => param_headers::check(params, arguments, headers)?,
            false => param_headers::check_sent(params, arguments, headers)?,
        }
    }
    let Some(rule) = route.approval_rule() else {
        return call_routed(gateway, context, id_text, head, route).await;
    };
    // Asking a person is an effect: the session must not have ended.
    gateway.confirm_session(context).await?;
    consent::can_ask(context, name, &rule)?;
    if !context.is_modern() {
        let name = name.to_owned();
        drop(route);
        return Ok(after_approval(gateway, context, id_text, &head, name, rule));
    }
    let service = route.service_name();
    match consent::approve_in_round(gateway, context, &head, service, name, &rule).await? {
        Approval::Ask(body) => Ok(Reply::Json(encode_result(id_text, &body))),
        Approval::Given { strip_round } => {
            let mut head = head;
            if strip_round {
                head.input_responses = None;
                head.request_state = None;
            }
            // Boxed: the approval path is rare, the plain call hot.
            Box::pin(call_routed(gateway, context, id_text, head, route)).await
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
    // Exchanging a token and answering a round are effects: a session's
    // revocation is checked first (the plain call checks it with its rates).
    if route.exchanges_token() || head.request_state.is_some() || head.input_responses.is_some() {
        gateway.confirm_session(context).await?;
    }
    // Boxed: only services with `token_exchange` have one.
    let exchanged_opt = match route.exchanges_token() {
        true => Box::pin(route.exchanged_context(gateway, context)).await?,
        false => None,
    };
    let context = exchanged_opt.as_deref().unwrap_or(context);
    let timeout = gateway.config.request_timeout;
    let deadline = Instant::now() + timeout;
    let service = route.service_name().to_owned();
    // The round is looked at (and refused when forged) before the service's
    // place is taken; only an answer of `input_required` needs this again.
    let round_request = |service| input_rounds::RoundRequest {
        service,
        method: "tools/call",
        name: head.name.as_deref().unwrap_or_default(),
        arguments: head.arguments.map(RawValue::get),
    };
    let input_round =
        input_rounds::retried_round(gateway, context, &head, &round_request(&service))?
            .map(Box::new);
    let admitted = tokio::select! {
        admitted = route.admit(timeout) => admitted,
        () = tokio::time::sleep_until(deadline) => Err(deadline_error(&service, timeout)),
    };
    let (client, mut permit) = admitted?;
    let mut client_opt = Some(client);
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
        input_round,
    };
    let traceparent = meta.and_then(|meta| meta.traceparent.as_deref());
    // Only a session that can be asked sends the call again after a round.
    // Boxed: it lives across the awaits below, and every call's future
    // would otherwise carry its size.
    let again_opt = if start.input_relay {
        client_opt.clone().map(|backend| {
            Box::new(Again {
                backend,
                start: CallToolStart {
                    input_round: None,
                    ..start.clone()
                },
                readable_sources_opt: route.readable_sources().map(str::to_owned),
                traceparent_opt: traceparent.map(str::to_owned),
            })
        })
    } else {
        None
    };
    // A call that relays input keeps its request stream open, so it is
    // never sent twice; an idempotent or read-only tool's call may be.
    let retries_safely = route.tool_retries_safely() && !start.input_relay;
    let cancelled = match &context.era {
        EraState::Legacy { runtime, .. } => runtime.start_request(id_text),
        EraState::Modern { .. } => CancellationToken::new(),
    };
    let mut retried = 0;
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
        let (request, to_service_opt) = backend_span.in_scope(|| {
            call_request(
                gateway,
                context,
                route.readable_sources(),
                attempt_start,
                traceparent,
            )
        });
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
        let body = finish_tool_result(gateway, context, &service, &result.result_json);
        return Ok(Reply::Json(encode_result(id_text, &body)));
    }
    if let Message::InputRequired(required) = &first
        && context.is_modern()
    {
        permit.record(&Ok::<(), GatewayError>(()));
        let _ = tokio::time::timeout_at(deadline, drain(&mut events)).await;
        let body =
            input_rounds::required_result(gateway, context, &round_request(&service), required)?;
        return Ok(Reply::Json(encode_result(id_text, &body)));
    }
    let (to_client, from_call) = mpsc::channel(32);
    let mut state = CallState {
        name: head.name.clone().unwrap_or_default(),
        arguments_json: head.arguments.map_or_else(Bytes::new, |raw| {
            Bytes::copy_from_slice(raw.get().as_bytes())
        }),
        service,
        id_text: id_text.to_owned(),
        progress_token_opt,
        to_service_opt,
        cancelled,
        deadline,
        timeout,
        again_opt,
    };
    let pump_context = context.clone();
    let pump_gateway = gateway.clone();
    tokio::spawn(async move {
        let ended = pump(
            &pump_gateway,
            &pump_context,
            &mut state,
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
    readable_sources_opt: Option<&str>,
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
        readable_sources_opt,
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
