//! `TestkitService`: the fixture behaviours.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use micromcp_proto::{
    CompleteRequest, CompleteResponse, ResourceHeader, complete_request::Reference,
};
use micromcp_sdk::{
    CatalogPublisher, McpService, ResourceContent, Round, ServiceError, ServiceResult, ToolCall,
    ToolEvents, ToolOutput, UpdateStream,
};
use serde_json::{Value, json};

use crate::{catalog, rounds, task_tools};

/// A 1x1 red PNG.
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A 44-byte WAV header with one silent sample.
fn wav_base64() -> String {
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&38u32.to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&2u32.to_le_bytes());
    wav.extend_from_slice(&[0, 0]);
    STANDARD.encode(wav)
}

/// The conformance fixture service.
pub struct TestkitService {
    publisher: CatalogPublisher,
    watched_updates: tokio::sync::broadcast::Sender<()>,
    slow_calls_completed: std::sync::atomic::AtomicU64,
    /// Template ids starting `unavailable-` already read once, and `flaky`
    /// keys already called: the first read or call of each fails as
    /// UNAVAILABLE (for the gateway's retry tests).
    unavailable_once: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Default for TestkitService {
    fn default() -> Self {
        Self::with_catalog(catalog::build())
    }
}

impl TestkitService {
    /// A testkit that offers only `count` generated tools (`tool_0` …), which
    /// echo their arguments: for measuring large catalogs.
    pub fn generated_tools(count: usize) -> Self {
        Self::with_catalog(catalog::generated(count))
    }

    /// The usual testkit with `suffix` appended to every tool's
    /// description: the same tools with changed definitions (what tool
    /// pinning must notice).
    pub fn with_description_suffix(suffix: &str) -> Self {
        let mut catalog = catalog::build();
        for tool in &mut catalog.tools {
            tool.description.push_str(suffix);
        }
        Self::with_catalog(catalog)
    }

    fn with_catalog(catalog: micromcp_proto::Catalog) -> Self {
        let (watched_updates, _) = tokio::sync::broadcast::channel(16);
        Self {
            publisher: CatalogPublisher::new(catalog),
            watched_updates,
            slow_calls_completed: std::sync::atomic::AtomicU64::new(0),
            unavailable_once: std::sync::Mutex::default(),
        }
    }
}

fn text(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn elicitation_summary(answer: &Value) -> String {
    format!(
        "Elicitation completed: action={}, content={}",
        answer["action"].as_str().unwrap_or("unknown"),
        answer.get("content").cloned().unwrap_or(Value::Null)
    )
}

async fn elicit(events: &ToolEvents, params: Value) -> ServiceResult<Value> {
    if !events.client_supports("elicitation") {
        return Err(ServiceError::InvalidArgument(
            "the client does not support elicitation".into(),
        ));
    }
    events.request_input("elicitation/create", &params).await
}

impl McpService for TestkitService {
    fn catalog(&self) -> &CatalogPublisher {
        &self.publisher
    }

    async fn call_tool(&self, call: ToolCall, events: ToolEvents) -> ServiceResult<ToolOutput> {
        let arguments: Value = call.parse_arguments()?;
        if let Some(outcome) = rounds::call(&call.name, events.round()) {
            return outcome.map(|result| ToolOutput::from_value(&result));
        }
        if let Some(outcome) = task_tools::call(&call.name, &arguments, &events).await {
            return outcome;
        }
        let output = match call.name.as_str() {
            // Asks while it runs (a 2025-11-25 session answers on the
            // stream; a 2026-07-28 client in an input_required round).
            "test_streaming_elicitation" => {
                let answer = elicit(&events, json!({
                    "message": "Streaming elicitation: who are you?",
                    "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
                }))
                .await?;
                json!({"content": [text(&format!("Streamed answer: {}", answer.get("content").cloned().unwrap_or(Value::Null)))]})
            }
            "test_x_mcp_header" => {
                json!({"content": [text(&format!("region: {}", arguments["region"].as_str().unwrap_or_default()))]})
            }
            // Logs only at the level the request asked for (none without one).
            "test_logging_tool" => {
                events
                    .log("info", "testkit", &Value::from("logging tool ran"))
                    .await;
                json!({"content": [text("Logged at the requested level")]})
            }
            "test_simple_text" => {
                json!({"content": [text("This is a simple text response for testing.")]})
            }
            "test_image_content" => {
                json!({"content": [{"type": "image", "data": PNG_BASE64, "mimeType": "image/png"}]})
            }
            "test_audio_content" => {
                json!({"content": [{"type": "audio", "data": wav_base64(), "mimeType": "audio/wav"}]})
            }
            "test_embedded_resource" => json!({"content": [{"type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain", "text": "This is an embedded resource content."}}]}),
            "test_multiple_content_types" => json!({"content": [
                text("Multiple content types test:"),
                {"type": "image", "data": PNG_BASE64, "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "test://mixed-content-resource", "mimeType": "application/json", "text": "{\"test\":\"data\",\"value\":123}"}}
            ]}),
            "test_tool_with_logging" => {
                for (step, message) in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ]
                .iter()
                .enumerate()
                {
                    if step > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    events.log("info", "testkit", &Value::from(*message)).await;
                }
                json!({"content": [text("Logging test completed")]})
            }
            "test_error_handling" => {
                return Ok(ToolOutput::error(
                    "This tool intentionally returns an error for testing",
                ));
            }
            "test_tool_with_progress" | "test_reconnection" => {
                for (step, progress) in [0.0, 50.0, 100.0].iter().enumerate() {
                    if step > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    events.progress(*progress, Some(100.0), "").await;
                }
                json!({"content": [text("Progress test completed")]})
            }
            "test_sampling" => {
                if !events.client_supports("sampling") {
                    return Ok(ToolOutput::error("the client does not support sampling"));
                }
                let prompt = arguments["prompt"].as_str().unwrap_or_default();
                let answer = events
                    .request_input("sampling/createMessage", &json!({
                        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                        "maxTokens": 100
                    }))
                    .await?;
                let reply = answer["content"]["text"]
                    .as_str()
                    .map_or_else(|| answer["content"].to_string(), str::to_owned);
                json!({"content": [text(&format!("LLM response: {reply}"))]})
            }
            "test_elicitation" => {
                let answer = elicit(
                    &events,
                    json!({
                        "message": arguments["message"].as_str().unwrap_or_default(),
                        "requestedSchema": {"type": "object", "properties": {
                            "username": {"type": "string", "description": "User's response"},
                            "email": {"type": "string", "description": "User's email address"}
                        }, "required": ["username", "email"]}
                    }),
                )
                .await?;
                json!({"content": [text(&format!("User response: action={}, content={}", answer["action"].as_str().unwrap_or("unknown"), answer.get("content").cloned().unwrap_or(Value::Null)))]})
            }
            "test_elicitation_sep1034_defaults" => {
                let answer = elicit(&events, json!({
                    "message": "Please review and update the form fields with defaults",
                    "requestedSchema": {"type": "object", "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true}
                    }, "required": []}
                }))
                .await?;
                json!({"content": [text(&elicitation_summary(&answer))]})
            }
            "test_elicitation_sep1330_enums" => {
                let answer = elicit(&events, json!({
                    "message": "Please select options from the enum fields",
                    "requestedSchema": {"type": "object", "properties": {
                        "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                            {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
                        "legacyEnum": {"type": "string", "description": "Select one option (legacy)", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3, "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}
                    }, "required": []}
                }))
                .await?;
                json!({"content": [text(&elicitation_summary(&answer))]})
            }
            "json_schema_2020_12_tool" => {
                json!({"content": [text(&format!("Received: {arguments}"))]})
            }
            "echo" => return Ok(ToolOutput::structured(arguments)),
            name if name.starts_with("tool_") => return Ok(ToolOutput::structured(arguments)),
            "update_watched_resource" => {
                let subscribers = self.watched_updates.send(()).unwrap_or(0);
                json!({"content": [text(&format!("notified {subscribers} watcher(s)"))]})
            }
            "slow" => {
                let millis = arguments["millis"].as_u64().unwrap_or(1000);
                let steps = (millis / 100).max(1);
                for step in 0..steps {
                    tokio::time::sleep(Duration::from_millis(millis / steps)).await;
                    events
                        .progress((step + 1) as f64, Some(steps as f64), "working")
                        .await;
                }
                self.slow_calls_completed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                json!({"content": [text(&format!("slept {millis} ms"))]})
            }
            "slow_stats" => {
                let completed = self
                    .slow_calls_completed
                    .load(std::sync::atomic::Ordering::Relaxed);
                return Ok(ToolOutput::structured(json!({"completed": completed})));
            }
            "flaky" | "flaky_idempotent" => {
                let key = format!(
                    "{}:{}",
                    call.name,
                    arguments["key"].as_str().unwrap_or_default()
                );
                if self
                    .unavailable_once
                    .lock()
                    .is_ok_and(|mut seen| seen.insert(key.clone()))
                {
                    return Err(ServiceError::Unavailable(format!(
                        "{key}: unavailable on the first call"
                    )));
                }
                json!({"content": [text(&format!("{key}: answered"))]})
            }
            "whoami" => {
                return Ok(ToolOutput::structured(json!({"pid": std::process::id()})));
            }
            "test_trigger_prompt_change" => {
                let mut catalog = (*self.publisher.current()).clone();
                let present = catalog
                    .prompts
                    .iter()
                    .any(|prompt| prompt.name == "extra_prompt");
                if present {
                    catalog
                        .prompts
                        .retain(|prompt| prompt.name != "extra_prompt");
                } else {
                    catalog.prompts.push(crate::catalog::extra_prompt());
                }
                self.publisher.publish(catalog);
                json!({"content": [text(if present { "extra_prompt removed" } else { "extra_prompt added" })]})
            }
            "toggle_extra_tool" | "test_trigger_tool_change" => {
                let mut catalog = (*self.publisher.current()).clone();
                let present = catalog.tools.iter().any(|tool| tool.name == "extra_tool");
                if present {
                    catalog.tools.retain(|tool| tool.name != "extra_tool");
                } else {
                    catalog.tools.push(crate::catalog::extra_tool());
                }
                self.publisher.publish(catalog);
                json!({"content": [text(if present { "extra_tool removed" } else { "extra_tool added" })]})
            }
            "extra_tool" => json!({"content": [text("extra")]}),
            "exit_process" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                tracing::warn!("exit_process called: exiting");
                std::process::exit(3);
            }
            other => return Err(ServiceError::NotFound(format!("unknown tool: {other}"))),
        };
        Ok(ToolOutput::from_value(&output))
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        let header = |mime_type: &str, is_text: bool| ResourceHeader {
            uri: uri.clone(),
            mime_type: mime_type.into(),
            is_text,
            size: None,
        };
        let (header, content) = match uri.as_str() {
            "test://static-text" => (
                header("text/plain", true),
                Bytes::from_static(b"This is the content of the static text resource."),
            ),
            "test://watched-resource" => (
                header("text/plain", true),
                Bytes::from_static(b"Watched resource content"),
            ),
            "test://static-binary" => {
                let png = STANDARD
                    .decode(PNG_BASE64)
                    .map_err(|error| ServiceError::Internal(error.to_string()))?;
                (header("image/png", false), Bytes::from(png))
            }
            other => {
                let id = other
                    .strip_prefix("test://template/")
                    .and_then(|rest| rest.strip_suffix("/data"))
                    .filter(|id| !id.is_empty() && !id.contains('/'))
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!("resource not found: {other}"))
                    })?;
                if id.starts_with("unavailable-")
                    && self
                        .unavailable_once
                        .lock()
                        .is_ok_and(|mut seen| seen.insert(id.to_owned()))
                {
                    return Err(ServiceError::Unavailable(format!(
                        "{id}: unavailable on the first read"
                    )));
                }
                let body =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string();
                (header("application/json", true), Bytes::from(body))
            }
        };
        Ok(ResourceContent::from_bytes(header, content))
    }

    async fn watch_resource(&self, uri: String) -> ServiceResult<UpdateStream> {
        if uri != "test://watched-resource" {
            return Err(ServiceError::NotFound(format!("resource not found: {uri}")));
        }
        let mut updates = self.watched_updates.subscribe();
        Ok(Box::pin(async_stream::stream! {
            while updates.recv().await.is_ok() {
                yield Ok(());
            }
        }))
    }

    async fn get_prompt_in(
        &self,
        name: String,
        arguments: HashMap<String, String>,
        round: Round,
    ) -> ServiceResult<Bytes> {
        match rounds::prompt(&name, &round) {
            Some(outcome) => outcome.map(|result| Bytes::from(result.to_string())),
            None => self.get_prompt(name, arguments).await,
        }
    }

    async fn get_prompt(
        &self,
        name: String,
        arguments: HashMap<String, String>,
    ) -> ServiceResult<Bytes> {
        let argument = |key: &str| {
            arguments.get(key).cloned().ok_or_else(|| {
                ServiceError::InvalidArgument(format!("missing required argument: {key}"))
            })
        };
        let result = match name.as_str() {
            "test_simple_prompt" => {
                json!({"messages": [{"role": "user", "content": text("This is a simple prompt for testing.")}]})
            }
            "test_prompt_with_arguments" => {
                let (first, second) = (argument("arg1")?, argument("arg2")?);
                json!({"messages": [{"role": "user", "content": text(&format!("Prompt with arguments: arg1='{first}', arg2='{second}'"))}]})
            }
            "test_prompt_with_embedded_resource" => json!({"messages": [
                {"role": "user", "content": {"type": "resource", "resource": {"uri": argument("resourceUri")?, "mimeType": "text/plain", "text": "Embedded resource content for testing."}}},
                {"role": "user", "content": text("Please process the embedded resource above.")}
            ]}),
            "test_prompt_with_image" => json!({"messages": [
                {"role": "user", "content": {"type": "image", "data": PNG_BASE64, "mimeType": "image/png"}},
                {"role": "user", "content": text("Please analyze the image above.")}
            ]}),
            other => return Err(ServiceError::NotFound(format!("unknown prompt: {other}"))),
        };
        Ok(Bytes::from(result.to_string()))
    }

    async fn complete(&self, request: CompleteRequest) -> ServiceResult<CompleteResponse> {
        let candidates: &[&str] = match (&request.reference, request.argument_name.as_str()) {
            (Some(Reference::PromptName(_)), _) => &["paris", "park", "party", "peace", "piano"],
            (Some(Reference::ResourceUri(_)), "id") => &["1", "12", "123"],
            _ => &[],
        };
        let values: Vec<String> = candidates
            .iter()
            .filter(|candidate| candidate.starts_with(&request.argument_value))
            .map(|candidate| (*candidate).to_owned())
            .collect();
        Ok(CompleteResponse {
            total: Some(values.len() as u64),
            values,
            has_more: false,
        })
    }
}
