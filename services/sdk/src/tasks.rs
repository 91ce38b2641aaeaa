//! The tasks extension (SEP-2663) on the service's side. A tool declares
//! `execution.taskSupport` (`optional` or `required`, in its catalog entry);
//! when the request declared `io.modelcontextprotocol/tasks` and the tool
//! does not finish at once, the call becomes a task: the client gets a
//! `CreateTaskResult` and follows it with `tasks/get`, answers the input it
//! asks for with `tasks/update`, ends it with `tasks/cancel`. Tasks live in
//! this process, one principal's each (another principal's id is unknown),
//! for `TTL` after their last change or question (a task still running
//! then is stopped: nobody follows it); at most `MAX_TASKS` at once and `MAX_TASKS_PER_PRINCIPAL` for
//! one principal.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use micromcp_proto::Tool;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::{ServiceError, ServiceResult, ToolOutput};

/// The extension's id in capabilities.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";
/// How long a task stays after its last change.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// The poll interval suggested to clients.
const POLL_INTERVAL_MS: u64 = 500;
/// Tasks one process keeps at once.
const MAX_TASKS: usize = 10_000;
/// Tasks one principal may have at once.
const MAX_TASKS_PER_PRINCIPAL: usize = 256;

/// Whether a tool may (or must) answer with a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSupport {
    Forbidden,
    Optional,
    Required,
}

/// A tool's `execution.taskSupport` (`Forbidden` when absent).
pub fn task_support(tool: &Tool) -> TaskSupport {
    let extra: Value = serde_json::from_slice(&tool.extra_json).unwrap_or_default();
    match extra["execution"]["taskSupport"].as_str() {
        Some("optional") => TaskSupport::Optional,
        Some("required") => TaskSupport::Required,
        _ => TaskSupport::Forbidden,
    }
}

/// True when `capabilities` (a request's) declare the tasks extension.
pub fn declares_tasks(capabilities: &Value) -> bool {
    capabilities["extensions"].get(TASKS_EXTENSION).is_some()
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::InputRequired => "input_required",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One input the task waits for.
struct Pending {
    method: String,
    params: Value,
    answer: Option<oneshot::Sender<Value>>,
}

struct State {
    status: Status,
    updated: jiff::Timestamp,
    touched: Instant,
    result_json: Option<Bytes>,
    error: Option<Value>,
    pending: BTreeMap<String, Pending>,
    abort_opt: Option<AbortHandle>,
}

/// One task.
pub struct Task {
    id: String,
    principal: String,
    created: jiff::Timestamp,
    state: Mutex<State>,
    next_key: AtomicU64,
}

/// The tasks of one service.
#[derive(Default)]
pub(crate) struct Tasks {
    entries: Mutex<HashMap<String, Arc<Task>>>,
}

fn unknown(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("unknown task: {id}"))
}

impl Tasks {
    /// A new working task of `principal` (forgetting expired ones first).
    pub(crate) fn create(&self, principal: &str) -> ServiceResult<Arc<Task>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Forgotten tasks still running (waiting for input nobody gives)
        // are stopped.
        entries.retain(|_, task| {
            let expired = task.expired();
            if expired && let Some(abort) = task.state().abort_opt.take() {
                abort.abort();
            }
            !expired
        });
        let owned = entries
            .values()
            .filter(|task| task.principal == principal)
            .count();
        if entries.len() >= MAX_TASKS || owned >= MAX_TASKS_PER_PRINCIPAL {
            return Err(ServiceError::ResourceExhausted(format!(
                "too many tasks (at most {MAX_TASKS_PER_PRINCIPAL} per principal and {MAX_TASKS} in all); let some finish"
            )));
        }
        let now = jiff::Timestamp::now();
        let task = Arc::new(Task {
            id: random_id(),
            principal: principal.to_owned(),
            created: now,
            state: Mutex::new(State {
                status: Status::Working,
                updated: now,
                touched: Instant::now(),
                result_json: None,
                error: None,
                pending: BTreeMap::new(),
                abort_opt: None,
            }),
            next_key: AtomicU64::new(1),
        });
        entries.insert(task.id.clone(), task.clone());
        Ok(task)
    }

    /// The task `id` of `principal`; asking about it keeps it alive.
    fn find(&self, id: &str, principal: &str) -> ServiceResult<Arc<Task>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let task = entries
            .get(id)
            .filter(|task| task.principal == principal && !task.expired())
            .cloned()
            .ok_or_else(|| unknown(id))?;
        task.state().touched = Instant::now();
        Ok(task)
    }

    /// `tasks/get`: the DetailedTask.
    pub(crate) fn get(&self, id: &str, principal: &str) -> ServiceResult<Value> {
        Ok(self.find(id, principal)?.detailed())
    }

    /// `tasks/update`: answers to the inputs the task waits for (keys it
    /// does not wait for are ignored).
    pub(crate) fn update(
        &self,
        id: &str,
        principal: &str,
        answers: HashMap<String, Bytes>,
    ) -> ServiceResult<()> {
        let task = self.find(id, principal)?;
        let mut state = task.state();
        for (key, raw) in answers {
            let Ok(answer) = serde_json::from_slice::<Value>(&raw) else {
                return Err(ServiceError::InvalidArgument(format!(
                    "input response {key:?} is not JSON"
                )));
            };
            if let Some(mut pending) = state.pending.remove(&key)
                && let Some(sender) = pending.answer.take()
            {
                let _ = sender.send(answer);
            }
        }
        if state.pending.is_empty() && state.status == Status::InputRequired {
            state.status = Status::Working;
        }
        state.changed();
        Ok(())
    }

    /// `tasks/cancel`: stops a task that is still running (a finished one
    /// stays as it is).
    pub(crate) fn cancel(&self, id: &str, principal: &str) -> ServiceResult<()> {
        let task = self.find(id, principal)?;
        let mut state = task.state();
        if !state.status.is_terminal() {
            if let Some(abort) = state.abort_opt.take() {
                abort.abort();
            }
            state.status = Status::Cancelled;
            state.pending.clear();
            state.changed();
        }
        Ok(())
    }
}

impl Task {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True once nothing happened to the task for `TTL` (finished or not).
    fn expired(&self) -> bool {
        self.state().touched.elapsed() > TTL
    }

    /// Runs `work` as this task until it ends or is cancelled.
    pub(crate) fn run(self: &Arc<Self>, work: BoxFuture<'static, ServiceResult<ToolOutput>>) {
        let task = self.clone();
        let handle = tokio::spawn(async move {
            let outcome = work.await;
            let mut state = task.state();
            if state.status == Status::Cancelled {
                return;
            }
            match outcome {
                Ok(output) => {
                    state.status = Status::Completed;
                    state.result_json = Some(output.into_raw_json());
                }
                Err(error) => {
                    state.status = Status::Failed;
                    state.error = Some(json!({"code": -32603, "message": error.to_string()}));
                }
            }
            state.pending.clear();
            state.changed();
        });
        let mut state = self.state();
        if state.status == Status::Cancelled {
            handle.abort();
        } else {
            state.abort_opt = Some(handle.abort_handle());
        }
    }

    /// Waits for the client's answer to one input (`tasks/update`); the
    /// task reports `input_required` meanwhile.
    pub(crate) async fn ask(&self, method: &str, params: &Value) -> ServiceResult<Value> {
        let key = format!("input-{}", self.next_key.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = oneshot::channel();
        {
            let mut state = self.state();
            state.pending.insert(
                key,
                Pending {
                    method: method.to_owned(),
                    params: params.clone(),
                    answer: Some(sender),
                },
            );
            state.status = Status::InputRequired;
            state.changed();
        }
        receiver.await.map_err(|_| {
            ServiceError::Unavailable("the task ended while it waited for input".into())
        })
    }

    /// The `CreateTaskResult` announcing this task.
    pub(crate) fn create_result(&self) -> Bytes {
        let mut result = self.info();
        result["resultType"] = json!("task");
        Bytes::from(result.to_string())
    }

    /// The fields of every task message.
    fn info(&self) -> Value {
        let state = self.state();
        json!({
            "taskId": self.id,
            "status": state.status.as_str(),
            "createdAt": self.created.to_string(),
            "lastUpdatedAt": state.updated.to_string(),
            "ttlMs": TTL.as_millis() as u64,
            "pollIntervalMs": POLL_INTERVAL_MS,
        })
    }

    /// `tasks/get`'s DetailedTask: the result or error once terminal, the
    /// inputs still wanted while `input_required`.
    fn detailed(&self) -> Value {
        let mut detailed = self.info();
        let state = self.state();
        if let Some(result) = &state.result_json
            && let Ok(result) = serde_json::from_slice::<Value>(result)
        {
            detailed["result"] = result;
        }
        if let Some(error) = &state.error {
            detailed["error"] = error.clone();
        }
        if state.status == Status::InputRequired {
            let requests: serde_json::Map<String, Value> = state
                .pending
                .iter()
                .map(|(key, pending)| {
                    (
                        key.clone(),
                        json!({"method": pending.method, "params": pending.params}),
                    )
                })
                .collect();
            detailed["inputRequests"] = Value::Object(requests);
        }
        detailed
    }
}

impl State {
    fn changed(&mut self) {
        self.updated = jiff::Timestamp::now();
        self.touched = Instant::now();
    }
}

/// 128 random bits, hex.
fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
