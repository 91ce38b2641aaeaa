//! The testkit catalog: names, schemas and descriptions exactly as the
//! conformance scenarios expect them.

use bytes::Bytes;
use micromcp_proto::{Catalog, Prompt, PromptArgument, Resource, ResourceTemplate, Tool};
use serde_json::{Value, json};

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    Tool {
        name: name.into(),
        description: description.into(),
        input_schema_json: Bytes::from(schema.to_string()),
        ..Tool::default()
    }
}

fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}})
}

fn string_argument(name: &str, description: &str) -> Value {
    json!({"type": "object", "properties": {name: {"type": "string", "description": description}}, "required": [name]})
}

fn tools() -> Vec<Tool> {
    vec![
        tool(
            "test_simple_text",
            "Returns simple text content",
            no_arguments(),
        ),
        tool(
            "test_image_content",
            "Returns a small PNG image",
            no_arguments(),
        ),
        tool(
            "test_audio_content",
            "Returns a small WAV clip",
            no_arguments(),
        ),
        tool(
            "test_embedded_resource",
            "Returns an embedded resource",
            no_arguments(),
        ),
        tool(
            "test_multiple_content_types",
            "Returns text, image and resource content",
            no_arguments(),
        ),
        tool(
            "test_tool_with_logging",
            "Sends three info log messages while running",
            no_arguments(),
        ),
        tool(
            "test_error_handling",
            "Always fails with isError",
            no_arguments(),
        ),
        tool(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100",
            no_arguments(),
        ),
        tool(
            "test_sampling",
            "Asks the client's model to answer a prompt",
            string_argument("prompt", "The prompt to send to the LLM"),
        ),
        tool(
            "test_elicitation",
            "Asks the user for a username and email",
            string_argument("message", "The message to show the user"),
        ),
        tool(
            "test_elicitation_sep1034_defaults",
            "Elicitation with defaults for every primitive type",
            no_arguments(),
        ),
        tool(
            "test_elicitation_sep1330_enums",
            "Elicitation with all five enum schema variants",
            no_arguments(),
        ),
        tool(
            "test_reconnection",
            "Runs briefly, sending progress, so its response arrives on an SSE stream",
            no_arguments(),
        ),
        tool(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            // The 2020-12 vocabulary a server must pass on untouched (SEP-1613,
            // SEP-2106): composition, conditionals, anchors.
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"},
                    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                    "phone": {"type": "string"},
                    "email": {"type": "string"}
                },
                "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
                "then": {"required": ["phone"]},
                "else": {"required": ["email"]},
                "additionalProperties": false
            }),
        ),
        tool(
            "echo",
            "Returns its arguments as structured content",
            json!({"type": "object"}),
        ),
        tool(
            "slow",
            "Sleeps for `millis` milliseconds, reporting progress every 100 ms, then returns",
            json!({"type": "object", "properties": {"millis": {"type": "integer", "minimum": 0}}}),
        ),
        tool(
            "slow_stats",
            "How many `slow` calls ran to completion (cancelled ones do not)",
            no_arguments(),
        ),
        tool(
            "flaky",
            "Fails as unavailable on the first call with each `key`, then answers (no hints: not idempotent)",
            string_argument("key", "calls with the same key fail only once"),
        ),
        Tool {
            annotations: Some(micromcp_proto::ToolAnnotations {
                idempotent_hint: Some(true),
                destructive_hint: Some(false),
                ..micromcp_proto::ToolAnnotations::default()
            }),
            ..tool(
                "flaky_idempotent",
                "As `flaky`, annotated idempotentHint (safe to retry)",
                string_argument("key", "calls with the same key fail only once"),
            )
        },
        tool(
            "whoami",
            "The answering process's id (which endpoint of several answered)",
            no_arguments(),
        ),
        tool(
            "toggle_extra_tool",
            "Adds or removes `extra_tool` from the catalog (list_changed tests)",
            no_arguments(),
        ),
        tool(
            "update_watched_resource",
            "Notifies subscribers of test://watched-resource that it changed",
            no_arguments(),
        ),
        tool(
            "exit_process",
            "Ends the service process in the middle of the call (backend-failure tests)",
            no_arguments(),
        ),
        tool(
            "test_streaming_elicitation",
            "Asks for the user's name while it runs",
            no_arguments(),
        ),
        tool(
            "test_logging_tool",
            "Logs one info message at the level the request asks for",
            no_arguments(),
        ),
        tool(
            "test_trigger_tool_change",
            "Adds or removes `extra_tool` (list_changed on subscriptions/listen)",
            no_arguments(),
        ),
        tool(
            "test_trigger_prompt_change",
            "Adds or removes `extra_prompt` (list_changed on subscriptions/listen)",
            no_arguments(),
        ),
        tool(
            "test_x_mcp_header",
            "Echoes its region, which 2026-07-28 clients mirror in the Mcp-Param-Region header",
            json!({"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region", "description": "Where to run"},
                "verbose": {"type": "boolean", "x-mcp-header": "Verbose"}
            }, "required": ["region"]}),
        ),
        tool(
            "test_missing_capability",
            "Needs sampling, whatever the client declared",
            no_arguments(),
        ),
    ]
    .into_iter()
    .chain(MULTI_ROUND_TOOLS.iter().map(|(name, description)| {
        tool(name, description, no_arguments())
    }))
    .chain(
        crate::task_tools::TASK_TOOLS
            .iter()
            .map(|(name, description, support)| Tool {
                extra_json: Bytes::from(json!({"execution": {"taskSupport": support}}).to_string()),
                ..tool(name, description, json!({"type": "object"}))
            }),
    )
    .collect()
}

/// The 2026-07-28 multi-round tools (`rounds.rs`).
const MULTI_ROUND_TOOLS: [(&str, &str); 8] = [
    (
        "test_input_required_result_elicitation",
        "Asks the user's name with input_required",
    ),
    (
        "test_input_required_result_sampling",
        "Asks a sampling question with input_required",
    ),
    (
        "test_input_required_result_list_roots",
        "Asks for the client's roots with input_required",
    ),
    (
        "test_input_required_result_request_state",
        "Asks for confirmation and checks its request state",
    ),
    (
        "test_input_required_result_multiple_inputs",
        "Asks elicitation, sampling and roots at once",
    ),
    (
        "test_input_required_result_multi_round",
        "Asks in two rounds, then answers",
    ),
    (
        "test_input_required_result_tampered_state",
        "Asks with a request state the client must not alter",
    ),
    (
        "test_input_required_result_capabilities",
        "Asks only for what the client declared",
    ),
];

/// The tool `toggle_extra_tool` adds and removes.
pub(crate) fn extra_tool() -> Tool {
    tool(
        "extra_tool",
        "Appears and disappears with toggle_extra_tool",
        no_arguments(),
    )
}

/// The prompt `test_trigger_prompt_change` adds and removes.
pub(crate) fn extra_prompt() -> Prompt {
    prompt(
        "extra_prompt",
        "Appears and disappears with test_trigger_prompt_change",
        &[],
    )
}

fn resource(uri: &str, name: &str, description: &str, mime_type: &str) -> Resource {
    Resource {
        uri: uri.into(),
        name: name.into(),
        description: description.into(),
        mime_type: mime_type.into(),
        ..Resource::default()
    }
}

fn prompt(name: &str, description: &str, arguments: &[(&str, &str)]) -> Prompt {
    Prompt {
        name: name.into(),
        description: description.into(),
        arguments: arguments
            .iter()
            .map(|(name, description)| PromptArgument {
                name: (*name).into(),
                description: (*description).into(),
                required: true,
            })
            .collect(),
        ..Prompt::default()
    }
}

/// A catalog of `count` generated tools (`tool_0` …) and nothing else, for
/// measuring large catalogs (several copies mount under distinct namespaces
/// without colliding).
pub(crate) fn generated(count: usize) -> Catalog {
    let schema = json!({"type": "object", "properties": {"text": {"type": "string", "description": "Any text"}}});
    Catalog {
        tools: (0..count)
            .map(|index| {
                tool(
                    &format!("tool_{index}"),
                    "A generated tool that echoes its arguments",
                    schema.clone(),
                )
            })
            .collect(),
        ..Catalog::default()
    }
}

/// The testkit's whole catalog.
pub(crate) fn build() -> Catalog {
    Catalog {
        tools: tools(),
        resources: vec![
            resource(
                "test://static-text",
                "static-text",
                "A static text resource",
                "text/plain",
            ),
            resource(
                "test://static-binary",
                "static-binary",
                "A static binary (PNG) resource",
                "image/png",
            ),
            resource(
                "test://watched-resource",
                "watched-resource",
                "A resource that can be watched",
                "text/plain",
            ),
        ],
        resource_templates: vec![ResourceTemplate {
            uri_template: "test://template/{id}/data".into(),
            name: "template".into(),
            description: "Data for an id".into(),
            mime_type: "application/json".into(),
            ..ResourceTemplate::default()
        }],
        prompts: vec![
            prompt(
                "test_simple_prompt",
                "A simple prompt without arguments",
                &[],
            ),
            prompt(
                "test_prompt_with_arguments",
                "A prompt with two arguments",
                &[
                    ("arg1", "First test argument"),
                    ("arg2", "Second test argument"),
                ],
            ),
            prompt(
                "test_prompt_with_embedded_resource",
                "A prompt embedding a resource",
                &[("resourceUri", "URI of the resource to embed")],
            ),
            prompt("test_prompt_with_image", "A prompt with an image", &[]),
            prompt(
                "test_input_required_result_prompt",
                "Asks for context with input_required before rendering",
                &[],
            ),
        ],
        instructions: "Conformance fixtures.".into(),
        supports_completion: true,
        supports_subscriptions: true,
        supports_tasks: true,
    }
}
