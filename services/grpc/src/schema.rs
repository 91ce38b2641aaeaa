//! JSON Schema of a tool's arguments from the request message's descriptor,
//! following protobuf's canonical JSON mapping: lowerCamelCase names, 64-bit
//! integers as integer-or-string, bytes in base64, enums by name, maps as
//! objects, oneofs as mutually exclusive properties, and the well-known
//! types by their JSON forms (Timestamp as an RFC 3339 string, Duration as
//! `"1.5s"`, Struct/Value as any JSON, wrappers as their scalar).
//!
//! Descriptors come from the target and are not trusted: nesting is cut at
//! [`MAX_DEPTH`] (a self-recursive message ends in a plain `object`), enums
//! list at most [`MAX_ENUM_VALUES`] names, and a schema of more than
//! [`MAX_SCHEMA_NODES`] nodes is replaced by a plain object schema — the
//! arguments are still checked against the descriptor when the call is made.

use std::collections::HashMap;

use prost_reflect::{
    Cardinality, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};
use serde_json::{Map, Value, json};

/// Message nesting described before a plain `object` stands in.
pub const MAX_DEPTH: usize = 8;
/// Enum names listed; a larger enum is described as any name or number.
pub const MAX_ENUM_VALUES: usize = 256;
/// A signed 64-bit integer as canonical JSON writes it (a decimal string).
pub const SIGNED_64_PATTERN: &str = "^-?[0-9]{1,20}$";
/// An unsigned 64-bit integer as canonical JSON writes it.
pub const UNSIGNED_64_PATTERN: &str = "^[0-9]{1,20}$";
/// Schema nodes per tool; beyond, the tool gets a plain object schema.
pub const MAX_SCHEMA_NODES: usize = 4096;
/// Longest comment kept as a description (the rest is cut at a character).
pub const MAX_COMMENT_BYTES: usize = 2048;

/// A tool's input schema, and whether it had to be cut short.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSchema {
    /// The JSON Schema (an object schema).
    pub schema: Value,
    /// Why the schema is less precise than the descriptor, if it is.
    pub degraded_opt: Option<String>,
}

/// Leading comments of a file's elements, by descriptor path.
#[derive(Debug, Default)]
pub struct Comments {
    by_file: HashMap<String, HashMap<Vec<i32>, String>>,
}

// === impl Comments ===

impl Comments {
    /// The leading comment of the element at `path` in `file`, trimmed.
    pub fn of(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let comments = self
            .by_file
            .entry(file.name().to_owned())
            .or_insert_with(|| {
                let mut comments = HashMap::new();
                if let Some(info) = &file.file_descriptor_proto().source_code_info {
                    for location in &info.location {
                        if let Some(text) = location.leading_comments.as_deref() {
                            let text = text.trim();
                            if !text.is_empty() {
                                comments.insert(location.path.clone(), bounded(text));
                            }
                        }
                    }
                }
                comments
            });
        comments.get(path).cloned()
    }
}

/// `text`, cut to [`MAX_COMMENT_BYTES`] at a character boundary.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_COMMENT_BYTES {
        return text.to_owned();
    }
    let mut cut = MAX_COMMENT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

struct Builder<'a> {
    nodes: usize,
    degraded: Vec<String>,
    comments: &'a mut Comments,
}

/// The input schema of a method whose request is `message`.
pub fn input_schema(message: &MessageDescriptor, comments: &mut Comments) -> InputSchema {
    let mut builder = Builder {
        nodes: 0,
        degraded: Vec::new(),
        comments,
    };
    let schema = builder.message(message, 0);
    if builder.nodes > MAX_SCHEMA_NODES {
        return InputSchema {
            schema: json!({"type": "object"}),
            degraded_opt: Some(format!(
                "the schema of {} would have more than {MAX_SCHEMA_NODES} nodes",
                message.full_name()
            )),
        };
    }
    let degraded_opt = (!builder.degraded.is_empty()).then(|| builder.degraded.join("; "));
    InputSchema {
        schema,
        degraded_opt,
    }
}

// === impl Builder ===

impl Builder<'_> {
    fn over_budget(&mut self) -> bool {
        self.nodes += 1;
        self.nodes > MAX_SCHEMA_NODES
    }

    fn message(&mut self, message: &MessageDescriptor, depth: usize) -> Value {
        if self.over_budget() {
            return json!({});
        }
        if let Some(well_known) = well_known(message.full_name()) {
            return well_known;
        }
        if depth >= MAX_DEPTH {
            let note = format!(
                "{} nested deeper than {MAX_DEPTH} levels",
                message.full_name()
            );
            if !self.degraded.contains(&note) && self.degraded.len() < 8 {
                self.degraded.push(note);
            }
            return json!({"type": "object", "description": "nested too deep to describe"});
        }
        let mut properties = Map::new();
        for field in message.fields() {
            if self.nodes > MAX_SCHEMA_NODES {
                break;
            }
            let mut schema = self.field(&field, depth);
            if let (Some(text), Value::Object(object)) = (
                self.comments.of(&field.parent_file(), field.path()),
                &mut schema,
            ) {
                object.insert("description".into(), Value::String(text));
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(properties));
        // Closed: an unknown field is refused by name (the call refuses it
        // too), never dropped in silence.
        schema.insert("additionalProperties".into(), json!(false));
        let exclusive: Vec<Value> = message
            .oneofs()
            .filter(|oneof| !oneof.is_synthetic())
            .map(|oneof| {
                let members: Vec<Value> = oneof
                    .fields()
                    .map(|field| json!({"required": [field.json_name()]}))
                    .collect();
                let mut choices = members.clone();
                choices.push(json!({"not": {"anyOf": members}}));
                json!({"oneOf": choices})
            })
            .collect();
        self.nodes += exclusive.len();
        if !exclusive.is_empty() {
            schema.insert("allOf".into(), Value::Array(exclusive));
        }
        Value::Object(schema)
    }

    fn field(&mut self, field: &FieldDescriptor, depth: usize) -> Value {
        if field.is_map() {
            if let Kind::Message(entry) = field.kind()
                && let Some(value_field) = entry.get_field_by_name("value")
            {
                let value = self.single(&value_field.kind(), depth);
                return json!({"type": "object", "additionalProperties": value});
            }
            return json!({"type": "object"});
        }
        let single = self.single(&field.kind(), depth);
        if field.cardinality() == Cardinality::Repeated {
            self.nodes += 1;
            return json!({"type": "array", "items": single});
        }
        single
    }

    fn single(&mut self, kind: &Kind, depth: usize) -> Value {
        self.nodes += 1;
        match kind {
            Kind::Double | Kind::Float => json!({
                "type": ["number", "string"],
                "pattern": "^(NaN|-?Infinity)$",
                "description": "a number, or \"NaN\", \"Infinity\", \"-Infinity\"",
            }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer"}),
            Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "minimum": 0}),
            // Canonical JSON writes 64-bit integers as strings (a double
            // holds only 53 bits) and reads numbers too.
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({
                "type": ["string", "integer"],
                "pattern": SIGNED_64_PATTERN,
                "description": "64-bit integer: its decimal string (exact), or a number",
            }),
            Kind::Uint64 | Kind::Fixed64 => json!({
                "type": ["string", "integer"],
                "minimum": 0,
                "pattern": UNSIGNED_64_PATTERN,
                "description": "unsigned 64-bit integer: its decimal string (exact), or a number",
            }),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(enumeration) => self.enumeration(enumeration),
            Kind::Message(message) => self.message(message, depth + 1),
        }
    }

    fn enumeration(&mut self, enumeration: &EnumDescriptor) -> Value {
        if enumeration.full_name() == "google.protobuf.NullValue" {
            return json!({"type": "null"});
        }
        if enumeration.values().len() > MAX_ENUM_VALUES {
            return json!({
                "type": ["string", "integer"],
                "description": format!("a value of {} ({} names; not listed)", enumeration.full_name(), enumeration.values().len()),
            });
        }
        self.nodes += enumeration.values().len() / 16;
        let names: Vec<String> = enumeration
            .values()
            .map(|value| value.name().to_owned())
            .collect();
        // By name, as canonical JSON writes it (the call reads a number too).
        json!({"type": "string", "enum": names})
    }
}

/// The JSON form of a well-known type, if `full_name` is one.
fn well_known(full_name: &str) -> Option<Value> {
    let wrapper = |scalar: Value| Some(json!({"type": [scalar, "null"]}));
    match full_name {
        "google.protobuf.Timestamp" => Some(json!({"type": "string", "format": "date-time"})),
        "google.protobuf.Duration" => Some(json!({
            "type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
            "description": "a duration in seconds, e.g. \"1.5s\"",
        })),
        "google.protobuf.Struct" => Some(json!({"type": "object"})),
        "google.protobuf.Value" => Some(json!({})),
        "google.protobuf.ListValue" => Some(json!({"type": "array"})),
        "google.protobuf.Empty" => {
            Some(json!({"type": "object", "properties": {}, "additionalProperties": false}))
        }
        "google.protobuf.FieldMask" => Some(
            json!({"type": "string", "description": "comma-separated lowerCamelCase field paths"}),
        ),
        "google.protobuf.Any" => Some(
            json!({"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]}),
        ),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => wrapper(json!("number")),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => wrapper(json!("integer")),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            Some(json!({"type": ["integer", "string", "null"]}))
        }
        "google.protobuf.BoolValue" => wrapper(json!("boolean")),
        "google.protobuf.StringValue" => wrapper(json!("string")),
        "google.protobuf.BytesValue" => {
            Some(json!({"type": ["string", "null"], "contentEncoding": "base64"}))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "schema/tests.rs"]
mod tests;
