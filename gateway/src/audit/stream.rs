//! Audit for answers that stream: the entry travels with the stream,
//! counts what is sent, and is written when the stream ends (`ok`, or
//! `error` when the final message is a JSON-RPC error) or is dropped
//! early because the client went away (`cancelled`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;

use super::AuditEntry;
use crate::error::GatewayError;

/// A body stream that finishes its audit entry.
pub struct AuditedBody<S> {
    inner: S,
    entry: AuditEntry,
}

// === impl AuditedBody ===

impl<S> AuditedBody<S> {
    /// Wraps `inner`; `entry` is written when it ends.
    pub fn new(inner: S, entry: AuditEntry) -> Self {
        Self { inner, entry }
    }
}

impl<S> Stream for AuditedBody<S>
where
    S: Stream<Item = Result<Bytes, GatewayError>> + Unpin,
{
    type Item = Result<Bytes, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.inner).poll_next(context);
        match &next {
            Poll::Ready(Some(Ok(piece))) => self.entry.sent(piece.len()),
            Poll::Ready(Some(Err(error))) => {
                self.entry.error(error);
                self.entry.take().finish();
            }
            Poll::Ready(None) => self.entry.take().finish(),
            Poll::Pending => {}
        }
        next
    }
}

/// The code of the JSON-RPC error answering `id_text`, if `message` is
/// one (0 when its code cannot be read).
pub fn error_answer_code(id_text: &str, message: &[u8]) -> Option<i64> {
    const HEAD: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":";
    const ERROR: &[u8] = b",\"error\":";
    let rest = message.strip_prefix(HEAD)?;
    let rest = rest.strip_prefix(id_text.as_bytes())?;
    let rest = rest.strip_prefix(ERROR)?;
    let code = rest
        .strip_prefix(b"{\"code\":")
        .and_then(|digits| {
            let end = digits
                .iter()
                .position(|byte| !(byte.is_ascii_digit() || *byte == b'-'))?;
            std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
        })
        .unwrap_or(0);
    Some(code)
}

/// Relays `messages` (events ending with the answer) through a task that
/// writes `entry` when they end; the returned receiver replaces them.
pub fn audit_events(
    mut messages: mpsc::Receiver<Vec<u8>>,
    mut entry: AuditEntry,
    id_text: &str,
) -> mpsc::Receiver<Vec<u8>> {
    if !entry.is_on() {
        return messages;
    }
    let (relay, relayed) = mpsc::channel(16);
    let id_text = id_text.to_owned();
    tokio::spawn(async move {
        let mut failed = None;
        while let Some(message) = messages.recv().await {
            entry.sent(message.len());
            failed = error_answer_code(&id_text, &message);
            if relay.send(message).await.is_err() {
                // Client gone: dropping `entry` records the cancellation.
                return;
            }
        }
        if let Some(code) = failed {
            entry.failed(code);
        }
        entry.finish();
    });
    relayed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_error_answering_this_id_counts() {
        let code = |message: &[u8]| error_answer_code("7", message);
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":7,"error":{"code":-31004,"data":{}}}"#),
            Some(-31004)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":7,"result":{"error":1}}"#),
            None
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":71,"error":{"code":-1}}"#),
            None
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#),
            None
        );
        let encoded =
            crate::wire::jsonrpc::encode_error("7", &GatewayError::transient("fs", "down"));
        assert_eq!(code(&encoded), Some(crate::error::TRANSIENT));
    }
}
