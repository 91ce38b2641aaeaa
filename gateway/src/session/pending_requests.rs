//! Server-to-client requests in flight (handshake era): the gateway sends
//! `elicitation/create`, `sampling/createMessage` or `roots/list` to the
//! client with an id of its own (`"mm-N"`) and routes the client's POSTed
//! response back to the tool call that asked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

/// The client's answer: a raw result, or an error message.
pub type ClientAnswer = Result<String, String>;

/// Outstanding server-to-client requests, by JSON id text, each with the
/// principal whose call asked (only that principal may answer).
#[derive(Default)]
pub struct PendingClientRequests {
    waiting: Mutex<HashMap<String, (String, oneshot::Sender<ClientAnswer>)>>,
    next: AtomicU64,
}

// === impl PendingClientRequests ===

impl PendingClientRequests {
    /// Registers a new request; returns its JSON id text and the answer receiver.
    pub fn register(&self, principal: &str) -> (String, oneshot::Receiver<ClientAnswer>) {
        let id_text = format!("\"mm-{}\"", self.next.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(id_text.clone(), (principal.to_owned(), sender));
        }
        (id_text, receiver)
    }

    /// Forgets a request nobody will answer.
    pub fn forget(&self, id_text: &str) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.remove(id_text);
        }
    }

    /// Routes a client response; false if no request of `principal` has that id.
    pub fn deliver(
        &self,
        id_text: &str,
        principal: &str,
        result: Option<&str>,
        error: Option<&str>,
    ) -> bool {
        let sender_opt = self.waiting.lock().ok().and_then(|mut waiting| {
            let owned = waiting
                .get(id_text)
                .is_some_and(|(owner, _)| owner == principal);
            if owned { waiting.remove(id_text) } else { None }
        });
        let Some((_, sender)) = sender_opt else {
            return false;
        };
        let answer = match (result, error) {
            (Some(result), _) => Ok(result.to_owned()),
            (None, Some(error)) => Err(error.to_owned()),
            (None, None) => Err("empty response".to_owned()),
        };
        sender.send(answer).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_reach_the_registered_request_once() {
        let pending = PendingClientRequests::default();
        let (id, receiver) = pending.register("alice");
        assert!(!pending.deliver("\"other\"", "alice", Some("{}"), None));
        assert!(!pending.deliver(&id, "mallory", Some("{}"), None));
        assert!(pending.deliver(&id, "alice", Some("{\"ok\":true}"), None));
        assert!(!pending.deliver(&id, "alice", Some("{}"), None));
        assert_eq!(
            receiver.await.expect("answer"),
            Ok("{\"ok\":true}".to_owned())
        );
    }
}
