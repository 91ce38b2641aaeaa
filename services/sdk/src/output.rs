//! `ToolOutput`: a tool's final result as a raw MCP `CallToolResult` JSON
//! object, with helpers for the common shapes.

use bytes::Bytes;
use serde_json::{Value, json};

/// A complete MCP `CallToolResult` (raw JSON object).
///
/// A result the model reads, a failure it can correct, or structured data:
///
/// ```
/// use micromcp_sdk::ToolOutput;
///
/// let found = ToolOutput::text("eggs, milk");
/// let missing = ToolOutput::error("no note named \"x\"; the notes are: groceries");
/// let data = ToolOutput::structured(serde_json::json!({"count": 2}));
///
/// let missing: serde_json::Value = serde_json::from_slice(&missing.into_raw_json()).unwrap();
/// assert_eq!(missing["isError"], true);
/// let data: serde_json::Value = serde_json::from_slice(&data.into_raw_json()).unwrap();
/// assert_eq!(data["structuredContent"]["count"], 2);
/// # let _ = found;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    result_json: Bytes,
}

// === impl ToolOutput ===

impl ToolOutput {
    /// A result whose raw JSON the service built itself (must be a JSON object).
    pub fn from_raw_json(result_json: Bytes) -> Self {
        Self { result_json }
    }

    /// A result built from a `serde_json::Value` (must be an object).
    pub fn from_value(result: &Value) -> Self {
        Self::from_raw_json(Bytes::from(result.to_string()))
    }

    /// One text content block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::from_value(&json!({"content": [{"type": "text", "text": text.into()}]}))
    }

    /// One text block plus `structuredContent` (the text is the serialised value).
    pub fn structured(value: Value) -> Self {
        let text = value.to_string();
        Self::from_value(&json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": value,
        }))
    }

    /// A tool-level failure the model can read and correct (`isError: true`).
    pub fn error(message: impl Into<String>) -> Self {
        Self::from_value(&json!({
            "content": [{"type": "text", "text": message.into()}],
            "isError": true,
        }))
    }

    /// The raw JSON bytes.
    pub fn into_raw_json(self) -> Bytes {
        self.result_json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_output_is_marked() {
        let raw = ToolOutput::error("bad path").into_raw_json();
        let value: Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(value["isError"], true);
        assert_eq!(value["content"][0]["text"], "bad path");
    }

    #[test]
    fn structured_output_mirrors_text() {
        let raw = ToolOutput::structured(json!({"a": 1})).into_raw_json();
        let value: Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(value["structuredContent"]["a"], 1);
        assert_eq!(value["content"][0]["text"], "{\"a\":1}");
    }
}
