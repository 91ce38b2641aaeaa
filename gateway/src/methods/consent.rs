//! Consent: a call of a tool its service lists under `require_approval`
//! waits for a person's answer. The gateway asks the client with an
//! `elicitation/create` request on the call's stream (2025-11-25 sessions
//! that declared elicitation) showing the tool, who asks and the arguments
//! (redacted as in the audit log); only `accept` with `approve: true` lets
//! the call through — decline, cancel, a client error or no answer within
//! `consent.timeout_secs` refuse it (-31003, naming the rule). A client that
//! cannot be asked gets a refusal that says so. Every decision is an audit
//! record (`consent/elicit`); approvals may be remembered per principal,
//! tool and arguments for `consent.remember_secs`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::audit::redact;
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
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

fn refused(message: String) -> GatewayError {
    GatewayError::Forbidden {
        message,
        scope_opt: None,
    }
}

/// Refuses at once a call whose client cannot be asked; `Ok` when it can.
pub(crate) fn can_ask(context: &CallContext, tool: &str, rule: &str) -> Result<(), GatewayError> {
    if context.is_modern() {
        return Err(refused(format!(
            "tool {tool} needs a person's approval (require_approval {rule:?}); this gateway asks by elicitation on 2025-11-25 sessions and cannot ask a 2026-07-28 client yet"
        )));
    }
    let declared = serde_json::from_str::<Value>(context.client_capabilities())
        .ok()
        .is_some_and(|capabilities| capabilities.get("elicitation").is_some());
    if !declared {
        return Err(refused(format!(
            "tool {tool} needs a person's approval (require_approval {rule:?}) and the client did not declare the elicitation capability to ask for it"
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
    let mut hasher = Sha256::new();
    for part in [principal.as_str(), tool, arguments_json.unwrap_or("{}")] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let key: [u8; 32] = hasher.finalize().into();
    let remember = gateway.config.consent.remember;
    if !remember.is_zero() && REMEMBERED.holds(&key) {
        return Ok(());
    }
    let arguments: Value = arguments_json
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_else(|| json!({}));
    let shown = redact(arguments, &gateway.config.audit.redact_fields);
    let params = json!({
        "message": format!("{principal} asks to call {tool} with {shown}. Allow this call?"),
        "requestedSchema": {
            "type": "object",
            "properties": {"approve": {"type": "boolean", "title": format!("Allow {tool}"), "default": false}},
            "required": ["approve"],
        },
    });
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
            }
            Ok(())
        }
        Err(reason) => Err(refused(format!(
            "tool {tool} was not approved (require_approval {rule:?}): {reason}"
        ))),
    }
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
