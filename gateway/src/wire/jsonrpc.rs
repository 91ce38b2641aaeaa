//! The JSON-RPC 2.0 envelope: parsed once per message, with `id` and
//! `params` kept as raw JSON (tool arguments are never re-parsed into a
//! tree), and responses written by splicing raw result bytes.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::GatewayError;

/// One incoming JSON-RPC message, borrowed from the request body.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub jsonrpc: Option<&'a str>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub id: Option<&'a RawValue>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, borrow)]
    pub params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

/// Keeps an explicit `null` as `Some("null")` so it can be refused.
fn present_raw<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// What kind of message an envelope holds.
#[derive(Debug, PartialEq, Eq)]
pub enum MessageKind {
    Request,
    Notification,
    Response,
}

// === impl Envelope ===

impl<'a> Envelope<'a> {
    /// Parses and checks one message; a JSON array (batch) is refused.
    pub fn parse(body: &'a [u8]) -> Result<Self, GatewayError> {
        let first = body
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .copied();
        match first {
            None => return Err(GatewayError::Parse("empty body".into())),
            Some(b'[') => {
                return Err(GatewayError::InvalidRequest(
                    "JSON-RPC batches are not supported (removed in protocol 2025-06-18); send one message per POST".into(),
                ));
            }
            Some(b'{') => {}
            Some(_) => {
                if serde_json::from_slice::<&RawValue>(body).is_err() {
                    return Err(GatewayError::Parse("body is not valid JSON".into()));
                }
                return Err(GatewayError::InvalidRequest(
                    "a JSON-RPC message must be a JSON object".into(),
                ));
            }
        }
        let envelope: Envelope<'a> = serde_json::from_slice(body).map_err(|error| {
            if error.is_data() {
                GatewayError::InvalidRequest(format!("malformed JSON-RPC message: {error}"))
            } else {
                GatewayError::Parse(format!("body is not valid JSON: {error}"))
            }
        })?;
        if envelope.jsonrpc != Some("2.0") {
            return Err(GatewayError::InvalidRequest(
                "\"jsonrpc\" must be \"2.0\"".into(),
            ));
        }
        if let Some(id) = envelope.id {
            let text = id.get();
            let valid = text.starts_with('"')
                || text.starts_with('-')
                || text.as_bytes()[0].is_ascii_digit();
            if !valid {
                return Err(GatewayError::InvalidRequest(
                    "\"id\" must be a string or an integer".into(),
                ));
            }
        }
        Ok(envelope)
    }

    /// Request, notification or response.
    pub fn kind(&self) -> Result<MessageKind, GatewayError> {
        match (
            &self.method,
            self.id,
            self.result.is_some() || self.error.is_some(),
        ) {
            (Some(_), Some(_), false) => Ok(MessageKind::Request),
            (Some(_), None, false) => Ok(MessageKind::Notification),
            (None, Some(_), true) => Ok(MessageKind::Response),
            _ => Err(GatewayError::InvalidRequest(
                "message is neither a request, a notification nor a response".into(),
            )),
        }
    }

    /// The id as raw JSON text (`null` when absent).
    pub fn id_text(&self) -> &str {
        self.id.map_or("null", RawValue::get)
    }
}

/// `{"jsonrpc":"2.0","id":<id>,"result":<result>}`.
pub fn encode_result(id: &str, result: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.len() + id.len() + 36);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result);
    out.push(b'}');
    out
}

/// A JSON-RPC error response for `error` (id `null` when unknown).
pub fn encode_error(id: &str, error: &GatewayError) -> Vec<u8> {
    let body = serde_json::json!({
        "code": error.code(),
        "message": error.to_string(),
        "data": error.data(),
    });
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b",\"error\":");
    out.extend_from_slice(body.to_string().as_bytes());
    out.push(b'}');
    out
}

/// A notification `{"jsonrpc":"2.0","method":<method>,"params":<params>}`.
pub fn encode_notification(method: &str, params: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(params.len() + method.len() + 40);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    out.extend_from_slice(serde_json::Value::from(method).to_string().as_bytes());
    out.extend_from_slice(b",\"params\":");
    out.extend_from_slice(params);
    out.push(b'}');
    out
}

/// A server-to-client request.
pub fn encode_request(id: &str, method: &str, params: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(params.len() + method.len() + 50);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b",\"method\":");
    out.extend_from_slice(serde_json::Value::from(method).to_string().as_bytes());
    out.extend_from_slice(b",\"params\":");
    out.extend_from_slice(params);
    out.push(b'}');
    out
}

/// Inserts `fields` (e.g. `"resultType":"complete"`) at the start of a raw
/// JSON object without parsing it. Non-objects are returned unchanged.
pub fn splice_object_fields(object: &[u8], fields: &str) -> Vec<u8> {
    let Some(open) = object.iter().position(|byte| !byte.is_ascii_whitespace()) else {
        return object.to_vec();
    };
    if object[open] != b'{' {
        return object.to_vec();
    }
    let rest = &object[open + 1..];
    let is_empty = rest
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'}');
    let mut out = Vec::with_capacity(object.len() + fields.len() + 2);
    out.push(b'{');
    out.extend_from_slice(fields.as_bytes());
    if !is_empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let request = Envelope::parse(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).expect("ok");
        assert_eq!(request.kind().expect("kind"), MessageKind::Request);
        assert_eq!(request.id_text(), "7");
        let notification =
            Envelope::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .expect("ok");
        assert_eq!(
            notification.kind().expect("kind"),
            MessageKind::Notification
        );
        let response = Envelope::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).expect("ok");
        assert_eq!(response.kind().expect("kind"), MessageKind::Response);
    }

    #[test]
    fn malformed_input_gets_the_right_code() {
        let parse = Envelope::parse(b"{not json").expect_err("parse");
        assert_eq!(parse.code(), crate::error::PARSE_ERROR);
        let batch = Envelope::parse(b"[{}]").expect_err("batch");
        assert_eq!(batch.code(), crate::error::INVALID_REQUEST);
        let version = Envelope::parse(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#).expect_err("v");
        assert_eq!(version.code(), crate::error::INVALID_REQUEST);
        let null_id =
            Envelope::parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).expect_err("id");
        assert_eq!(null_id.code(), crate::error::INVALID_REQUEST);
        let scalar = Envelope::parse(b"42").expect_err("scalar");
        assert_eq!(scalar.code(), crate::error::INVALID_REQUEST);
        let bad_method = Envelope::parse(br#"{"jsonrpc":"2.0","id":1,"method":5}"#).expect_err("m");
        assert_eq!(bad_method.code(), crate::error::INVALID_REQUEST);
    }

    #[test]
    fn results_are_spliced_without_parsing() {
        assert_eq!(
            encode_result("1", br#"{"a":1}"#),
            br#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#
        );
        assert_eq!(
            splice_object_fields(br#" {"a":1}"#, r#""resultType":"complete""#),
            br#"{"resultType":"complete","a":1}"#
        );
        assert_eq!(splice_object_fields(b"{ }", r#""x":1"#), br#"{"x":1 }"#);
    }
}
