//! `x-mcp-header` (SEP-2243): the tool arguments a 2026-07-28 client mirrors
//! in `Mcp-Param-<Name>` headers, read once from a tool's input schema when
//! the catalog is merged, and the check of a call's headers against its
//! body: a value in the body needs its header and the two must agree
//! (strings as they are, integers compared as numbers, booleans as
//! `true`/`false`, the `=?base64?…?=` sentinel decoded strictly); a header
//! without a value in the body, a value that is not visible ASCII or a bad
//! sentinel is a mismatch (-32020, HTTP 400). Headers the tool does not
//! declare are left alone.

use base64::Engine;
use serde_json::Value;

use crate::error::GatewayError;

/// Longest property path followed into nested `properties`.
const MAX_DEPTH: usize = 8;
/// Most mirrored arguments one tool may declare.
const MAX_PARAMS: usize = 32;

/// The JSON type a mirrored argument has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Integer,
    Boolean,
}

/// One argument mirrored in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The header's name after `Mcp-Param-`, lowercased.
    pub name: String,
    /// The argument's path through `properties`.
    pub path: Vec<String>,
    pub kind: ParamKind,
}

/// The mirrored arguments declared in `input_schema` (none for a schema
/// without `x-mcp-header`, or whose annotations break the rules: those are
/// not mirrored at all, as clients drop such tools).
pub fn of_schema(input_schema: &[u8]) -> Vec<ParamHeader> {
    if !contains(input_schema, b"x-mcp-header") {
        return Vec::new();
    }
    let Ok(schema) = serde_json::from_slice::<Value>(input_schema) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if collect(&schema, &mut Vec::new(), &mut found).is_err() {
        return Vec::new();
    }
    let mut names: Vec<&str> = found.iter().map(|param| param.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() != found.len() || found.len() > MAX_PARAMS {
        return Vec::new();
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn collect(schema: &Value, path: &mut Vec<String>, found: &mut Vec<ParamHeader>) -> Result<(), ()> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    if path.len() >= MAX_DEPTH {
        return Ok(());
    }
    for (name, property) in properties {
        path.push(name.clone());
        if let Some(header) = property.get("x-mcp-header") {
            let header = header.as_str().filter(|text| is_token(text)).ok_or(())?;
            let kind = match property.get("type").and_then(Value::as_str) {
                Some("string") => ParamKind::String,
                Some("integer") => ParamKind::Integer,
                Some("boolean") => ParamKind::Boolean,
                _ => return Err(()),
            };
            found.push(ParamHeader {
                name: header.to_ascii_lowercase(),
                path: path.clone(),
                kind,
            });
        }
        collect(property, path, found)?;
        path.pop();
    }
    Ok(())
}

/// An HTTP token (RFC 9110 `tchar`s), non-empty.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// A header value as text: `None` when it is not visible ASCII.
pub type HeaderText = Option<String>;

/// [`check`] for the headers that were sent only: a call through
/// `call_tool` mirrors `call_tool`'s arguments (none), so a header of the
/// named tool may be absent — but one that is sent must agree with the
/// arguments as on a direct call (an intermediary may route on it).
pub fn check_sent(
    params: &[ParamHeader],
    arguments: Option<&str>,
    headers: &[(String, HeaderText)],
) -> Result<(), GatewayError> {
    let sent: Vec<ParamHeader> = params
        .iter()
        .filter(|param| headers.iter().any(|(name, _)| *name == param.name))
        .cloned()
        .collect();
    check(&sent, arguments, headers)
}

/// Checks a call's `Mcp-Param-*` headers (`(name lowercased, value)`)
/// against its `arguments` for the tool's mirrored `params`.
pub fn check(
    params: &[ParamHeader],
    arguments: Option<&str>,
    headers: &[(String, HeaderText)],
) -> Result<(), GatewayError> {
    if params.is_empty() {
        return Ok(());
    }
    let arguments: Value = arguments
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    for param in params {
        let mut value = &arguments;
        for step in &param.path {
            value = value.get(step).unwrap_or(&Value::Null);
        }
        let header = headers
            .iter()
            .find(|(name, _)| *name == param.name)
            .map(|(_, value)| value);
        let shown = format!("Mcp-Param-{}", param.name);
        match (value, header) {
            (Value::Null, None) => {}
            (Value::Null, Some(_)) => {
                return Err(mismatch(format!(
                    "{shown} header but no {} in the arguments",
                    param.path.join(".")
                )));
            }
            (_, None) => {
                return Err(mismatch(format!(
                    "missing {shown} header for argument {}",
                    param.path.join(".")
                )));
            }
            (body, Some(text)) => {
                let text = text.as_deref().ok_or_else(|| {
                    mismatch(format!(
                        "{shown} is not visible ASCII; send it as =?base64?…?="
                    ))
                })?;
                let decoded = decode(text).ok_or_else(|| {
                    mismatch(format!("{shown} has an invalid =?base64?…?= value"))
                })?;
                if !agrees(param.kind, body, &decoded) {
                    return Err(mismatch(format!(
                        "{shown} does not match argument {}",
                        param.path.join(".")
                    )));
                }
            }
        }
    }
    Ok(())
}

fn mismatch(message: String) -> GatewayError {
    GatewayError::HeaderMismatch(message)
}

/// A header value, the sentinel decoded strictly (canonical padding, the
/// standard alphabet, UTF-8).
fn decode(text: &str) -> Option<String> {
    let trimmed = text.trim_matches([' ', '\t']);
    match trimmed
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(trimmed.to_owned()),
    }
}

fn agrees(kind: ParamKind, body: &Value, header: &str) -> bool {
    match kind {
        ParamKind::String => body.as_str() == Some(header),
        ParamKind::Boolean => body
            .as_bool()
            .is_some_and(|flag| header == flag.to_string()),
        ParamKind::Integer => match (body.as_i64(), header.parse::<i64>()) {
            (Some(body), Ok(header)) => body == header,
            _ => match (body.as_f64(), header.parse::<f64>()) {
                (Some(body), Ok(header)) => body == header,
                _ => false,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"object","properties":{
        "region":{"type":"string","x-mcp-header":"Region"},
        "count":{"type":"integer","x-mcp-header":"Count"},
        "dry":{"type":"boolean","x-mcp-header":"Dry-Run"},
        "nested":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}},
        "plain":{"type":"string"}}}"#;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, HeaderText)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Some((*value).to_owned())))
            .collect()
    }

    #[test]
    fn through_call_tool_only_the_headers_sent_are_checked() {
        let params = of_schema(SCHEMA.as_bytes());
        let arguments = Some(r#"{"region":"eu","count":3}"#);
        assert!(check_sent(&params, arguments, &[]).is_ok());
        assert!(check_sent(&params, arguments, &headers(&[("count", "3")])).is_ok());
        let wrong = check_sent(&params, arguments, &headers(&[("region", "us")]));
        assert!(
            matches!(wrong, Err(GatewayError::HeaderMismatch(_))),
            "{wrong:?}"
        );
        let stray = check_sent(&params, arguments, &headers(&[("dry-run", "true")]));
        assert!(
            matches!(stray, Err(GatewayError::HeaderMismatch(_))),
            "{stray:?}"
        );
        // A direct call needs every mirrored argument's header.
        assert!(check(&params, arguments, &headers(&[("count", "3")])).is_err());
    }

    #[test]
    fn mirrored_arguments_are_read_from_the_schema() {
        let params = of_schema(SCHEMA.as_bytes());
        let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
        assert_eq!(names, ["region", "count", "dry-run", "zone"]);
        assert_eq!(params[3].path, ["nested", "zone"]);
        // A number type, a duplicate name or a bad token mirrors nothing.
        assert!(
            of_schema(br#"{"properties":{"x":{"type":"number","x-mcp-header":"X"}}}"#).is_empty()
        );
        assert!(of_schema(br#"{"properties":{"a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}}"#).is_empty());
        assert!(
            of_schema(br#"{"properties":{"a":{"type":"string","x-mcp-header":"bad name"}}}"#)
                .is_empty()
        );
        assert!(of_schema(br#"{"type":"object"}"#).is_empty());
    }

    #[test]
    fn headers_must_agree_with_the_body() {
        let params = of_schema(SCHEMA.as_bytes());
        let body = r#"{"region":"eu-west","count":3,"dry":true,"nested":{"zone":"b"},"plain":"x"}"#;
        let good = headers(&[
            ("region", "eu-west"),
            ("count", "3"),
            ("dry-run", "true"),
            ("zone", "=?base64?Yg==?="),
        ]);
        check(&params, Some(body), &good).expect("agrees");
        let wrong = headers(&[
            ("region", "us"),
            ("count", "3"),
            ("dry-run", "true"),
            ("zone", "b"),
        ]);
        assert!(check(&params, Some(body), &wrong).is_err());
        let missing = headers(&[("count", "3"), ("dry-run", "true"), ("zone", "b")]);
        assert!(
            check(&params, Some(body), &missing)
                .expect_err("refused")
                .to_string()
                .contains("missing Mcp-Param-region")
        );
        let bad_padding = headers(&[
            ("region", "eu-west"),
            ("count", "3"),
            ("dry-run", "true"),
            ("zone", "=?base64?Yg?="),
        ]);
        assert!(check(&params, Some(body), &bad_padding).is_err());
        let not_ascii = vec![("region".to_owned(), None)];
        assert!(check(&params, Some(r#"{"region":"é"}"#), &not_ascii).is_err());
        let extra = headers(&[("region", "eu-west")]);
        assert!(
            check(&params, Some("{}"), &extra)
                .expect_err("refused")
                .to_string()
                .contains("but no region")
        );
        // Literal text that only looks half like the sentinel.
        let literal = headers(&[("region", "=?base64?SGk=")]);
        check(&params, Some(r#"{"region":"=?base64?SGk="}"#), &literal).expect("literal");
        check(
            &params,
            Some(r#"{"count":3.0}"#),
            &headers(&[("count", "3")]),
        )
        .expect("numeric");
    }
}
