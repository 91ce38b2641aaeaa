//! One audit record and its encoding: a single line of JSON with a fixed
//! field order. Strings are escaped by serde_json; tool arguments, when the
//! operator asks for them, are copied with configured fields redacted.

use std::io::Write;

use serde_json::Value;

/// Whether the request was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a result.
    Ok,
    /// Answered with an error.
    Error,
    /// The client went away (or cancelled) before the answer ended.
    Cancelled,
}

/// What is written for one request.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    /// Wall-clock time the request arrived.
    pub time: jiff::Timestamp,
    pub request_id: Option<&'a str>,
    pub principal: Option<&'a str>,
    /// `http` or `stdio`.
    pub transport: &'static str,
    /// `modern` (2026-07-28) or `legacy` (session era); absent before the
    /// era is known.
    pub era: Option<&'static str>,
    pub method: Option<&'a str>,
    /// Tool or prompt name, resource URI.
    pub target: Option<&'a str>,
    pub decision: Decision,
    /// Why a request was denied.
    pub reason: Option<&'a str>,
    pub outcome: Outcome,
    /// JSON-RPC error code and category, for `Outcome::Error`.
    pub error: Option<(i64, &'a str)>,
    /// HTTP status of the answer (HTTP transport).
    pub http_status: Option<u16>,
    pub latency_us: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Tool arguments, already redacted, when configured.
    pub arguments: Option<&'a Value>,
}

fn put_str(line: &mut Vec<u8>, key: &str, value: &str) {
    line.extend_from_slice(b",\"");
    line.extend_from_slice(key.as_bytes());
    line.extend_from_slice(b"\":");
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, value);
}

fn put_opt_str(line: &mut Vec<u8>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        put_str(line, key, value);
    }
}

fn put_u64(line: &mut Vec<u8>, key: &str, value: u64) {
    let _ = write!(line, ",\"{key}\":{value}");
}

// === impl AuditRecord ===

impl AuditRecord<'_> {
    /// Appends the record and a newline to `line`.
    pub fn encode_into(&self, line: &mut Vec<u8>) {
        let _ = write!(line, "{{\"time\":\"{:.6}\"", self.time);
        put_opt_str(line, "request_id", self.request_id);
        put_opt_str(line, "principal", self.principal);
        put_str(line, "transport", self.transport);
        put_opt_str(line, "era", self.era);
        put_opt_str(line, "method", self.method);
        put_opt_str(line, "target", self.target);
        put_str(
            line,
            "decision",
            match self.decision {
                Decision::Allow => "allow",
                Decision::Deny => "deny",
            },
        );
        put_opt_str(line, "reason", self.reason);
        put_str(
            line,
            "outcome",
            match self.outcome {
                Outcome::Ok => "ok",
                Outcome::Error => "error",
                Outcome::Cancelled => "cancelled",
            },
        );
        if let Some((code, category)) = self.error {
            let _ = write!(line, ",\"error_code\":{code}");
            put_str(line, "error_category", category);
        }
        if let Some(status) = self.http_status {
            put_u64(line, "http_status", u64::from(status));
        }
        put_u64(line, "latency_us", self.latency_us);
        put_u64(line, "bytes_in", self.bytes_in);
        put_u64(line, "bytes_out", self.bytes_out);
        if let Some(arguments) = self.arguments {
            line.extend_from_slice(b",\"arguments\":");
            let _ = serde_json::to_writer(&mut *line, arguments);
        }
        line.extend_from_slice(b"}\n");
    }
}

/// `arguments` with every object field whose lower-cased name contains one
/// of `redact` (lower-case) replaced by `"[redacted]"`, at any depth.
pub fn redact(mut arguments: Value, redact: &[String]) -> Value {
    fn walk(value: &mut Value, redact: &[String]) {
        match value {
            Value::Object(map) => {
                for (key, field) in map.iter_mut() {
                    let lower = key.to_ascii_lowercase();
                    if redact.iter().any(|word| lower.contains(word.as_str())) {
                        *field = Value::from("[redacted]");
                    } else {
                        walk(field, redact);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, redact)),
            _ => {}
        }
    }
    walk(&mut arguments, redact);
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(arguments: Option<&'a Value>) -> AuditRecord<'a> {
        AuditRecord {
            time: jiff::Timestamp::UNIX_EPOCH,
            request_id: Some("r7"),
            principal: Some("ci\"agent"),
            transport: "http",
            era: Some("modern"),
            method: Some("tools/call"),
            target: Some("fs.read_file"),
            decision: Decision::Deny,
            reason: Some("no scope"),
            outcome: Outcome::Error,
            error: Some((-31003, "forbidden")),
            http_status: Some(403),
            latency_us: 42,
            bytes_in: 120,
            bytes_out: 99,
            arguments,
        }
    }

    #[test]
    fn a_record_is_one_line_of_json_with_every_field() {
        let mut line = Vec::new();
        sample(None).encode_into(&mut line);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|byte| **byte == b'\n').count(), 1);
        let value: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(value["time"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(value["principal"], "ci\"agent");
        assert_eq!(value["decision"], "deny");
        assert_eq!(value["error_code"], -31003);
        assert_eq!(value["error_category"], "forbidden");
        assert_eq!(value["latency_us"], 42);
        assert_eq!(value["http_status"], 403);
        assert!(value.get("arguments").is_none());
    }

    #[test]
    fn configured_fields_are_redacted_at_any_depth() {
        let arguments = serde_json::json!({
            "path": "a.txt",
            "API_Key": "k",
            "nested": [{"password": "p", "keep": 1}],
        });
        let words = vec!["api_key".to_owned(), "password".to_owned()];
        let redacted = redact(arguments, &words);
        let mut line = Vec::new();
        sample(Some(&redacted)).encode_into(&mut line);
        let text = String::from_utf8(line).expect("utf8");
        assert!(!text.contains("\"k\"") && !text.contains("\"p\""), "{text}");
        assert!(text.contains("\"path\":\"a.txt\"") && text.contains("\"keep\":1"));
        assert_eq!(text.matches("[redacted]").count(), 2);
    }
}
