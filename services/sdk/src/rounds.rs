//! Multi-round requests (2026-07-28, SEP-2322) on the service's side: what
//! a retried request brings back from an earlier `input_required` round
//! ([`Round`]), how a tool or prompt asks for input all at once
//! ([`input_required`]), and the SDK's own request state that lets a tool
//! written against [`crate::ToolEvents::request_input`] run again from the
//! start with its earlier answers (replay).
//!
//! The gateway seals a round's `request_state` before the client sees it
//! and refuses one that was altered, expired, or issued to another
//! principal, service or tool; the answers themselves are the client's
//! words and are validated like any input.

use std::collections::HashMap;

use bytes::Bytes;
use micromcp_proto::{InputRequest, InputRequired, InputRound};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ServiceError, ServiceResult};

/// The marker of the SDK's replay state (answers of earlier rounds).
const REPLAY_FIELD: &str = "micromcp.replay";

/// The SDK's request state for a tool that asks with `request_input`: the
/// client's answers of every earlier round, so the next run finds them.
#[derive(Serialize, Deserialize)]
struct ReplayState {
    #[serde(rename = "micromcp.replay")]
    version: u8,
    answers: HashMap<String, Box<serde_json::value::RawValue>>,
}

/// One request's view of its multi-round exchange: the client's declared
/// capabilities, and (on a retry) its answers and the state of the round.
#[derive(Debug, Clone, Default)]
pub struct Round {
    capabilities: Value,
    responses: HashMap<String, Bytes>,
    state: Bytes,
    replayed: bool,
}

// === impl Round ===

impl Round {
    /// The round of a request: `capabilities` as the gateway sent them and
    /// the retried round, if any. Answers carried in the SDK's replay
    /// state join the client's new ones (new ones win).
    pub(crate) fn new(capabilities: Value, round_opt: Option<InputRound>) -> Self {
        let Some(round) = round_opt else {
            return Self {
                capabilities,
                ..Self::default()
            };
        };
        let mut responses: HashMap<String, Bytes> = HashMap::new();
        let mut state = round.request_state;
        let mut replayed = false;
        if let Ok(replay) = serde_json::from_slice::<ReplayState>(&state) {
            for (key, answer) in replay.answers {
                responses.insert(key, Bytes::from(answer.get().to_owned()));
            }
            state = Bytes::new();
            replayed = true;
        }
        responses.extend(round.responses_json);
        Self {
            capabilities,
            responses,
            state,
            replayed,
        }
    }

    /// The capabilities the request declared (raw JSON; `Null` for none).
    pub fn capabilities(&self) -> &Value {
        &self.capabilities
    }

    /// True when the client declared capability `name` (e.g. `sampling`).
    pub fn client_supports(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some()
    }

    /// True when this request answers an earlier `input_required` round.
    pub fn is_retry(&self) -> bool {
        self.replayed || !self.responses.is_empty() || !self.state.is_empty()
    }

    /// The client's answer for `key`, parsed; `None` when it gave none.
    pub fn response(&self, key: &str) -> Option<ServiceResult<Value>> {
        self.responses.get(key).map(|raw| {
            serde_json::from_slice(raw).map_err(|error| {
                ServiceError::InvalidArgument(format!(
                    "input response {key:?} is not JSON: {error}"
                ))
            })
        })
    }

    /// Every answer the client gave (raw JSON by key), for a service that
    /// passes them on as they are (a bridge to another MCP server).
    pub fn responses(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.responses
            .iter()
            .map(|(key, raw)| (key.as_str(), raw.as_ref()))
    }

    /// The `request_state` this service gave with the round being answered
    /// (empty when none, or when the round was the SDK's replay).
    pub fn state(&self) -> &[u8] {
        &self.state
    }

    /// The SDK's replay state carrying every answer so far.
    pub(crate) fn replay_state(&self) -> Bytes {
        let answers = self
            .responses
            .iter()
            .filter_map(|(key, raw)| {
                let text = std::str::from_utf8(raw).ok()?;
                let value = serde_json::value::RawValue::from_string(text.to_owned()).ok()?;
                Some((key.clone(), value))
            })
            .collect();
        let state = ReplayState {
            version: 1,
            answers,
        };
        serde_json::to_vec(&state).map_or_else(|_| Bytes::new(), Bytes::from)
    }
}

/// One input request of an `input_required` answer.
pub fn input_request(key: &str, method: &str, params: &Value) -> InputRequest {
    InputRequest {
        key: key.to_owned(),
        method: method.to_owned(),
        params_json: Bytes::from(params.to_string()),
    }
}

/// The error a tool or prompt returns when it needs the client's input
/// before it can answer: every request at once, and the state it needs to
/// resume (given back in the retry's [`Round::state`]). The SDK sends it
/// to the gateway as an `InputRequired` message, not as an error.
pub fn input_required(requests: Vec<InputRequest>, request_state: Bytes) -> ServiceError {
    ServiceError::InputRequired(Box::new(InputRequired {
        requests,
        request_state,
    }))
}

/// True when `state` is the SDK's replay state (tests, diagnostics).
pub fn is_replay_state(state: &[u8]) -> bool {
    serde_json::from_slice::<Value>(state)
        .ok()
        .is_some_and(|value| value.get(REPLAY_FIELD).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replay_state_carries_earlier_answers_into_the_next_round() {
        let first = Round::new(
            json!({"elicitation": {}}),
            Some(InputRound {
                responses_json: [(
                    "1".to_owned(),
                    Bytes::from_static(b"{\"action\":\"accept\"}"),
                )]
                .into(),
                request_state: Bytes::new(),
            }),
        );
        let carried = first.replay_state();
        assert!(is_replay_state(&carried));
        let second = Round::new(
            json!({}),
            Some(InputRound {
                responses_json: [("2".to_owned(), Bytes::from_static(b"7"))].into(),
                request_state: carried,
            }),
        );
        assert_eq!(
            second.response("1").expect("kept").expect("json"),
            json!({"action": "accept"})
        );
        assert_eq!(second.response("2").expect("new").expect("json"), json!(7));
        assert!(second.state().is_empty());
        assert!(second.is_retry());
    }

    #[test]
    fn a_service_state_reaches_the_service_unchanged() {
        let round = Round::new(
            Value::Null,
            Some(InputRound {
                responses_json: HashMap::new(),
                request_state: Bytes::from_static(b"step-2"),
            }),
        );
        assert_eq!(round.state(), b"step-2");
        assert!(round.response("x").is_none());
        assert!(!Round::new(Value::Null, None).is_retry());
    }
}
