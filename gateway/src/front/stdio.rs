//! The stdio front (`micromcp stdio`): newline-delimited JSON-RPC on stdin
//! and stdout for desktop clients that launch a local command. One process
//! is one client: after `initialize` it is a handshake-era session; requests
//! carrying 2026-07-28 `_meta` are served statelessly. Requests run
//! concurrently so cancellations and answers to server requests get through
//! while a call is in progress — all but `initialize`, answered before the
//! next line is read so that calls written right behind it find the session. The local user is the principal `stdio`
//! (every scope; Cedar policies still apply); each request is audited.

use std::sync::Arc;

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};
use tracing::Instrument;

use crate::audit::AuditEntry;
use crate::context::{CallContext, Reply};
use crate::dispatch;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::principal::Principal;
use crate::session::SessionRuntime;
use crate::wire::jsonrpc::{Envelope, MessageKind, encode_error, encode_result};
use crate::wire::protocol::{MirroredHeaders, ParamsHead, validate_modern};

/// The session a stdio client opened with `initialize`: its relayed
/// capabilities and runtime.
type StdioSession = Mutex<Option<(String, Arc<SessionRuntime>)>>;

/// The principal of the local stdio user.
const STDIO_PRINCIPAL: &str = "stdio";

/// Serves one client on `input`/`output` until input ends.
pub async fn serve(
    gateway: Arc<Gateway>,
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
) -> std::io::Result<()> {
    let (to_writer, mut from_handlers) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = from_handlers.recv().await {
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    let session: Arc<StdioSession> = Arc::default();
    let principal = Principal::unrestricted(STDIO_PRINCIPAL);
    let mut lines = BufReader::new(input).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        // `initialize` is answered before the next line is read: a client
        // that writes its first calls right behind it finds its session open.
        if opens_session(line.as_bytes()) {
            let stdio = Stdio {
                session: &session,
                principal: &principal,
                out: &to_writer,
            };
            handle_line(&gateway, stdio, line.into_bytes()).await;
            continue;
        }
        let gateway = gateway.clone();
        let to_writer = to_writer.clone();
        let session = session.clone();
        let principal = principal.clone();
        tokio::spawn(async move {
            let stdio = Stdio {
                session: &session,
                principal: &principal,
                out: &to_writer,
            };
            handle_line(&gateway, stdio, line.into_bytes()).await;
        });
    }
    drop(to_writer);
    let _ = writer.await;
    Ok(())
}

/// True when `line` is an `initialize` request.
fn opens_session(line: &[u8]) -> bool {
    Envelope::parse(line).is_ok_and(|envelope| {
        envelope.method.as_deref() == Some("initialize") && envelope.id.is_some()
    })
}

/// What a line's handler shares with the others.
#[derive(Clone, Copy)]
struct Stdio<'a> {
    session: &'a StdioSession,
    principal: &'a Arc<Principal>,
    out: &'a mpsc::Sender<Vec<u8>>,
}

async fn handle_line(gateway: &Arc<Gateway>, stdio: Stdio<'_>, line: Vec<u8>) {
    let Stdio {
        session,
        principal,
        out,
    } = stdio;
    let mut audit = gateway.audit.begin("stdio");
    audit.principal(principal);
    let envelope = match Envelope::parse(&line) {
        Ok(envelope) => envelope,
        Err(error) => {
            audit.request("", line.len());
            audit.error(&error);
            audit.finish();
            let _ = out.send(encode_error("null", &error)).await;
            return;
        }
    };
    let kind = match envelope.kind() {
        Ok(kind) => kind,
        Err(error) => {
            audit.request("", line.len());
            audit.error(&error);
            audit.finish();
            let _ = out.send(encode_error(envelope.id_text(), &error)).await;
            return;
        }
    };
    if kind != MessageKind::Request {
        audit.discard();
    }
    let head = ParamsHead::parse(envelope.params);
    match kind {
        MessageKind::Response => {
            gateway.deliver_client_response(
                envelope.id_text(),
                &principal.id,
                envelope.result.map(|raw| raw.get()),
                envelope.error.map(|raw| raw.get()),
            );
        }
        MessageKind::Notification => {
            if envelope.method.as_deref() == Some("notifications/cancelled")
                && let Ok(head) = head
                && let Some(request_id) = head.request_id
                && let Some((_, runtime)) = session.lock().await.as_ref()
            {
                runtime.cancel_request(request_id.get());
            }
        }
        MessageKind::Request => {
            let id_text = envelope.id_text();
            let method = envelope.method.as_deref().unwrap_or_default();
            audit.request(method, line.len());
            let outcome = match head {
                Ok(head) => {
                    audit.request_target(method, &head, &gateway.config.catalog);
                    let request = StdioRequest {
                        method,
                        id_text,
                        params: envelope.params,
                    };
                    serve_request(gateway, stdio, request, head, &mut audit).await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                audit.error(&error);
                let body = encode_error(id_text, &error);
                audit.sent(body.len());
                let _ = out.send(body).await;
            }
            audit.finish();
        }
    }
}

/// One request line.
struct StdioRequest<'a> {
    method: &'a str,
    id_text: &'a str,
    params: Option<&'a serde_json::value::RawValue>,
}

async fn serve_request(
    gateway: &Arc<Gateway>,
    stdio: Stdio<'_>,
    request: StdioRequest<'_>,
    head: ParamsHead<'_>,
    audit: &mut AuditEntry,
) -> Result<(), GatewayError> {
    let Stdio {
        session,
        principal,
        out,
    } = stdio;
    let StdioRequest {
        method,
        id_text,
        params,
    } = request;
    if method == "initialize" {
        let (result, claims) = dispatch::initialize(gateway, &head, &principal.id)?;
        *session.lock().await = Some((
            claims.client_capabilities,
            Arc::new(SessionRuntime::default()),
        ));
        let body = encode_result(id_text, result.as_bytes());
        audit.sent(body.len());
        let _ = out.send(body).await;
        return Ok(());
    }
    let context = if head.meta_protocol_version().is_some() {
        validate_modern(method, &head, &MirroredHeaders::default(), false)?;
        CallContext::modern(
            principal.clone(),
            head.meta.as_ref(),
            gateway.next_request_id(),
        )
    } else {
        let guard = session.lock().await;
        let Some((client_capabilities, runtime)) = guard.as_ref() else {
            return Err(GatewayError::SessionRequired("send initialize first, or include io.modelcontextprotocol/protocolVersion in params._meta".into()));
        };
        CallContext::legacy(
            principal.clone(),
            client_capabilities.clone(),
            runtime.clone(),
            gateway.next_request_id(),
        )
    };
    audit.context(&context);
    let span = super::traced::request_span(None, method, &head, principal);
    let reply = dispatch::handle(gateway, &context, method, id_text, head, params)
        .instrument(span)
        .await?;
    match reply {
        Reply::Json(body) => {
            audit.sent(body.len());
            let _ = out.send(body).await;
        }
        Reply::Events(mut messages) => {
            let mut failed = None;
            while let Some(message) = messages.recv().await {
                audit.sent(message.len());
                failed = crate::audit::error_answer_code(id_text, &message);
                let _ = out.send(message).await;
            }
            if let Some(code) = failed {
                audit.failed(code);
            }
        }
        Reply::Pieces(pieces) => {
            let body = pieces.concat();
            audit.sent(body.len());
            let _ = out.send(body).await;
        }
        Reply::Body(mut pieces) => {
            let mut body = Vec::new();
            while let Some(piece) = pieces.next().await {
                body.extend_from_slice(&piece?);
            }
            audit.sent(body.len());
            let _ = out.send(body).await;
        }
    }
    Ok(())
}
