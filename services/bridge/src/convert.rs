//! Conversions between rmcp's model types and micromcp.v1: catalog items go
//! through their JSON form (robust to fields either side adds), results are
//! serialised once to the raw JSON the gateway splices into responses;
//! an upstream's errors become service errors.

use bytes::Bytes;
use micromcp_proto::{
    Catalog, Prompt, PromptArgument, Resource, ResourceTemplate, Tool, ToolAnnotations,
};
use micromcp_sdk::{Round, ServiceError, ServiceResult};
use rmcp::model::ErrorCode;
use rmcp::service::ServiceError as RmcpError;
use serde_json::{Map, Value, json};

fn text(object: &Map<String, Value>, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn raw(value: Option<&Value>) -> Bytes {
    value
        .map(|value| Bytes::from(value.to_string()))
        .unwrap_or_default()
}

fn object_of<T: serde::Serialize>(item: &T) -> Map<String, Value> {
    match serde_json::to_value(item) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

/// An upstream tool as a micromcp.v1 tool.
pub fn tool<T: serde::Serialize>(item: &T) -> Tool {
    let object = object_of(item);
    let annotations = object
        .get("annotations")
        .and_then(Value::as_object)
        .map(|hints| ToolAnnotations {
            title: hints
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            read_only_hint: hints.get("readOnlyHint").and_then(Value::as_bool),
            destructive_hint: hints.get("destructiveHint").and_then(Value::as_bool),
            idempotent_hint: hints.get("idempotentHint").and_then(Value::as_bool),
            open_world_hint: hints.get("openWorldHint").and_then(Value::as_bool),
        });
    let mut extra = Map::new();
    for key in ["icons", "_meta", "execution"] {
        if let Some(value) = object.get(key) {
            extra.insert(key.to_owned(), value.clone());
        }
    }
    Tool {
        name: text(&object, "name"),
        title: text(&object, "title"),
        description: text(&object, "description"),
        input_schema_json: raw(object.get("inputSchema")),
        output_schema_json: raw(object.get("outputSchema")),
        annotations,
        extra_json: if extra.is_empty() {
            Bytes::new()
        } else {
            Bytes::from(Value::Object(extra).to_string())
        },
    }
}

/// An upstream prompt.
pub fn prompt<T: serde::Serialize>(item: &T) -> Prompt {
    let object = object_of(item);
    let arguments = object
        .get("arguments")
        .and_then(Value::as_array)
        .map(|arguments| {
            arguments
                .iter()
                .filter_map(Value::as_object)
                .map(|argument| PromptArgument {
                    name: text(argument, "name"),
                    description: text(argument, "description"),
                    required: argument
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    Prompt {
        name: text(&object, "name"),
        title: text(&object, "title"),
        description: text(&object, "description"),
        arguments,
    }
}

/// An upstream resource.
pub fn resource<T: serde::Serialize>(item: &T) -> Resource {
    let object = object_of(item);
    Resource {
        uri: text(&object, "uri"),
        name: text(&object, "name"),
        title: text(&object, "title"),
        description: text(&object, "description"),
        mime_type: text(&object, "mimeType"),
        size: object.get("size").and_then(Value::as_u64),
    }
}

/// An upstream resource template.
pub fn template<T: serde::Serialize>(item: &T) -> ResourceTemplate {
    let object = object_of(item);
    ResourceTemplate {
        uri_template: text(&object, "uriTemplate"),
        name: text(&object, "name"),
        title: text(&object, "title"),
        description: text(&object, "description"),
        mime_type: text(&object, "mimeType"),
    }
}

/// Assembles a catalog.
pub fn catalog(
    tools: Vec<Tool>,
    prompts: Vec<Prompt>,
    resources: Vec<Resource>,
    resource_templates: Vec<ResourceTemplate>,
    instructions: String,
    completions: bool,
    subscriptions: bool,
) -> Catalog {
    Catalog {
        tools,
        resources,
        resource_templates,
        prompts,
        instructions,
        supports_completion: completions,
        supports_subscriptions: subscriptions,
        supports_tasks: false,
    }
}

/// Adds a retried round to an upstream request's params: the client's
/// answers as `inputResponses` and the upstream's own `requestState` (the
/// bridge passed both through unchanged; the gateway sealed the state).
pub fn add_round(request: &mut Value, round: &Round) -> ServiceResult<()> {
    if !round.is_retry() {
        return Ok(());
    }
    let mut answers = serde_json::Map::new();
    for (key, raw) in round.responses() {
        let answer: Value = serde_json::from_slice(raw).map_err(|error| {
            ServiceError::InvalidArgument(format!("input response {key:?} is not JSON: {error}"))
        })?;
        answers.insert(key.to_owned(), answer);
    }
    request["inputResponses"] = Value::Object(answers);
    if !round.state().is_empty() {
        let state = std::str::from_utf8(round.state()).map_err(|_| {
            ServiceError::InvalidArgument("the request state is not the upstream's".into())
        })?;
        request["requestState"] = Value::from(state);
    }
    Ok(())
}

/// Per-request `_meta` telling a 2026-07-28 upstream which input the
/// gateway's client can give (its elicitation, sampling and roots; the
/// bridge relays nothing else), so the upstream asks only for that, and
/// the log level the client wants (none: no logs).
pub fn client_meta(round: &Round, log_level: Option<&str>) -> rmcp::model::RequestMetaObject {
    let declared = round.capabilities();
    let relayed: Map<String, Value> = ["elicitation", "sampling", "roots"]
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), declared.get(*name)?.clone())))
        .collect();
    let mut meta = Map::new();
    meta.insert(
        "io.modelcontextprotocol/clientCapabilities".into(),
        Value::Object(relayed),
    );
    if let Some(level) = log_level {
        meta.insert(
            "io.modelcontextprotocol/logLevel".into(),
            Value::from(level),
        );
    }
    meta.into()
}

/// An upstream `input_required` result as the bridge's own: the same keys,
/// requests and state (the gateway seals the state toward the client).
pub fn input_required<T: serde::Serialize>(result: &T) -> ServiceError {
    let object = object_of(result);
    let requests = object
        .get("inputRequests")
        .and_then(Value::as_object)
        .map(|requests| {
            requests
                .iter()
                .map(|(key, request)| {
                    let method = request["method"].as_str().unwrap_or_default();
                    let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
                    micromcp_sdk::input_request(key, method, &params)
                })
                .collect()
        })
        .unwrap_or_default();
    let state = object
        .get("requestState")
        .and_then(Value::as_str)
        .map_or_else(Bytes::new, |state| Bytes::from(state.to_owned()));
    micromcp_sdk::input_required(requests, state)
}

/// A result as the raw JSON object the gateway splices, without the
/// `resultType` a modern upstream adds (the gateway adds its own per era).
pub fn result_json<T: serde::Serialize>(result: &T) -> Bytes {
    let mut object = object_of(result);
    object.remove("resultType");
    // The upstream's identity is not the gateway's; other _meta keys stay.
    if let Some(Value::Object(meta)) = object.get_mut("_meta") {
        meta.remove("io.modelcontextprotocol/serverInfo");
        if meta.is_empty() {
            object.remove("_meta");
        }
    }
    Bytes::from(Value::Object(object).to_string())
}

/// An upstream request's failure as the service error the gateway maps to
/// a JSON-RPC error.
pub(crate) fn map_error(error: RmcpError) -> ServiceError {
    match error {
        RmcpError::McpError(data) => {
            let message = data.message.to_string();
            match data.code {
                ErrorCode::INVALID_PARAMS | ErrorCode::INVALID_REQUEST => {
                    ServiceError::InvalidArgument(message)
                }
                ErrorCode::METHOD_NOT_FOUND => ServiceError::Unsupported(message),
                ErrorCode::RESOURCE_NOT_FOUND => ServiceError::NotFound(message),
                // A 2026-07-28 upstream needs a client capability the request did not declare.
                ErrorCode(-32021) => {
                    ServiceError::MissingCapability(missing_capability(data.data.as_ref()))
                }
                _ => ServiceError::Internal(format!("upstream error {}: {message}", data.code.0)),
            }
        }
        RmcpError::Timeout { .. } => {
            ServiceError::Unavailable("the upstream server did not answer in time".into())
        }
        other => ServiceError::Unavailable(format!("upstream server unavailable: {other}")),
    }
}

/// The capability a -32021 names in `data.requiredCapabilities` (the first
/// one; `extensions/<id>` for an extension).
fn missing_capability(data: Option<&Value>) -> String {
    let required = data.and_then(|data| data.get("requiredCapabilities"));
    let Some(Value::Object(required)) = required else {
        return "unknown".into();
    };
    match required.iter().next() {
        Some((name, Value::Object(inner))) if name == "extensions" => inner
            .keys()
            .next()
            .map_or_else(|| "extensions".into(), |id| format!("extensions/{id}")),
        Some((name, _)) => name.clone(),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_keep_schemas_and_hints() {
        let upstream = json!({"name": "get_time", "description": "now", "inputSchema": {"type": "object", "$defs": {}}, "annotations": {"readOnlyHint": true}, "icons": []});
        let converted = tool(&upstream);
        assert_eq!(converted.name, "get_time");
        // Compared as JSON: key order depends on serde_json's
        // `preserve_order`, which other crates of the workspace enable.
        let schema: Value =
            serde_json::from_slice(&converted.input_schema_json).expect("schema is JSON");
        assert_eq!(schema, json!({"$defs": {}, "type": "object"}));
        assert_eq!(
            converted.annotations.expect("hints").read_only_hint,
            Some(true)
        );
        assert!(!converted.extra_json.is_empty());
    }

    #[test]
    fn results_drop_result_type() {
        let raw = result_json(
            &json!({"content": [], "resultType": "complete", "_meta": {"io.modelcontextprotocol/serverInfo": {}}}),
        );
        assert_eq!(&raw[..], br#"{"content":[]}"#);
    }
}
