//! 2026-07-28 multi-round requests (SEP-2322) at the gateway, for
//! `tools/call` and `prompts/get`. A service that needs the client's input
//! answers `InputRequired` (every request at once, and its own state):
//! - toward a 2026-07-28 client the gateway answers `resultType:
//!   "input_required"` after checking that the request declared every
//!   capability asked for (-32021 otherwise), with the service's state
//!   sealed (`session::RequestStateCodec`); the client's retry brings the
//!   answers and the state back, the state is opened (and refused when
//!   altered, expired, or issued for another principal or request) and
//!   both go to the service in an `InputRound` — nothing is kept between
//!   rounds, so the retry may reach any replica;
//! - toward a 2025-11-25 session the gateway asks the client itself, as
//!   server-to-client requests on the call's stream, and sends the request
//!   to the service again with the answers (at most `MAX_ROUNDS` times).

use std::collections::HashMap;

use bytes::Bytes;
use micromcp_proto::{InputRequired, InputRound};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::{CallContext, Declared};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::session::{RoundFor, arguments_digest};
use crate::wire::jsonrpc::encode_request;
use crate::wire::protocol::ParamsHead;

/// Rounds one request may take with a 2025-11-25 session before the
/// gateway gives up on the service.
pub const MAX_ROUNDS: usize = 8;
/// Input requests one round may carry.
const MAX_REQUESTS_PER_ROUND: usize = 16;
/// Answers a retry may carry.
const MAX_RESPONSES: usize = 64;

/// The client capability an input method needs (`None`: not an input method).
fn capability_of(method: &str) -> Option<&'static str> {
    match method {
        "elicitation/create" => Some("elicitation"),
        "sampling/createMessage" => Some("sampling"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// The request a round belongs to. Its arguments' digest is worked out
/// only when a round is issued or opened, never on a call without one.
pub struct RoundRequest<'a> {
    pub service: &'a str,
    /// `tools/call` or `prompts/get`.
    pub method: &'static str,
    /// The tool or prompt as the client names it.
    pub name: &'a str,
    /// The request's `arguments` (raw JSON).
    pub arguments: Option<&'a str>,
}

impl<'a> RoundRequest<'a> {
    /// What a round of this request is sealed for; `digest` is
    /// `session::arguments_digest` of its arguments.
    fn issued_for(&'a self, context: &'a CallContext, digest: &'a str) -> RoundFor<'a> {
        RoundFor {
            principal: &context.principal.id,
            service: self.service,
            method: self.method,
            name: self.name,
            arguments: digest,
        }
    }
}

/// The round a 2026-07-28 retry brings back (`inputResponses`,
/// `requestState`), checked: `None` for a first attempt (and for sessions,
/// whose rounds the gateway runs itself).
pub fn retried_round(
    gateway: &Gateway,
    context: &CallContext,
    head: &ParamsHead<'_>,
    request: &RoundRequest<'_>,
) -> Result<Option<InputRound>, GatewayError> {
    if !context.is_modern() || (head.input_responses.is_none() && head.request_state.is_none()) {
        return Ok(None);
    }
    let responses_json = match head.input_responses {
        Some(raw) => answers(raw)?,
        None => HashMap::new(),
    };
    let request_state = match head.request_state.as_deref() {
        Some(text) => {
            let digest = arguments_digest(request.arguments);
            Bytes::from(
                gateway
                    .request_states
                    .open(text, &request.issued_for(context, &digest))?,
            )
        }
        None => Bytes::new(),
    };
    Ok(Some(InputRound {
        responses_json,
        request_state,
    }))
}

/// A request's `params.inputResponses`: the client's answers by key (raw
/// JSON each), at most `MAX_RESPONSES`.
pub fn answers(raw: &RawValue) -> Result<HashMap<String, Bytes>, GatewayError> {
    let answers: HashMap<String, &RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        GatewayError::InvalidParams(
            "params.inputResponses must be an object of answers by key".into(),
        )
    })?;
    if answers.len() > MAX_RESPONSES {
        return Err(GatewayError::InvalidParams(format!(
            "params.inputResponses has {} answers; at most {MAX_RESPONSES}",
            answers.len()
        )));
    }
    Ok(answers
        .into_iter()
        .map(|(key, answer)| (key, Bytes::copy_from_slice(answer.get().as_bytes())))
        .collect())
}

/// Checks what a service asked for: input methods only, a bounded number,
/// params that are JSON objects.
fn checked<'a>(
    service: &str,
    required: &'a InputRequired,
) -> Result<Vec<(&'a str, &'static str, &'a str)>, GatewayError> {
    if required.requests.len() > MAX_REQUESTS_PER_ROUND {
        return Err(GatewayError::transient(
            service,
            format!(
                "service {service:?} asked for {} inputs at once; at most {MAX_REQUESTS_PER_ROUND}",
                required.requests.len()
            ),
        ));
    }
    required
        .requests
        .iter()
        .map(|request| {
            let capability = capability_of(&request.method).ok_or_else(|| {
                GatewayError::transient(
                    service,
                    format!(
                        "service {service:?} asked the client for {:?}, which is not an input request",
                        request.method
                    ),
                )
            })?;
            let params = if request.params_json.is_empty() {
                "{}"
            } else {
                std::str::from_utf8(&request.params_json)
                    .ok()
                    .filter(|text| {
                        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                            .is_ok()
                    })
                    .ok_or_else(|| {
                        GatewayError::transient(
                            service,
                            format!("service {service:?} sent input request params that are not a JSON object"),
                        )
                    })?
            };
            Ok((request.key.as_str(), capability, params))
        })
        .collect()
}

/// A capability asked for that the client did not declare.
fn missing_capability<'a>(declared: Declared, asked: &[(&str, &'a str, &str)]) -> Option<&'a str> {
    asked
        .iter()
        .map(|(_, capability, _)| *capability)
        .find(|capability| !declared.has(capability))
}

/// Toward a 2026-07-28 client: the `input_required` result for what the
/// service asked (every capability must have been declared by the request).
pub fn required_result(
    gateway: &Gateway,
    context: &CallContext,
    request: &RoundRequest<'_>,
    required: &InputRequired,
) -> Result<Vec<u8>, GatewayError> {
    let asked = checked(request.service, required)?;
    if let Some(capability) = missing_capability(context.declared, &asked) {
        return Err(GatewayError::MissingClientCapability {
            capability: capability.to_owned(),
        });
    }
    let digest = arguments_digest(request.arguments);
    let state = gateway.request_states.seal(
        &request.issued_for(context, &digest),
        &required.request_state,
    )?;
    let mut body = String::from("{\"resultType\":\"input_required\",\"inputRequests\":{");
    for (index, (key, _, params)) in asked.iter().enumerate() {
        if index > 0 {
            body.push(',');
        }
        let method = required.requests[index].method.as_str();
        body.push_str(&serde_json::json!(key).to_string());
        body.push_str(":{\"method\":");
        body.push_str(&serde_json::json!(method).to_string());
        body.push_str(",\"params\":");
        body.push_str(params);
        body.push('}');
    }
    body.push_str("},\"requestState\":");
    body.push_str(&serde_json::json!(state).to_string());
    body.push('}');
    Ok(body.into_bytes())
}

/// Toward a 2025-11-25 session: asks the client every request of the round
/// at once (server-to-client requests on `to_client`, the call's stream)
/// and gathers the answers for the service's next attempt.
pub async fn ask_session(
    gateway: &Gateway,
    context: &CallContext,
    service: &str,
    required: InputRequired,
    to_client: &mpsc::Sender<Vec<u8>>,
    cancelled: &CancellationToken,
    deadline: Instant,
) -> Result<InputRound, GatewayError> {
    let asked = checked(service, &required)?;
    if let Some(capability) = missing_capability(context.declared, &asked) {
        return Err(GatewayError::InvalidRequest(format!(
            "service {service:?} needs the client's {capability} capability, which this session did not declare"
        )));
    }
    let mut waiting = Vec::with_capacity(asked.len());
    for (index, (key, _, params)) in asked.iter().enumerate() {
        let (request_id, answer) = gateway.pending_requests.register(&context.principal.id);
        let method = &required.requests[index].method;
        let message = encode_request(&request_id, method, params.as_bytes());
        waiting.push(((*key).to_owned(), method.clone(), request_id, answer));
        if to_client.send(message).await.is_err() {
            for (_, _, request_id, _) in &waiting {
                gateway.pending_requests.forget(request_id);
            }
            return Err(GatewayError::InvalidRequest(
                "the client went away before it was asked for input".into(),
            ));
        }
    }
    let mut responses_json = HashMap::new();
    let mut outcome = Ok(());
    for (key, method, request_id, answer) in &mut waiting {
        if outcome.is_err() {
            gateway.pending_requests.forget(request_id);
            continue;
        }
        let answered = tokio::select! {
            answered = answer => answered.ok(),
            () = cancelled.cancelled() => None,
            () = tokio::time::sleep_until(deadline) => None,
        };
        match answered {
            Some(Ok(result)) => {
                responses_json.insert(key.clone(), Bytes::from(result));
            }
            Some(Err(error)) => {
                outcome = Err(GatewayError::InvalidRequest(format!(
                    "the client refused {method}: {error}"
                )));
            }
            None => {
                gateway.pending_requests.forget(request_id);
                outcome = Err(GatewayError::InvalidRequest(format!(
                    "the client did not answer {method} in time"
                )));
            }
        }
    }
    outcome?;
    Ok(InputRound {
        responses_json,
        request_state: required.request_state,
    })
}
