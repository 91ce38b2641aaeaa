//! Consent: a call of a tool its service lists under `require_approval`,
//! or that a Cedar policy annotated `@require_approval` permits, waits for
//! a person's answer. The gateway asks the client with an
//! `elicitation/create` showing the tool, who asks and the arguments
//! (redacted as in the audit log): on the call's stream for 2025-11-25
//! sessions, as an `input_required` round of its own for 2026-07-28 clients
//! (key `micromcp.approval`, its `requestState` sealed for this principal,
//! tool and arguments, open for `consent.timeout_secs`, and used once: the
//! same approval sent again is a replay, refused and audited as one — as
//! is a round of the approved call sent again; see `session::single_use`,
//! kept per process). Only `accept` with `approve: true` lets the call
//! through — decline, cancel, a client error or (sessions) no answer within
//! `consent.timeout_secs` refuse it (-31003, naming the rule). A client that
//! cannot be asked (no elicitation capability) gets a refusal that says so. Every decision is an audit
//! record (`consent/elicit`); approvals may be remembered per principal,
//! tool and arguments for `consent.remember_secs`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::audit::redact;
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::session::{OpenedRound, RoundFor, RoundUse, SingleUseError, arguments_digest};
use crate::wire::jsonrpc::encode_request;
use crate::wire::protocol::ParamsHead;

/// Approvals remembered: digest of (principal, tool, arguments) → until when.
#[derive(Default)]
struct RememberedApprovals {
    until: Mutex<HashMap<[u8; 32], Instant>>,
}

/// Most remembered approvals kept.
const MAX_REMEMBERED: usize = 10_000;

/// This process's remembered approvals (one gateway per process).
static REMEMBERED: std::sync::LazyLock<RememberedApprovals> =
    std::sync::LazyLock::new(RememberedApprovals::default);

impl RememberedApprovals {
    fn holds(&self, key: &[u8; 32]) -> bool {
        let until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        until.get(key).is_some_and(|until| *until > Instant::now())
    }

    fn remember(&self, key: [u8; 32], until: Instant) {
        let mut remembered = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if remembered.len() >= MAX_REMEMBERED {
            let now = Instant::now();
            remembered.retain(|_, until| *until > now);
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(key, until);
    }
}

/// True when the approval `key` is remembered here or (with `[cluster]`)
/// by another replica; learnt from another, it is remembered here too.
async fn remembered(gateway: &Gateway, key: &[u8; 32]) -> bool {
    let remember = gateway.config.consent.remember;
    if remember.is_zero() {
        return false;
    }
    if REMEMBERED.holds(key) {
        return true;
    }
    let Some(cluster) = &gateway.cluster_opt else {
        return false;
    };
    match cluster.is_approval_remembered(key).await {
        Ok(true) => {
            REMEMBERED.remember(*key, Instant::now() + remember);
            true
        }
        Ok(false) => false,
        Err(_) => {
            // Ask again rather than assume a yes.
            cluster.store().fell_back("remembered_approvals");
            false
        }
    }
}

fn refused(message: String) -> GatewayError {
    GatewayError::Forbidden {
        message,
        scope_opt: None,
    }
}

/// Refuses at once a call whose client cannot be asked; `Ok` when it can.
pub(crate) fn can_ask(context: &CallContext, tool: &str, rule: &str) -> Result<(), GatewayError> {
    if !context.declared.elicitation {
        return Err(refused(format!(
            "tool {tool} needs a person's approval ({rule}) and the client did not declare the elicitation capability to ask for it"
        )));
    }
    Ok(())
}

/// The `params` of a `tools/call` again, as owned JSON (to make the call
/// after the answer).
pub(crate) fn owned_params(head: &ParamsHead<'_>, name: &str) -> String {
    let mut params = format!("{{\"name\":{}", json!(name));
    if let Some(arguments) = head.arguments {
        params.push_str(",\"arguments\":");
        params.push_str(arguments.get());
    }
    let mut meta = Vec::new();
    if let Some(meta_head) = &head.meta {
        if let Some(token) = meta_head.progress_token {
            meta.push(format!("\"progressToken\":{}", token.get()));
        }
        if let Some(traceparent) = &meta_head.traceparent {
            meta.push(format!("\"traceparent\":{}", json!(traceparent)));
        }
    }
    if !meta.is_empty() {
        params.push_str(&format!(",\"_meta\":{{{}}}", meta.join(",")));
    }
    params.push('}');
    params
}

/// Asks the client (on `to_client`) to approve the call of `tool` with
/// `arguments_json`; `Ok` once approved.
pub(crate) async fn ask(
    gateway: &Gateway,
    context: &CallContext,
    tool: &str,
    arguments_json: Option<&str>,
    rule: &str,
    to_client: &mpsc::Sender<Vec<u8>>,
) -> Result<(), GatewayError> {
    let principal = &context.principal.id;
    let key = remember_key(principal, tool, arguments_json);
    if remembered(gateway, &key).await {
        return Ok(());
    }
    let params = question(gateway, context, tool, arguments_json);
    let (request_id, answer) = gateway.pending_requests.register(principal);
    let request = encode_request(
        &request_id,
        "elicitation/create",
        params.to_string().as_bytes(),
    );
    let timeout = gateway.config.consent.timeout;
    let outcome = if to_client.send(request).await.is_err() {
        Err("the client went away".to_owned())
    } else {
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(Ok(result))) => approved(&result),
            Ok(Ok(Err(error))) => Err(format!("the client answered with an error: {error}")),
            Ok(Err(_)) => Err("the client gave no answer".to_owned()),
            Err(_) => Err(format!(
                "no answer within {} s (consent.timeout_secs)",
                timeout.as_secs()
            )),
        }
    };
    gateway.pending_requests.forget(&request_id);
    decided(gateway, context, tool, rule, key, outcome).await
}

/// The digest approvals are remembered by: principal, tool, arguments.
fn remember_key(principal: &str, tool: &str, arguments_json: Option<&str>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [principal, tool, arguments_json.unwrap_or("{}")] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// The `elicitation/create` params asking to approve the call.
fn question(
    gateway: &Gateway,
    context: &CallContext,
    tool: &str,
    arguments_json: Option<&str>,
) -> Value {
    let arguments: Value = arguments_json
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| json!({}));
    let shown = redact(arguments, &gateway.config.audit.redact_fields);
    let principal = &context.principal.id;
    json!({
        "message": format!("{principal} asks to call {tool} with {shown}. Allow this call?"),
        "requestedSchema": {
            "type": "object",
            "properties": {"approve": {"type": "boolean", "title": format!("Allow {tool}"), "default": false}},
            "required": ["approve"],
        },
    })
}

/// Audits the decision, remembers an approval, and turns a refusal into
/// the client's error.
async fn decided(
    gateway: &Gateway,
    context: &CallContext,
    tool: &str,
    rule: &str,
    key: [u8; 32],
    outcome: Result<(), String>,
) -> Result<(), GatewayError> {
    let remember = gateway.config.consent.remember;
    let mut entry = gateway.audit.begin("consent");
    entry.principal(&context.principal);
    entry.request("consent/elicit", 0);
    entry.target(Some(tool), None);
    if let Err(reason) = &outcome {
        entry.refused(reason);
    }
    entry.finish();
    match outcome {
        Ok(()) => {
            if !remember.is_zero() {
                REMEMBERED.remember(key, Instant::now() + remember);
                if let Some(cluster) = &gateway.cluster_opt
                    && cluster.remember_approval(&key, remember).await.is_err()
                {
                    // Remembered here only: other replicas ask again.
                    cluster.store().fell_back("remembered_approvals");
                }
            }
            Ok(())
        }
        Err(reason) => Err(refused(format!(
            "tool {tool} was not approved ({rule}): {reason}"
        ))),
    }
}

/// The key of the gateway's approval question in a 2026-07-28 round.
const APPROVAL_KEY: &str = "micromcp.approval";
/// What consent rounds are sealed for in place of a service (a space: no
/// service is named so).
const CONSENT_ROUND: &str = "micromcp consent";

/// A 2026-07-28 call's approval.
pub(crate) enum Approval {
    /// Go on with the call; `strip_round` when the request's
    /// `inputResponses`/`requestState` answered the approval (they are
    /// not the service's).
    Given { strip_round: bool },
    /// Ask first: this `input_required` result is the answer.
    Ask(Vec<u8>),
}

/// The approval of a 2026-07-28 call of `tool` (of `service`): remembered,
/// answered in this retry, implied by a round of the service (issued only
/// after an approval of these arguments), or to be asked for.
pub(crate) async fn approve_in_round(
    gateway: &Gateway,
    context: &CallContext,
    head: &ParamsHead<'_>,
    service: &str,
    tool: &str,
    rule: &str,
) -> Result<Approval, GatewayError> {
    let arguments_json = head.arguments.map(|raw| raw.get());
    let key = remember_key(&context.principal.id, tool, arguments_json);
    if remembered(gateway, &key).await {
        return Ok(Approval::Given { strip_round: false });
    }
    let digest = arguments_digest(arguments_json);
    let consent_round = RoundFor {
        principal: &context.principal.id,
        service: CONSENT_ROUND,
        method: "tools/call",
        name: tool,
        arguments: &digest,
    };
    if let Some(state) = head.request_state.as_deref() {
        match gateway.request_states.open_round(state, &consent_round) {
            Ok(opened) => {
                let answer = head
                    .input_responses
                    .and_then(|raw| {
                        serde_json::from_str::<HashMap<String, &RawValue>>(raw.get()).ok()
                    })
                    .and_then(|answers| answers.get(APPROVAL_KEY).map(|raw| raw.get().to_owned()));
                // A round answered — accept, decline or cancel — is used:
                // a decline sent again as an accept is a replay.
                if answer.is_some() {
                    use_once(gateway, context, tool, rule, &opened).await?;
                }
                let outcome = match answer {
                    Some(answer) => approved(&answer),
                    None => Err(format!("the retry has no answer for {APPROVAL_KEY:?}")),
                };
                decided(gateway, context, tool, rule, key, outcome).await?;
                return Ok(Approval::Given { strip_round: true });
            }
            Err(consent_error) => {
                let service_round = RoundFor {
                    service,
                    ..consent_round
                };
                if let Ok(opened) = gateway.request_states.open_round(state, &service_round) {
                    // A round of the approved call: it too carries one call.
                    use_once(gateway, context, tool, rule, &opened).await?;
                    return Ok(Approval::Given { strip_round: false });
                }
                return Err(consent_error);
            }
        }
    }
    // Short-lived: open as long as a session's question waits.
    let state =
        gateway
            .request_states
            .seal_for(&consent_round, b"", gateway.config.consent.timeout)?;
    let params = question(gateway, context, tool, arguments_json);
    let body = json!({
        "resultType": "input_required",
        "inputRequests": {APPROVAL_KEY: {"method": "elicitation/create", "params": params}},
        "requestState": state,
    });
    Ok(Approval::Ask(body.to_string().into_bytes()))
}

/// Records the use of `opened` — an approval round, or a round of a call
/// approved — which may carry one call: a replay (the same `requestState`
/// and `inputResponses` sent again) is refused and audited as one
/// (`consent/replay`), as is a round the store has no room for.
async fn use_once(
    gateway: &Gateway,
    context: &CallContext,
    tool: &str,
    rule: &str,
    opened: &OpenedRound,
) -> Result<(), GatewayError> {
    let used = gateway
        .use_round(&opened.id, opened.expires_unix, &context.principal.id)
        .await;
    let store_away = matches!(used, Err(SingleUseError::Unavailable(_)));
    let (method, reason) = match used {
        Ok(RoundUse::First) => return Ok(()),
        Ok(RoundUse::Replay) => (
            "consent/replay",
            "this approval was used already (a replay); call again without inputResponses and requestState to be asked again".to_owned(),
        ),
        Err(error) => ("consent/elicit", error.to_string()),
    };
    let mut entry = gateway.audit.begin("consent");
    entry.principal(&context.principal);
    entry.request(method, 0);
    entry.target(Some(tool), None);
    entry.refused(&reason);
    entry.finish();
    let message = format!("tool {tool} was not approved ({rule}): {reason}");
    if store_away {
        // The shared store is away: the same round may be sent again later.
        return Err(GatewayError::transient("redis", message));
    }
    Err(refused(message))
}

/// `Ok` for an `accept` answer with `approve: true`, else why not.
fn approved(result: &str) -> Result<(), String> {
    let answer: Value =
        serde_json::from_str(result).map_err(|_| "the answer is not JSON".to_owned())?;
    match answer.get("action").and_then(Value::as_str) {
        Some("accept") if answer.pointer("/content/approve") == Some(&Value::Bool(true)) => Ok(()),
        Some("accept") => Err("the user did not approve it".to_owned()),
        Some("decline") => Err("the user declined".to_owned()),
        Some("cancel") => Err("the user cancelled".to_owned()),
        _ => Err("the answer has no action".to_owned()),
    }
}

/// Sends every message of `reply` to `to_client`.
pub(crate) async fn forward(
    reply: Reply,
    to_client: &mpsc::Sender<Vec<u8>>,
) -> Result<(), GatewayError> {
    match reply {
        Reply::Json(body) => {
            let _ = to_client.send(body).await;
        }
        Reply::Pieces(pieces) => {
            let _ = to_client.send(pieces.concat()).await;
        }
        Reply::Events(mut messages) => {
            while let Some(message) = messages.recv().await {
                if to_client.send(message).await.is_err() {
                    break;
                }
            }
        }
        Reply::Body(mut pieces) => {
            let mut body = Vec::new();
            while let Some(piece) = pieces.next().await {
                let piece: Bytes = piece?;
                body.extend_from_slice(&piece);
            }
            let _ = to_client.send(body).await;
        }
    }
    Ok(())
}
