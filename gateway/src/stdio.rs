//! The stdio front (`micromcp stdio`): newline-delimited JSON-RPC on stdin
//! and stdout for desktop clients that launch a local command. One process
//! is one client: after `initialize` it is a handshake-era session; requests
//! carrying 2026-07-28 `_meta` are served statelessly. Requests run
//! concurrently so cancellations and answers to server requests get through
//! while a call is in progress.

use std::sync::Arc;

use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};

use crate::dispatch;
use crate::error::GatewayError;
use crate::gateway::{CallContext, EraState, Gateway, Reply};
use crate::jsonrpc::{Envelope, MessageKind, encode_error, encode_result};
use crate::protocol::{MirroredHeaders, ParamsHead, validate_modern};
use crate::runtime::SessionRuntime;

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
    let mut lines = BufReader::new(input).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let gateway = gateway.clone();
        let to_writer = to_writer.clone();
        let session = session.clone();
        tokio::spawn(async move {
            handle_line(&gateway, &session, line.into_bytes(), &to_writer).await;
        });
    }
    drop(to_writer);
    let _ = writer.await;
    Ok(())
}

async fn handle_line(
    gateway: &Arc<Gateway>,
    session: &StdioSession,
    line: Vec<u8>,
    out: &mpsc::Sender<Vec<u8>>,
) {
    let envelope = match Envelope::parse(&line) {
        Ok(envelope) => envelope,
        Err(error) => {
            let _ = out.send(encode_error("null", &error)).await;
            return;
        }
    };
    let kind = match envelope.kind() {
        Ok(kind) => kind,
        Err(error) => {
            let _ = out.send(encode_error(envelope.id_text(), &error)).await;
            return;
        }
    };
    let head = ParamsHead::parse(envelope.params);
    match kind {
        MessageKind::Response => {
            gateway.deliver_client_response(
                envelope.id_text(),
                STDIO_PRINCIPAL,
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
            let outcome = match head {
                Ok(head) => {
                    serve_request(
                        gateway,
                        session,
                        method,
                        id_text,
                        head,
                        envelope.params,
                        out,
                    )
                    .await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                let _ = out.send(encode_error(id_text, &error)).await;
            }
        }
    }
}

async fn serve_request(
    gateway: &Arc<Gateway>,
    session: &StdioSession,
    method: &str,
    id_text: &str,
    head: ParamsHead<'_>,
    params: Option<&serde_json::value::RawValue>,
    out: &mpsc::Sender<Vec<u8>>,
) -> Result<(), GatewayError> {
    if method == "initialize" {
        let (result, claims) = dispatch::initialize(gateway, &head, STDIO_PRINCIPAL);
        *session.lock().await = Some((
            claims.client_capabilities,
            Arc::new(SessionRuntime::default()),
        ));
        let _ = out.send(encode_result(id_text, result.as_bytes())).await;
        return Ok(());
    }
    let era = if head.meta_protocol_version().is_some() {
        validate_modern(method, &head, &MirroredHeaders::default(), false)?;
        let meta = head.meta.as_ref();
        EraState::Modern {
            client_capabilities: meta
                .and_then(|meta| meta.client_capabilities)
                .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned()),
            log_level_opt: meta.and_then(|meta| meta.log_level.clone()),
        }
    } else {
        let guard = session.lock().await;
        let Some((client_capabilities, runtime)) = guard.as_ref() else {
            return Err(GatewayError::SessionRequired("send initialize first, or include io.modelcontextprotocol/protocolVersion in params._meta".into()));
        };
        EraState::Legacy {
            client_capabilities: client_capabilities.clone(),
            runtime: runtime.clone(),
        }
    };
    let context = CallContext {
        principal: STDIO_PRINCIPAL.to_owned(),
        era,
        request_id: gateway.next_request_id(),
    };
    match dispatch::handle(gateway, &context, method, id_text, head, params).await? {
        Reply::Json(body) => {
            let _ = out.send(body).await;
        }
        Reply::Events(mut messages) => {
            while let Some(message) = messages.recv().await {
                let _ = out.send(message).await;
            }
        }
        Reply::Pieces(pieces) => {
            let _ = out.send(pieces.concat()).await;
        }
        Reply::Body(mut pieces) => {
            let mut body = Vec::new();
            while let Some(piece) = pieces.next().await {
                body.extend_from_slice(&piece?);
            }
            let _ = out.send(body).await;
        }
    }
    Ok(())
}
