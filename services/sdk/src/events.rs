//! `ToolEvents`: the service's side of a tool call's event stream — progress,
//! logs, and input requests (elicitation, sampling, roots): relayed to
//! 2025-11-25 sessions while the call waits, or asked of 2026-07-28 clients
//! in an `input_required` round after which the call runs again from the
//! start and finds the answers in its [`Round`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use micromcp_proto::{
    CallToolServerMessage, InputRequest, InputRequired, InputResponse, LogMessage, Progress,
    call_tool_server_message::Message,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

use crate::rounds::input_request;
use crate::tasks::Task;
use crate::{Round, ServiceError, ServiceResult};

type PendingInputs = Arc<Mutex<HashMap<String, oneshot::Sender<InputResponse>>>>;

/// Sends events for one tool call back to the gateway.
#[derive(Clone)]
pub struct ToolEvents {
    outbound: mpsc::Sender<Result<CallToolServerMessage, Status>>,
    pending_inputs: PendingInputs,
    next_input_key: Arc<AtomicU64>,
    progress_requested: bool,
    round: Arc<Round>,
    log_level_opt: Option<u8>,
    input_relay: bool,
    /// Set once an `input_required` round was sent: the call's answer.
    asked: Arc<AtomicBool>,
    /// For a call that may become a task: the task, once it is one.
    task_opt: Option<watch::Receiver<Option<Arc<Task>>>>,
}

// === impl ToolEvents ===

impl ToolEvents {
    pub(crate) fn new(
        outbound: mpsc::Sender<Result<CallToolServerMessage, Status>>,
        progress_requested: bool,
        round: Round,
        log_level: &str,
        input_relay: bool,
    ) -> Self {
        Self {
            outbound,
            pending_inputs: Arc::default(),
            next_input_key: Arc::new(AtomicU64::new(1)),
            progress_requested,
            round: Arc::new(round),
            log_level_opt: log_level_rank(log_level),
            input_relay,
            asked: Arc::default(),
            task_opt: None,
        }
    }

    /// The same events for a call that may become a task: its input
    /// requests then wait for the task and are asked through `tasks/get`.
    pub(crate) fn in_task(mut self, task_opt: Option<watch::Receiver<Option<Arc<Task>>>>) -> Self {
        self.task_opt = task_opt;
        self
    }

    /// Events that go nowhere: for calling a service directly (tests, local use).
    pub fn detached() -> Self {
        let (outbound, _) = mpsc::channel(1);
        Self::new(outbound, false, Round::default(), "", false)
    }

    /// The call's multi-round view: declared capabilities and, on a retry
    /// after `input_required`, the client's answers and the round's state.
    pub fn round(&self) -> &Round {
        &self.round
    }

    /// True once `request_input` asked in an `input_required` round: that
    /// round is the call's answer, whatever the tool returns afterwards.
    pub(crate) fn asked_for_input(&self) -> bool {
        self.asked.load(Ordering::Acquire)
    }

    /// Delivers a client's answer to the matching pending input request.
    pub(crate) fn deliver_input(&self, response: InputResponse) {
        let sender_opt = self
            .pending_inputs
            .lock()
            .ok()
            .and_then(|mut pending| pending.remove(&response.key));
        if let Some(sender) = sender_opt {
            let _ = sender.send(response);
        }
    }

    /// True when the client asked for progress notifications.
    pub fn progress_requested(&self) -> bool {
        self.progress_requested
    }

    /// True when the client declared capability `name` (e.g. `sampling`).
    pub fn client_supports(&self, name: &str) -> bool {
        self.round.client_supports(name)
    }

    /// The least severe log level the client wants (`None`: no logs).
    pub fn log_level(&self) -> Option<&'static str> {
        self.log_level_opt
            .and_then(|rank| micromcp_proto::LOG_LEVELS.get(usize::from(rank)).copied())
    }

    /// Reports progress; dropped when the client did not ask for it.
    pub async fn progress(&self, progress: f64, total_opt: Option<f64>, message: &str) {
        if !self.progress_requested {
            return;
        }
        let event = Message::Progress(Progress {
            progress,
            total: total_opt,
            message: message.to_owned(),
        });
        self.send(event).await;
    }

    /// Sends a log message if the client's level lets it through.
    pub async fn log(&self, level: &str, logger: &str, data: &Value) {
        let Some(wanted) = self.log_level_opt else {
            return;
        };
        if log_level_rank(level).is_none_or(|rank| rank < wanted) {
            return;
        }
        let event = Message::Log(LogMessage {
            level: level.to_owned(),
            logger: logger.to_owned(),
            data_json: Bytes::from(data.to_string()),
        });
        self.send(event).await;
    }

    /// Asks the client for input (`elicitation/create`, `sampling/createMessage`,
    /// `roots/list`) and waits for its answer. Requests are numbered in the
    /// order the call makes them, so a call that runs again after an
    /// `input_required` round gets its earlier answers at once.
    ///
    /// Written once for both eras; propagate its error with `?` (for a
    /// 2026-07-28 client it ends this run, and the tool runs again with the
    /// answer), and do nothing irreversible before the last question:
    ///
    /// ```
    /// use micromcp_sdk::{ServiceResult, ToolEvents, ToolOutput};
    ///
    /// async fn forget(events: &ToolEvents, name: &str) -> ServiceResult<ToolOutput> {
    ///     if !events.client_supports("elicitation") {
    ///         return Ok(ToolOutput::error("forget asks the user first, and this client cannot"));
    ///     }
    ///     let answer = events
    ///         .request_input("elicitation/create", &serde_json::json!({
    ///             "message": format!("Forget the note {name:?}?"),
    ///             "requestedSchema": {"type": "object", "properties": {"confirm": {"type": "boolean"}}},
    ///         }))
    ///         .await?;
    ///     if answer["action"] == "accept" && answer["content"]["confirm"] == true {
    ///         Ok(ToolOutput::text(format!("forgot {name}")))
    ///     } else {
    ///         Ok(ToolOutput::text(format!("kept {name}")))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Events of a call made in-process have no client behind them.
    /// let output = forget(&ToolEvents::detached(), "groceries").await.unwrap();
    /// let output: serde_json::Value = serde_json::from_slice(&output.into_raw_json()).unwrap();
    /// assert_eq!(output["isError"], true);
    /// # }
    /// ```
    pub async fn request_input(&self, method: &str, params: &Value) -> ServiceResult<Value> {
        let key = self
            .next_input_key
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        if let Some(answer) = self.round.response(&key) {
            return answer;
        }
        if let Some(task) = &self.task_opt {
            // The call becomes a task as soon as it waits: then ask there.
            let mut task = task.clone();
            let task = task
                .wait_for(Option::is_some)
                .await
                .map_err(|_| ServiceError::Unavailable("the call ended".into()))?
                .clone();
            if let Some(task) = task {
                return task.ask(method, params).await;
            }
        }
        let capability = capability_of(method);
        if !self.input_relay {
            if !self.client_supports(capability) {
                return Err(ServiceError::Unsupported(format!(
                    "{method} cannot reach this call's client: it declared no {capability} capability"
                )));
            }
            // A 2026-07-28 client: this round is the call's answer; the
            // client retries with the answer and the call runs again.
            self.asked.store(true, Ordering::Release);
            self.send(Message::InputRequired(InputRequired {
                requests: vec![input_request(&key, method, params)],
                request_state: self.round.replay_state(),
            }))
            .await;
            return Err(ServiceError::Unavailable(
                "waiting for the client's input; the call runs again when it answers".into(),
            ));
        }
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut pending) = self.pending_inputs.lock() {
            pending.insert(key.clone(), sender);
        }
        self.send(Message::InputRequest(InputRequest {
            key,
            method: method.to_owned(),
            params_json: Bytes::from(params.to_string()),
        }))
        .await;
        let response = receiver.await.map_err(|_| {
            ServiceError::Unavailable("the client did not answer the input request".into())
        })?;
        if !response.error_message.is_empty() {
            return Err(ServiceError::InvalidArgument(format!(
                "client refused {method}: {}",
                response.error_message
            )));
        }
        serde_json::from_slice(&response.result_json).map_err(|error| {
            ServiceError::InvalidArgument(format!("invalid {method} answer: {error}"))
        })
    }

    async fn send(&self, message: Message) {
        let _ = self
            .outbound
            .send(Ok(CallToolServerMessage {
                message: Some(message),
            }))
            .await;
    }
}

/// The client capability an input method needs.
fn capability_of(method: &str) -> &'static str {
    match method {
        "sampling/createMessage" => "sampling",
        "roots/list" => "roots",
        _ => "elicitation",
    }
}

/// Syslog severity rank (debug = 0 … emergency = 7).
fn log_level_rank(level: &str) -> Option<u8> {
    micromcp_proto::LOG_LEVELS
        .iter()
        .position(|name| *name == level)
        .and_then(|rank| u8::try_from(rank).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logs_below_the_client_level_are_dropped() {
        let (sender, mut receiver) = mpsc::channel(4);
        let events = ToolEvents::new(sender, false, Round::default(), "warning", false);
        events.log("info", "t", &Value::from("quiet")).await;
        events.log("error", "t", &Value::from("loud")).await;
        events.progress(1.0, None, "").await;
        drop(events);
        let first = receiver.recv().await.expect("one event").expect("ok");
        assert!(matches!(first.message, Some(Message::Log(log)) if log.level == "error"));
        assert!(receiver.recv().await.is_none());
    }

    #[tokio::test]
    async fn without_input_relay_requests_fail_at_once_and_send_nothing() {
        let (sender, mut receiver) = mpsc::channel(4);
        let events = ToolEvents::new(sender, false, Round::default(), "", false);
        let error = events
            .request_input("sampling/createMessage", &serde_json::json!({}))
            .await
            .expect_err("no relay");
        assert!(
            matches!(&error, ServiceError::Unsupported(text) if text.contains("sampling/createMessage cannot reach")),
            "{error:?}"
        );
        drop(events);
        assert!(receiver.recv().await.is_none(), "no InputRequest was sent");
    }

    #[tokio::test]
    async fn input_answers_reach_the_waiting_request() {
        let (sender, mut receiver) = mpsc::channel(4);
        let events = ToolEvents::new(sender, false, Round::default(), "", true);
        let asking = events.clone();
        let ask = tokio::spawn(async move {
            asking
                .request_input("roots/list", &serde_json::json!({}))
                .await
        });
        let sent = receiver.recv().await.expect("request").expect("ok");
        let Some(Message::InputRequest(request)) = sent.message else {
            panic!("expected an input request");
        };
        events.deliver_input(InputResponse {
            key: request.key,
            result_json: Bytes::from_static(b"{\"roots\":[]}"),
            error_message: String::new(),
        });
        let answer = ask.await.expect("join").expect("answer");
        assert_eq!(answer["roots"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn a_modern_call_asks_in_a_round_and_its_rerun_finds_the_answer() {
        use micromcp_proto::InputRound;
        let capabilities = serde_json::json!({"elicitation": {}});
        let (sender, mut receiver) = mpsc::channel(4);
        let events = ToolEvents::new(
            sender,
            false,
            Round::new(capabilities.clone(), None),
            "",
            false,
        );
        let asked = events
            .request_input(
                "elicitation/create",
                &serde_json::json!({"message": "name?"}),
            )
            .await;
        assert!(asked.is_err());
        assert!(events.asked_for_input());
        let sent = receiver.recv().await.expect("round").expect("ok");
        let Some(Message::InputRequired(required)) = sent.message else {
            panic!("expected an input_required round");
        };
        assert_eq!(required.requests.len(), 1);
        assert_eq!(required.requests[0].key, "1");
        // The client answers; the call runs again from the start.
        let round = Round::new(
            capabilities,
            Some(InputRound {
                responses_json: [(
                    "1".to_owned(),
                    Bytes::from_static(b"{\"action\":\"accept\"}"),
                )]
                .into(),
                request_state: required.request_state,
            }),
        );
        let (sender, _receiver) = mpsc::channel(4);
        let rerun = ToolEvents::new(sender, false, round, "", false);
        let answer = rerun
            .request_input(
                "elicitation/create",
                &serde_json::json!({"message": "name?"}),
            )
            .await
            .expect("answered from the round");
        assert_eq!(answer["action"], "accept");
        assert!(!rerun.asked_for_input());
    }
}
