//! The testkit's tasks-extension (SEP-2663) fixtures, as the conformance
//! suite's `tasks-*` scenarios call them: `greet` (never a task),
//! `slow_compute`, `failing_job`, `protocol_error_job`, `confirm_delete`,
//! `multi_input` and `test_tool_with_task` (multi-round input first, then a
//! task). The SDK turns a call into a task when it does not finish at once.

use std::time::Duration;

use micromcp_sdk::{
    ServiceError, ServiceResult, ToolEvents, ToolOutput, input_request, input_required,
};
use serde_json::{Value, json};

/// Tool names and their `execution.taskSupport`.
pub(crate) const TASK_TOOLS: [(&str, &str, &str); 7] = [
    ("greet", "Says hello to `name` (never a task)", "forbidden"),
    (
        "slow_compute",
        "Sleeps `seconds`, then answers (a task when the client takes tasks)",
        "optional",
    ),
    (
        "failing_job",
        "Fails as a tool after about a second (needs tasks)",
        "required",
    ),
    (
        "protocol_error_job",
        "Fails as a service after half a second",
        "optional",
    ),
    (
        "confirm_delete",
        "Asks the user to confirm deleting `filename`",
        "optional",
    ),
    ("multi_input", "Asks two questions at once", "optional"),
    (
        "test_tool_with_task",
        "Asks the user's name, then works on it as a task (needs tasks)",
        "required",
    ),
];

fn text(text: &str) -> ToolOutput {
    ToolOutput::from_value(&json!({"content": [{"type": "text", "text": text}]}))
}

fn confirm(message: &str) -> Value {
    json!({"message": message, "requestedSchema": {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}})
}

/// A task fixture's result; `None` when `name` is not one of them.
pub(crate) async fn call(
    name: &str,
    arguments: &Value,
    events: &ToolEvents,
) -> Option<ServiceResult<ToolOutput>> {
    let outcome = match name {
        "greet" => Ok(text(&format!(
            "Hello, {}!",
            arguments["name"].as_str().unwrap_or("World")
        ))),
        "slow_compute" => {
            let seconds = arguments["seconds"]
                .as_f64()
                .unwrap_or(1.0)
                .clamp(0.0, 60.0);
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            Ok(text(&format!(
                "computed {}",
                arguments["label"].as_str().unwrap_or("result")
            )))
        }
        "failing_job" => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(ToolOutput::error("the job failed, as it always does"))
        }
        "protocol_error_job" => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Err(ServiceError::Internal("the job broke down".into()))
        }
        "confirm_delete" => {
            let filename = arguments["filename"].as_str().unwrap_or("the file");
            match events
                .request_input(
                    "elicitation/create",
                    &confirm(&format!("Delete {filename}?")),
                )
                .await
            {
                Ok(answer) if answer["content"]["confirm"] == true => {
                    Ok(text(&format!("deleted {filename}")))
                }
                Ok(_) => Ok(text(&format!("kept {filename}"))),
                Err(error) => Err(error),
            }
        }
        "multi_input" => {
            let (one, two) = (confirm("First question?"), confirm("Second question?"));
            let (first, second) = tokio::join!(
                events.request_input("elicitation/create", &one),
                events.request_input("elicitation/create", &two),
            );
            first.and(second).map(|_| text("both answered"))
        }
        "test_tool_with_task" => {
            let answer = events.round().response("user_name").and_then(Result::ok);
            let Some(answer) = answer.filter(|answer| answer["action"] == "accept") else {
                return Some(Err(input_required(
                    vec![input_request(
                        "user_name",
                        "elicitation/create",
                        &json!({
                            "message": "What is your name?",
                            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
                        }),
                    )],
                    bytes::Bytes::new(),
                )));
            };
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(text(&format!(
                "Hello, {}! (worked on as a task)",
                answer["content"]["name"].as_str().unwrap_or("stranger")
            )))
        }
        _ => return None,
    };
    Some(outcome)
}
