//! The gateway's own requests (`elicitation/create`, `sampling/createMessage`,
//! `roots/list`) of plain-JSON calls that went out on a session's GET stream:
//! remembered (the most recent [`MAX_ROUTED`]) so that when that stream
//! closes and no new one comes back in time, each still unanswered is
//! answered here with an error and its call ends, instead of waiting on an
//! answer no client will send.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Most requests remembered per session; older ones are forgotten (their
/// calls still end when the client answers, cancels or disconnects).
pub const MAX_ROUTED: usize = 256;

/// Requests sent on one session's GET stream: (JSON id text, principal).
#[derive(Debug, Default)]
pub struct RoutedRequests {
    sent: Mutex<VecDeque<(String, String)>>,
}

// === impl RoutedRequests ===

impl RoutedRequests {
    /// Notes a request of `principal` sent on the GET stream.
    pub fn sent(&self, id_text: &str, principal: &str) {
        let Ok(mut sent) = self.sent.lock() else {
            return;
        };
        if sent.len() >= MAX_ROUTED {
            sent.pop_front();
        }
        sent.push_back((id_text.to_owned(), principal.to_owned()));
    }

    /// Every request noted so far, forgotten here.
    pub fn take(&self) -> Vec<(String, String)> {
        self.sent
            .lock()
            .map(|mut sent| sent.drain(..).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_requests_and_hands_them_over_once() {
        let routed = RoutedRequests::default();
        for n in 0..MAX_ROUTED + 3 {
            routed.sent(&format!("\"mm-{n}\""), "alice");
        }
        let taken = routed.take();
        assert_eq!(taken.len(), MAX_ROUTED);
        assert_eq!(taken[0].0, "\"mm-3\"");
        assert!(routed.take().is_empty());
    }
}
