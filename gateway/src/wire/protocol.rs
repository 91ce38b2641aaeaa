//! Protocol eras and versions: which versions the gateway speaks, how a
//! request's era is read, and the 2026-07-28 request checks (`_meta`
//! envelope, `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name` headers,
//! including the `=?base64?…?=` sentinel).

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::GatewayError;

/// The tasks extension's id (`capabilities.extensions`).
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";
/// The stateless protocol version.
pub const MODERN_VERSION: &str = "2026-07-28";
/// Modern versions, oldest first.
pub const MODERN_VERSIONS: [&str; 1] = [MODERN_VERSION];
/// Handshake-era versions, newest first (the first is offered by default).
pub const LEGACY_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// `_meta` key of the protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client capabilities.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the client info.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of the per-request log level.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of the server info on results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The subset of `params` the gateway reads (everything else stays raw).
#[derive(Debug, Default, Deserialize)]
pub struct ParamsHead<'a> {
    #[serde(default, rename = "_meta", borrow)]
    pub meta: Option<MetaHead<'a>>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default, borrow)]
    pub arguments: Option<&'a RawValue>,
    #[serde(default, rename = "protocolVersion")]
    pub protocol_version: Option<String>,
    #[serde(default, borrow)]
    pub capabilities: Option<&'a RawValue>,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default, rename = "requestId", borrow)]
    pub request_id: Option<&'a RawValue>,
    /// 2026-07-28 retry after `input_required`: the client's answers.
    #[serde(default, rename = "inputResponses", borrow)]
    pub input_responses: Option<&'a RawValue>,
    /// 2026-07-28 retry after `input_required`: the round's state, as issued.
    #[serde(default, rename = "requestState")]
    pub request_state: Option<String>,
    /// The tasks extension: the task a `tasks/*` request is about.
    #[serde(default, rename = "taskId")]
    pub task_id: Option<String>,
}

/// The `_meta` fields the gateway reads.
#[derive(Debug, Default, Deserialize)]
pub struct MetaHead<'a> {
    #[serde(default, rename = "progressToken", borrow)]
    pub progress_token: Option<&'a RawValue>,
    #[serde(default, rename = "io.modelcontextprotocol/protocolVersion")]
    pub protocol_version: Option<String>,
    #[serde(default, rename = "io.modelcontextprotocol/clientCapabilities", borrow)]
    pub client_capabilities: Option<&'a RawValue>,
    #[serde(default, rename = "io.modelcontextprotocol/logLevel")]
    pub log_level: Option<String>,
    /// Only tracing reads it: a value that is not a string is ignored (a
    /// propagation field never fails a call).
    #[serde(default, deserialize_with = "string_or_nothing")]
    pub traceparent: Option<String>,
}

/// A string, or `None` for a value of any other type.
fn string_or_nothing<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Lenient::deserialize(deserializer)? {
        Lenient::Text(text) => Some(text),
        Lenient::Other(_) => None,
    })
}

// === impl ParamsHead ===

impl<'a> ParamsHead<'a> {
    /// Parses the head of `params` (absent params = all defaults).
    pub fn parse(params: Option<&'a RawValue>) -> Result<Self, GatewayError> {
        match params {
            None => Ok(Self::default()),
            Some(raw) => serde_json::from_str(raw.get())
                .map_err(|error| GatewayError::InvalidParams(format!("invalid params: {error}"))),
        }
    }

    /// `params.name`, which the method requires.
    pub fn required_name(&self) -> Result<&str, GatewayError> {
        self.name
            .as_deref()
            .ok_or_else(|| GatewayError::InvalidParams("missing params.name".into()))
    }

    /// `params.uri`, which the method requires.
    pub fn required_uri(&self) -> Result<&str, GatewayError> {
        self.uri
            .as_deref()
            .ok_or_else(|| GatewayError::InvalidParams("missing params.uri".into()))
    }

    /// The modern protocol version named in `_meta`, if any.
    pub fn meta_protocol_version(&self) -> Option<&str> {
        self.meta.as_ref()?.protocol_version.as_deref()
    }
}

/// Headers a modern request must mirror.
#[derive(Debug, Default)]
pub struct MirroredHeaders<'a> {
    pub protocol_version: Option<&'a str>,
    pub method: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Decodes a header value that may use the `=?base64?…?=` sentinel.
pub fn decode_header_value(value: &str) -> Result<String, GatewayError> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                GatewayError::HeaderMismatch("header value has an invalid base64 sentinel".into())
            }),
        None => Ok(value.to_owned()),
    }
}

/// True for the 2025-11-25 methods 2026-07-28 removed (answered as unknown
/// methods, HTTP 404 + -32601, under the modern protocol).
pub fn removed_in_modern(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "logging/setLevel"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "tasks/list"
            | "tasks/result"
    )
}

/// The error for a method 2026-07-28 removed, asked under that protocol.
pub fn removed_method(method: &str) -> GatewayError {
    GatewayError::MethodNotFound(format!(
        "method {method:?} does not exist in protocol 2026-07-28"
    ))
}

/// A mirrored header's value without the optional whitespace HTTP allows
/// around it (SP and HTAB).
pub fn header_text(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// Checks a 2026-07-28 request: the mirrored `MCP-Protocol-Version` header
/// against `_meta` first (a mismatch is -32020 whatever else is wrong; a
/// `_meta` without a version is -32602), then a supported version
/// (-32022), the required `_meta` fields, and the
/// other mirrored headers against the body.
pub fn validate_modern(
    method: &str,
    head: &ParamsHead<'_>,
    headers: &MirroredHeaders<'_>,
    over_http: bool,
) -> Result<(), GatewayError> {
    if over_http {
        match (
            headers.protocol_version.map(header_text),
            head.meta_protocol_version(),
        ) {
            (Some(header), Some(version)) if header == version => {}
            (Some(header), Some(version)) => {
                return Err(GatewayError::HeaderMismatch(format!(
                    "MCP-Protocol-Version header {header:?} does not match _meta protocol version {version:?}"
                )));
            }
            // A required field missing is a malformed request (-32602),
            // not a disagreement between header and body.
            (Some(_), None) => {}
            (None, _) => {
                return Err(GatewayError::HeaderMismatch(
                    "missing MCP-Protocol-Version header".into(),
                ));
            }
        }
    }
    let Some(version) = head.meta_protocol_version() else {
        return Err(GatewayError::InvalidParams(format!(
            "missing params._meta[\"{META_PROTOCOL_VERSION}\"]"
        )));
    };
    if !MODERN_VERSIONS.contains(&version) {
        return Err(GatewayError::UnsupportedVersion {
            requested: version.to_owned(),
            supported: MODERN_VERSIONS
                .iter()
                .chain(LEGACY_VERSIONS.iter())
                .copied()
                .collect(),
        });
    }
    if head
        .meta
        .as_ref()
        .and_then(|meta| meta.client_capabilities)
        .is_none()
    {
        return Err(GatewayError::InvalidParams(format!(
            "missing params._meta[\"{META_CLIENT_CAPABILITIES}\"]"
        )));
    }
    if !over_http {
        return Ok(());
    }
    match headers.method.map(header_text) {
        Some(header) if decode_header_value(header)? == method => {}
        Some(header) => {
            return Err(GatewayError::HeaderMismatch(format!(
                "Mcp-Method header {header:?} does not match method {method:?}"
            )));
        }
        None => {
            return Err(GatewayError::HeaderMismatch(
                "missing Mcp-Method header".into(),
            ));
        }
    }
    let named = match method {
        "tools/call" | "prompts/get" => head.name.as_deref(),
        "resources/read" => head.uri.as_deref(),
        "tasks/get" | "tasks/update" | "tasks/cancel" => head.task_id.as_deref(),
        _ => return Ok(()),
    };
    match (headers.name.map(header_text), named) {
        (Some(header), Some(body)) if decode_header_value(header)? == body => Ok(()),
        (Some(header), _) => Err(GatewayError::HeaderMismatch(format!(
            "Mcp-Name header {header:?} does not match the body"
        ))),
        (None, _) => Err(GatewayError::HeaderMismatch(
            "missing Mcp-Name header".into(),
        )),
    }
}

/// The legacy version to answer an `initialize` offering `requested`.
pub fn negotiate_legacy(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|requested| {
            LEGACY_VERSIONS
                .iter()
                .find(|known| **known == requested)
                .copied()
        })
        .unwrap_or(LEGACY_VERSIONS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(json: &str) -> ParamsHead<'_> {
        serde_json::from_str(json).expect("params")
    }

    const META: &str = r#"{"name":"fs.stat","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}"#;

    #[test]
    fn modern_requests_are_checked_against_their_headers() {
        let params = head(META);
        let good = MirroredHeaders {
            protocol_version: Some("2026-07-28"),
            method: Some("tools/call"),
            name: Some("fs.stat"),
        };
        validate_modern("tools/call", &params, &good, true).expect("valid");
        let wrong_name = MirroredHeaders {
            name: Some("fs.read_file"),
            ..good
        };
        let error =
            validate_modern("tools/call", &params, &wrong_name, true).expect_err("mismatch");
        assert_eq!(error.code(), crate::error::HEADER_MISMATCH);
        let encoded = MirroredHeaders {
            name: Some("=?base64?ZnMuc3RhdA==?="),
            ..good
        };
        validate_modern("tools/call", &params, &encoded, true).expect("sentinel decodes");
        let missing = MirroredHeaders {
            method: None,
            ..good
        };
        assert!(validate_modern("tools/call", &params, &missing, true).is_err());
        validate_modern("tools/call", &params, &MirroredHeaders::default(), false)
            .expect("stdio has no headers");
    }

    #[test]
    fn versions_and_meta_are_required() {
        let old = head(
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        let error = validate_modern("tools/list", &old, &MirroredHeaders::default(), false)
            .expect_err("version");
        assert_eq!(error.code(), crate::error::UNSUPPORTED_PROTOCOL_VERSION);
        let no_caps = head(r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}"#);
        let error = validate_modern("tools/list", &no_caps, &MirroredHeaders::default(), false)
            .expect_err("caps");
        assert_eq!(error.code(), crate::error::INVALID_PARAMS);
    }

    #[test]
    fn legacy_negotiation_prefers_the_clients_version() {
        assert_eq!(negotiate_legacy(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate_legacy(Some("1999-01-01")), "2025-11-25");
        assert_eq!(negotiate_legacy(None), "2025-11-25");
    }

    #[test]
    fn the_header_is_checked_before_the_version_and_may_carry_whitespace() {
        let unsupported = head(
            r#"{"name":"fs.stat","_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}"#,
        );
        let headers = MirroredHeaders {
            protocol_version: Some("2026-07-28"),
            method: Some("tools/call"),
            name: Some("fs.stat"),
        };
        assert!(matches!(
            validate_modern("tools/call", &unsupported, &headers, true),
            Err(GatewayError::HeaderMismatch(_))
        ));
        let spaced = MirroredHeaders {
            protocol_version: Some(" 2026-07-28\t"),
            method: Some("\ttools/call "),
            name: Some("  fs.stat"),
        };
        assert!(validate_modern("tools/call", &head(META), &spaced, true).is_ok());
        assert!(removed_in_modern("ping") && !removed_in_modern("tools/call"));
    }
}
