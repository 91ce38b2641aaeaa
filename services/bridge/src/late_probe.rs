//! A transport wrapper that keeps rmcp's era probe from failing on a
//! server slower to start than the probe's wait.
//!
//! rmcp's `Auto` lifecycle probes with `server/discover` and, when no answer
//! comes within its wait (10 s), sends `initialize` on the same connection
//! and takes the next response as that answer. A stdio server slower to
//! start than that (thousands of tools registered on a loaded machine)
//! reads both requests and answers both, the probe first: rmcp failed the
//! handshake with "conflict initialized response id: expected 1, got 0",
//! and each reconnect started the slow server again. Here an `initialize`
//! sent while the probe is unanswered is held (at most [`GRACE`]):
//! - the probe answered with a result naming 2026-07-28: the server chose
//!   that era, so the held `initialize` is never sent; rmcp gets, as its
//!   answer, an `InitializeResult` made of the discover result (version
//!   2026-07-28, capabilities, server info, instructions — what rmcp keeps
//!   of a discover result; a version without a handshake, so rmcp carries
//!   the era in each request's `_meta`), and its
//!   `notifications/initialized` is not sent either;
//! - the probe answered with an error (a handshake-era server): the held
//!   `initialize` is sent, the error dropped;
//! - no answer within [`GRACE`]: the `initialize` is sent (a server that
//!   never answers a probe); whichever is answered first then wins — the
//!   probe's answer naming 2026-07-28 becomes the `initialize`'s answer as
//!   above (the `initialize`'s own, a refusal, is dropped), the
//!   `initialize`'s answer passes and a later probe answer is dropped.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, Implementation, InitializeResult,
    JsonRpcMessage, ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::Transport;
use tokio::time::Instant;

/// Longest an `initialize` is held for the probe's answer, after rmcp's own
/// 10 s wait.
pub const GRACE: Duration = Duration::from_secs(20);

/// `inner`, with an `initialize` sent over an unanswered probe held.
pub struct LateProbe<T> {
    inner: T,
    /// The id (as text: a server may answer `0` as `"0"`) of the
    /// `server/discover` sent and not answered yet.
    pending_opt: Option<String>,
    /// The `initialize` held, its id and until when.
    held_opt: Option<(RequestId, ClientJsonRpcMessage, Instant)>,
    /// The `initialize` sent after [`GRACE`] with the probe unanswered.
    sent_late_opt: Option<RequestId>,
    /// An id whose answer is dropped: a probe whose `initialize` was
    /// answered first, or an `initialize` the probe's answer stood in for.
    dropped_opt: Option<String>,
    /// The era was settled by the probe: rmcp's `initialized` is not sent.
    skip_initialized: bool,
}

/// A message from the server not passed on.
#[derive(Debug)]
enum Kept {
    /// The late answer to a probe given up on.
    Drop,
    /// The probe's answer: the held `initialize` is to be sent now.
    SendHeld,
}

// === impl LateProbe ===

impl<T> LateProbe<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending_opt: None,
            held_opt: None,
            sent_late_opt: None,
            dropped_opt: None,
            skip_initialized: false,
        }
    }

    /// Notes what the client sends; false when it is held or skipped.
    fn sends(&mut self, message: &ClientJsonRpcMessage) -> bool {
        match message {
            JsonRpcMessage::Request(request) => match &request.request {
                ClientRequest::DiscoverRequest(_) => {
                    self.pending_opt = Some(request.id.to_string());
                    true
                }
                ClientRequest::InitializeRequest(_) if self.pending_opt.is_some() => {
                    self.held_opt =
                        Some((request.id.clone(), message.clone(), Instant::now() + GRACE));
                    false
                }
                _ => true,
            },
            JsonRpcMessage::Notification(notification) => {
                !(self.skip_initialized
                    && matches!(
                        notification.notification,
                        ClientNotification::InitializedNotification(_)
                    ))
            }
            _ => true,
        }
    }

    /// `message` from the server, to pass on, or why not.
    fn received(&mut self, message: ServerJsonRpcMessage) -> Result<ServerJsonRpcMessage, Kept> {
        // Once the era is settled (every message after the handshake).
        if self.pending_opt.is_none() && self.dropped_opt.is_none() && self.sent_late_opt.is_none()
        {
            return Ok(message);
        }
        let id_opt = match &message {
            JsonRpcMessage::Response(response) => Some(response.id.to_string()),
            JsonRpcMessage::Error(error) => error.id.as_ref().map(ToString::to_string),
            _ => None,
        };
        let Some(id) = id_opt else {
            return Ok(message);
        };
        if self.dropped_opt.as_ref() == Some(&id) {
            self.dropped_opt = None;
            tracing::debug!(%id, "dropped an answer the era probe settled");
            return Err(Kept::Drop);
        }
        if self
            .sent_late_opt
            .as_ref()
            .is_some_and(|late| late.to_string() == id)
        {
            // `initialize` answered first: a later probe answer is dropped.
            self.sent_late_opt = None;
            self.dropped_opt = self.pending_opt.take();
            return Ok(message);
        }
        if self.pending_opt.as_ref() != Some(&id) {
            return Ok(message);
        }
        self.pending_opt = None;
        let (initialize_id, held) = match (&self.held_opt, &self.sent_late_opt) {
            (Some((held_id, _, _)), _) => (held_id.clone(), true),
            (None, Some(late_id)) => (late_id.clone(), false),
            (None, None) => return Ok(message),
        };
        let modern = ProtocolVersion::V_2026_07_28;
        let JsonRpcMessage::Response(response) = message else {
            return Err(self.not_settled(held));
        };
        let ServerResult::DiscoverResult(result) = response.result else {
            return Err(self.not_settled(held));
        };
        if !result.supported_versions.contains(&modern) {
            return Err(self.not_settled(held));
        }
        let server_info = result
            .server_info()
            .unwrap_or_else(|| Implementation::new("unnamed", ""));
        let mut answer = InitializeResult::new(result.capabilities);
        answer.protocol_version = modern;
        answer.server_info = server_info;
        answer.instructions = result.instructions;
        self.held_opt = None;
        if !held {
            self.sent_late_opt = None;
            self.dropped_opt = Some(initialize_id.to_string());
        }
        self.skip_initialized = true;
        tracing::debug!("the server/discover answer settled the era: 2026-07-28");
        Ok(ServerJsonRpcMessage::response(
            ServerResult::InitializeResult(answer),
            initialize_id,
        ))
    }

    /// The probe answered without settling the era: the `initialize` goes
    /// (or, sent already, its own answer will do); the probe's is dropped.
    fn not_settled(&mut self, held: bool) -> Kept {
        if held {
            Kept::SendHeld
        } else {
            self.sent_late_opt = None;
            Kept::Drop
        }
    }

    /// The grace is over: the held `initialize`, to send now.
    fn give_up(&mut self) -> Option<ClientJsonRpcMessage> {
        let (id, message, _) = self.held_opt.take()?;
        self.sent_late_opt = Some(id);
        Some(message)
    }
}

impl<T> Transport<RoleClient> for LateProbe<T>
where
    T: Transport<RoleClient>,
{
    type Error = T::Error;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let forward_opt = self.sends(&item).then(|| self.inner.send(item));
        async move {
            match forward_opt {
                Some(forward) => forward.await,
                None => Ok(()),
            }
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let message = match self.held_opt.as_ref().map(|(_, _, until)| *until) {
                Some(until) => tokio::select! {
                    message = self.inner.receive() => message?,
                    () = tokio::time::sleep_until(until) => {
                        if let Some(held) = self.give_up() {
                            self.inner.send(held).await.ok()?;
                        }
                        continue;
                    }
                },
                None => self.inner.receive().await?,
            };
            match self.received(message) {
                Ok(message) => return Some(message),
                Err(Kept::Drop) => {}
                Err(Kept::SendHeld) => {
                    if let Some((_, held, _)) = self.held_opt.take() {
                        self.inner.send(held).await.ok()?;
                    }
                }
            }
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
#[path = "late_probe/tests.rs"]
mod tests;
