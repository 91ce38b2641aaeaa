//! Renders catalog items from protobuf to the MCP JSON listed to clients.
//! Schemas stay raw JSON (validated once, never re-ordered), so keywords such
//! as `$schema` and `$defs` reach clients exactly as the service wrote them.

use micromcp_proto::{Prompt, Resource, ResourceTemplate, Tool};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

fn raw_json(bytes: &[u8]) -> Result<Option<&RawValue>, serde_json::Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice::<&RawValue>(bytes).map(Some)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolJson<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_schema: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    annotations: Map<String, Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// A tool as MCP JSON under its exposed name.
pub(super) fn tool(exposed: &str, tool: &Tool) -> Result<String, serde_json::Error> {
    let default_schema: Box<RawValue> = RawValue::from_string("{\"type\":\"object\"}".into())?;
    let input_schema = raw_json(&tool.input_schema_json)?.unwrap_or(&default_schema);
    if !input_schema.get().trim_start().starts_with('{') {
        return Err(serde::ser::Error::custom(
            "inputSchema must be a JSON object",
        ));
    }
    let mut annotations = Map::new();
    if let Some(hints) = &tool.annotations {
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), value);
            }
        };
        put("title", hints.title.clone().map(Value::from));
        put("readOnlyHint", hints.read_only_hint.map(Value::from));
        put("destructiveHint", hints.destructive_hint.map(Value::from));
        put("idempotentHint", hints.idempotent_hint.map(Value::from));
        put("openWorldHint", hints.open_world_hint.map(Value::from));
    }
    let mut extra = match raw_json(&tool.extra_json)? {
        Some(raw) => serde_json::from_str::<Map<String, Value>>(raw.get())?,
        None => Map::new(),
    };
    for reserved in [
        "name",
        "title",
        "description",
        "inputSchema",
        "outputSchema",
        "annotations",
    ] {
        extra.remove(reserved);
    }
    serde_json::to_string(&ToolJson {
        name: exposed,
        title: non_empty(&tool.title),
        description: non_empty(&tool.description),
        input_schema,
        output_schema: raw_json(&tool.output_schema_json)?,
        annotations,
        extra,
    })
}

/// A prompt as MCP JSON under its exposed name.
pub(super) fn prompt(exposed: &str, prompt: &Prompt) -> String {
    let arguments: Vec<Value> = prompt
        .arguments
        .iter()
        .map(|argument| {
            let mut object = Map::new();
            object.insert("name".into(), Value::from(argument.name.clone()));
            if !argument.description.is_empty() {
                object.insert(
                    "description".into(),
                    Value::from(argument.description.clone()),
                );
            }
            object.insert("required".into(), Value::from(argument.required));
            Value::Object(object)
        })
        .collect();
    let mut object = Map::new();
    object.insert("name".into(), Value::from(exposed));
    if let Some(title) = non_empty(&prompt.title) {
        object.insert("title".into(), Value::from(title));
    }
    if let Some(description) = non_empty(&prompt.description) {
        object.insert("description".into(), Value::from(description));
    }
    object.insert("arguments".into(), Value::Array(arguments));
    Value::Object(object).to_string()
}

/// A resource as MCP JSON.
pub(super) fn resource(resource: &Resource) -> String {
    let mut object = Map::new();
    object.insert("uri".into(), Value::from(resource.uri.clone()));
    object.insert("name".into(), Value::from(resource.name.clone()));
    for (key, text) in [
        ("title", &resource.title),
        ("description", &resource.description),
        ("mimeType", &resource.mime_type),
    ] {
        if !text.is_empty() {
            object.insert(key.into(), Value::from(text.clone()));
        }
    }
    if let Some(size) = resource.size {
        object.insert("size".into(), Value::from(size));
    }
    Value::Object(object).to_string()
}

/// A resource template as MCP JSON.
pub(super) fn template(template: &ResourceTemplate) -> String {
    let mut object = Map::new();
    object.insert(
        "uriTemplate".into(),
        Value::from(template.uri_template.clone()),
    );
    object.insert("name".into(), Value::from(template.name.clone()));
    for (key, text) in [
        ("title", &template.title),
        ("description", &template.description),
        ("mimeType", &template.mime_type),
    ] {
        if !text.is_empty() {
            object.insert(key.into(), Value::from(text.clone()));
        }
    }
    Value::Object(object).to_string()
}
