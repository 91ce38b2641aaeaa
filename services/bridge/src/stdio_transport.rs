//! The stdio transport to a bridged server's child process: one JSON-RPC
//! message per line each way, with the answer to a `tools/call` — the hot
//! path — parsed straight as the `CallToolResult` that request expects (its
//! id says which method it answers), not through rmcp's untagged parse of
//! every message, which tries each message and result shape in turn (≈ 45 k
//! instructions per call, most of it building errors for the shapes that do
//! not match). Every other line — and an answer that is not a plain tool
//! result, such as an input-required round — takes rmcp's own parse.
//! Lines are bounded as rmcp bounds them; the child is shut down as the
//! specification says (stdin closed, then `SIGTERM`, then killed).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::{
    CallToolResult, ClientNotification, ClientRequest, ErrorData, JsonRpcMessage, JsonRpcResponse,
    JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The longest line taken from the server (rmcp's own bound); a longer
/// one is dropped and logged, and the connection stays open.
pub const MAX_LINE_LENGTH: usize = 16 * 1024 * 1024;

/// How long the child is given to exit at each step of its shutdown.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// The ids of the `tools/call` requests sent and not yet answered.
type CallIds = Arc<Mutex<HashSet<RequestId>>>;

/// A line-delimited JSON-RPC connection to a child's stdin and stdout.
pub struct StdioTransport {
    child_opt: Option<Child>,
    read: BufReader<ChildStdout>,
    line: Vec<u8>,
    /// Set while the rest of an oversized line is being skipped (kept here:
    /// `receive` may be cancelled part way).
    discarding: bool,
    write: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    call_ids: CallIds,
    /// A well-formed request the server sent that is no message: answered
    /// with "Invalid Request" before the next read.
    answer_invalid: bool,
}

/// What one line holds, before its message is parsed.
enum Parsed {
    Message(Box<RxJsonRpcMessage<RoleClient>>),
    Skip,
    Invalid,
}

/// A message's envelope, its `result` left unparsed: enough to tell an
/// answer from the rest and which request it answers.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "jsonrpc")]
    _jsonrpc: JsonRpcVersion2_0,
    id: Option<RequestId>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    method: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

// === impl StdioTransport ===

impl StdioTransport {
    /// A transport over `child`'s piped stdin and stdout (taken from it).
    pub fn new(mut child: Child) -> std::io::Result<Self> {
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("the server's stdin is not piped"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("the server's stdout is not piped"))?;
        Ok(Self {
            child_opt: Some(child),
            read: BufReader::new(stdout),
            line: Vec::new(),
            discarding: false,
            write: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            call_ids: CallIds::default(),
            answer_invalid: false,
        })
    }

    /// Reads one whole line into `self.line`; false at the end of the
    /// stream. Cancellation-safe: a partial line stays in `self.line`.
    async fn read_line(&mut self) -> std::io::Result<bool> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(false);
            }
            let newline_opt = available.iter().position(|byte| *byte == b'\n');
            let take = newline_opt.map_or(available.len(), |index| index + 1);
            let mut complete = newline_opt.is_some();
            if self.discarding {
                self.discarding = !complete;
                complete = false;
            } else if self.line.len().saturating_add(take) > MAX_LINE_LENGTH {
                tracing::error!(
                    max_line_length = MAX_LINE_LENGTH,
                    "a message from the server exceeds the line limit: dropped"
                );
                self.line.clear();
                self.discarding = !complete;
                complete = false;
            } else {
                self.line.extend_from_slice(&available[..take]);
            }
            self.read.consume(take);
            if complete {
                return Ok(true);
            }
        }
    }

    /// Answers a malformed request of the server's, as rmcp does.
    async fn send_invalid_request(&mut self) -> bool {
        let answer = TxJsonRpcMessage::<RoleClient>::error(
            ErrorData::invalid_request("Invalid request", None),
            None,
        );
        write_message(&self.write, &answer).await.is_ok()
    }

    /// Ends the child as the specification's stdio shutdown says.
    async fn shut_down(&mut self) -> std::io::Result<()> {
        drop(self.write.lock().await.take());
        let Some(mut child) = self.child_opt.take() else {
            return Ok(());
        };
        if tokio::time::timeout(EXIT_WAIT, child.wait()).await.is_ok() {
            return Ok(());
        }
        if let Some(pid) = child.id() {
            crate::process_tree::terminate(pid);
            if tokio::time::timeout(EXIT_WAIT, child.wait()).await.is_ok() {
                return Ok(());
            }
        }
        child.kill().await
    }
}

impl Transport<RoleClient> for StdioTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        track(&self.call_ids, &item);
        let write = self.write.clone();
        async move { write_message(&write, &item).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            if self.answer_invalid {
                if !self.send_invalid_request().await {
                    return None;
                }
                self.answer_invalid = false;
            }
            match self.read_line().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => {
                    tracing::error!(%error, "cannot read from the server");
                    return None;
                }
            }
            let parsed = parse_line(&self.line, &self.call_ids);
            self.line.clear();
            match parsed {
                Parsed::Message(message) => return Some(*message),
                Parsed::Skip => {}
                Parsed::Invalid => self.answer_invalid = true,
            }
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.shut_down()
    }
}

/// Writes one message and its newline, then flushes.
async fn write_message(
    write: &tokio::sync::Mutex<Option<ChildStdin>>,
    item: &TxJsonRpcMessage<RoleClient>,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(item)?;
    bytes.push(b'\n');
    let mut guard = write.lock().await;
    let stdin = guard.as_mut().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotConnected, "the transport is closed")
    })?;
    stdin.write_all(&bytes).await?;
    stdin.flush().await
}

/// Notes the id of a `tools/call` being sent, and forgets one the client
/// cancels (its answer may never come).
fn track(call_ids: &CallIds, item: &TxJsonRpcMessage<RoleClient>) {
    let mut ids = call_ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match item {
        JsonRpcMessage::Request(request)
            if matches!(request.request, ClientRequest::CallToolRequest(_)) =>
        {
            ids.insert(request.id.clone());
        }
        JsonRpcMessage::Notification(notification) => {
            if let ClientNotification::CancelledNotification(cancelled) = &notification.notification
                && let Some(id) = &cancelled.params.request_id
            {
                ids.remove(id);
            }
        }
        _ => {}
    }
}

/// One line as a message: a tool call's answer directly, anything else
/// through rmcp's parse.
fn parse_line(line: &[u8], call_ids: &CallIds) -> Parsed {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.is_empty() {
        return Parsed::Skip;
    }
    if let Some(answer) = call_answer(line, call_ids) {
        return Parsed::Message(Box::new(answer));
    }
    match serde_json::from_slice::<ServerJsonRpcMessage>(line) {
        Ok(message) => Parsed::Message(Box::new(message)),
        Err(error) => unparsed(line, &error),
    }
}

/// The answer to one of our `tools/call`s as a `CallToolResult`, when the
/// line is one and its result is a plain tool result.
fn call_answer(line: &[u8], call_ids: &CallIds) -> Option<ServerJsonRpcMessage> {
    let envelope: Envelope<'_> = serde_json::from_slice(line).ok()?;
    if envelope.method.is_some() || envelope.error.is_some() {
        return None;
    }
    let (id, result) = (envelope.id?, envelope.result?);
    let answers_a_call = call_ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&id);
    if !answers_a_call {
        return None;
    }
    let result: CallToolResult = serde_json::from_str(result.get()).ok()?;
    Some(JsonRpcMessage::Response(JsonRpcResponse {
        jsonrpc: JsonRpcVersion2_0,
        id,
        result: ServerResult::CallToolResult(result),
    }))
}

/// What to do with a line that is no message: input that is not JSON, and
/// notifications of any shape, are ignored (a notification takes no
/// answer; servers send ones of their own); anything else with an id gets
/// "Invalid Request" back, as from rmcp.
fn unparsed(line: &[u8], error: &serde_json::Error) -> Parsed {
    let has_id = serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .is_some_and(|value| value.get("id").is_some());
    if !has_id {
        tracing::debug!(%error, "ignoring a line from the server that is no message");
        return Parsed::Skip;
    }
    tracing::debug!(%error, "a message from the server has no known shape");
    Parsed::Invalid
}

#[cfg(test)]
mod tests;
