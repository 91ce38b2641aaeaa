//! The testkit's multi-round (2026-07-28, SEP-2322) tools and prompt, as
//! the conformance suite's `input-required-result-*` and `server-stateless`
//! scenarios call them: each asks with `input_required` (keys, methods and
//! request states as the scenarios expect) and completes once the retry
//! brings valid answers; a missing or malformed answer is asked again.

use micromcp_sdk::{Round, ServiceResult, input_request, input_required};
use serde_json::{Value, json};

/// One input a tool needs: key, method, params.
type Ask = (&'static str, &'static str, Value);

fn elicit_name(message: &str, field: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    })
}

fn sampling(text: &str, max_tokens: u32) -> Value {
    json!({"messages": [{"role": "user", "content": {"type": "text", "text": text}}], "maxTokens": max_tokens})
}

/// The answer for `key` when it is well-formed for `method`.
fn answer(round: &Round, key: &str, method: &str) -> Option<Value> {
    let value = round.response(key)?.ok()?;
    let valid = match method {
        "elicitation/create" => value.get("action").is_some_and(Value::is_string),
        "sampling/createMessage" => value.get("content").is_some_and(Value::is_object),
        "roots/list" => value.get("roots").is_some_and(Value::is_array),
        _ => false,
    };
    valid.then_some(value)
}

/// `Ok(answers)` when every ask is answered, else the `input_required`
/// error asking for the missing ones with `state`.
fn gather(round: &Round, asks: Vec<Ask>, state: &[u8]) -> ServiceResult<Vec<Value>> {
    let mut answers = Vec::new();
    let mut missing = Vec::new();
    for (key, method, params) in asks {
        match answer(round, key, method) {
            Some(value) => answers.push(value),
            None => missing.push(input_request(key, method, &params)),
        }
    }
    if missing.is_empty() {
        Ok(answers)
    } else {
        Err(input_required(
            missing,
            bytes::Bytes::copy_from_slice(state),
        ))
    }
}

fn content_text(answer: &Value, field: &str) -> String {
    answer["content"][field]
        .as_str()
        .map_or_else(|| answer["content"].to_string(), str::to_owned)
}

fn text_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}]})
}

/// A multi-round tool's result; `None` when `name` is not one of them.
pub(crate) fn call(name: &str, round: &Round) -> Option<ServiceResult<Value>> {
    let outcome = match name {
        "test_input_required_result_elicitation" => gather(
            round,
            vec![(
                "user_name",
                "elicitation/create",
                elicit_name("What is your name?", "name"),
            )],
            b"",
        )
        .map(|answers| text_result(&format!("Hello, {}!", content_text(&answers[0], "name")))),
        "test_input_required_result_sampling" => gather(
            round,
            vec![(
                "capital_question",
                "sampling/createMessage",
                sampling("What is the capital of France?", 100),
            )],
            b"",
        )
        .map(|answers| {
            text_result(&format!(
                "Sampling said: {}",
                content_text(&answers[0], "text")
            ))
        }),
        "test_input_required_result_list_roots" => {
            gather(round, vec![("client_roots", "roots/list", json!({}))], b"").map(|answers| {
                let uris: Vec<&str> = answers[0]["roots"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|root| root["uri"].as_str())
                    .collect();
                text_result(&format!("Roots: {}", uris.join(", ")))
            })
        }
        "test_input_required_result_request_state" => {
            let asks = vec![(
                "confirm",
                "elicitation/create",
                json!({"message": "Please confirm", "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}),
            )];
            match gather(round, asks, b"testkit-confirm-v1") {
                Ok(_) if round.state() == b"testkit-confirm-v1" => {
                    Ok(text_result("state-ok: confirmed"))
                }
                Ok(_) => Ok(
                    json!({"content": [{"type": "text", "text": "request state missing or wrong"}], "isError": true}),
                ),
                Err(error) => Err(error),
            }
        }
        "test_input_required_result_multiple_inputs" => gather(
            round,
            vec![
                (
                    "user_name",
                    "elicitation/create",
                    elicit_name("What is your name?", "name"),
                ),
                (
                    "greeting",
                    "sampling/createMessage",
                    sampling("Generate a greeting", 50),
                ),
                ("client_roots", "roots/list", json!({})),
            ],
            b"testkit-multiple-v1",
        )
        .map(|answers| {
            text_result(&format!(
                "{} {} ({} roots)",
                content_text(&answers[1], "text"),
                content_text(&answers[0], "name"),
                answers[2]["roots"].as_array().map_or(0, Vec::len)
            ))
        }),
        "test_input_required_result_multi_round" => multi_round(round),
        "test_input_required_result_tampered_state" => gather(
            round,
            vec![(
                "confirm",
                "elicitation/create",
                elicit_name("Please confirm", "ok"),
            )],
            b"testkit-tamper-v1",
        )
        .map(|_| text_result("state accepted")),
        "test_input_required_result_capabilities" => {
            let mut asks = Vec::new();
            if round.client_supports("elicitation") {
                asks.push((
                    "user_name",
                    "elicitation/create",
                    elicit_name("What is your name?", "name"),
                ));
            }
            if round.client_supports("sampling") {
                asks.push((
                    "greeting",
                    "sampling/createMessage",
                    sampling("Generate a greeting", 50),
                ));
            }
            if round.client_supports("roots") {
                asks.push(("client_roots", "roots/list", json!({})));
            }
            if asks.is_empty() {
                Ok(text_result("the client declared no input capability"))
            } else {
                gather(round, asks, b"")
                    .map(|answers| text_result(&format!("{} answers", answers.len())))
            }
        }
        // Needs sampling whatever the client declared: the gateway refuses
        // a client that did not declare it (-32021).
        "test_missing_capability" => gather(
            round,
            vec![(
                "needs_sampling",
                "sampling/createMessage",
                sampling("Say hi", 10),
            )],
            b"",
        )
        .map(|_| text_result("sampling answered")),
        _ => return None,
    };
    Some(outcome)
}

/// Three rounds: step 1, then step 2 (the state says which), then done.
fn multi_round(round: &Round) -> ServiceResult<Value> {
    let step2 = (
        "step2",
        "elicitation/create",
        elicit_name("Step 2: What is your favorite color?", "color"),
    );
    if round.state() == b"testkit-round-2" {
        return gather(round, vec![step2], b"testkit-round-2").map(|answers| {
            text_result(&format!(
                "Favorite color: {}",
                content_text(&answers[0], "color")
            ))
        });
    }
    let step1 = (
        "step1",
        "elicitation/create",
        elicit_name("Step 1: What is your name?", "name"),
    );
    gather(round, vec![step1], b"testkit-round-1")?;
    Err(input_required(
        vec![input_request(step2.0, step2.1, &step2.2)],
        bytes::Bytes::from_static(b"testkit-round-2"),
    ))
}

/// The multi-round prompt's result; `None` when `name` is not it.
pub(crate) fn prompt(name: &str, round: &Round) -> Option<ServiceResult<Value>> {
    if name != "test_input_required_result_prompt" {
        return None;
    }
    let asks = vec![(
        "user_context",
        "elicitation/create",
        elicit_name("What context should the prompt use?", "context"),
    )];
    Some(gather(round, asks, b"").map(|answers| {
        json!({"messages": [{"role": "user", "content": {"type": "text",
            "text": format!("Use this context: {}", content_text(&answers[0], "context"))}}]})
    }))
}
