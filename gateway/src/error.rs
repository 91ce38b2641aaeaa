//! `GatewayError`: every way the gateway refuses or fails a request, each
//! mapped to one [`ErrorCategory`], which fixes its JSON-RPC code and HTTP
//! status in one place. Messages are safe to show to clients: they never carry
//! credentials or paths outside the roots (services already guarantee the
//! latter for their own messages).

use http::StatusCode;
use serde_json::{Value, json};

/// JSON-RPC code for a parse error.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC code for a message that is not a valid request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC code for an unknown method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC code for invalid params (also unknown tools and prompts).
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC code for an internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// Legacy-era code for a resource that does not exist.
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// 2026-07-28: a mirrored header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request needs a client capability it did not declare.
pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
/// 2026-07-28: the requested protocol version is not supported.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// Gateway-local: the caller is not authenticated (outside the reserved range).
pub const UNAUTHORIZED: i64 = -31001;
/// Gateway-local: the caller may not do this.
pub const FORBIDDEN: i64 = -31003;
/// Gateway-local: a backend is unavailable, timed out or failed transiently.
pub const TRANSIENT: i64 = -31004;

/// The fixed set of error categories (see DESIGN.md, Errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    Unauthorized,
    Forbidden,
    UserError,
    TransientError,
    InternalError,
}

// === impl ErrorCategory ===

impl ErrorCategory {
    /// Name used in `error.data.category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::UserError => "user_error",
            Self::TransientError => "transient_error",
            Self::InternalError => "internal_error",
        }
    }
}

/// `text` followed by each cause in `source`'s chain that it does not
/// already contain (transport and parser errors keep their detail there).
pub fn with_causes(mut text: String, source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut source = source;
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The category of a JSON-RPC error code the gateway sent.
pub fn category_of_code(code: i64) -> ErrorCategory {
    match code {
        UNAUTHORIZED => ErrorCategory::Unauthorized,
        FORBIDDEN => ErrorCategory::Forbidden,
        TRANSIENT => ErrorCategory::TransientError,
        INTERNAL_ERROR => ErrorCategory::InternalError,
        _ => ErrorCategory::UserError,
    }
}

/// A refused or failed request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("method not found: {0}")]
    MethodNotFound(String),
    #[error("{0}")]
    InvalidParams(String),
    /// A tool named through `call_tool` that the caller may not see: the
    /// client is told exactly what an unknown name gets; `reason` (the
    /// policy's refusal) is for the audit record only.
    #[error("unknown tool: {name}")]
    HiddenTool { name: String, reason: String },
    #[error("{message}")]
    ResourceNotFound {
        message: String,
        modern: bool,
        /// The URI asked for (`error.data.uri`, SEP-2164).
        uri: String,
    },
    #[error("{0}")]
    HeaderMismatch(String),
    #[error("request needs client capability {capability}")]
    MissingClientCapability { capability: String },
    #[error("unsupported protocol version: {requested}")]
    UnsupportedVersion {
        requested: String,
        supported: Vec<&'static str>,
    },
    #[error("{0}")]
    Unauthorized(String),
    /// Refused by policy; `scope_opt` is a scope that would grant it.
    #[error("{message}")]
    Forbidden {
        message: String,
        scope_opt: Option<String>,
    },
    #[error("{message}")]
    Transient { message: String, service: String },
    /// Refused by a rate or in-flight limit; retry after `retry_after_ms`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_ms: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("request body too large: the limit is {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("session not found or expired; send initialize to start a new session")]
    SessionNotFound,
    #[error("{0}")]
    SessionRequired(String),
}

// === impl GatewayError ===

impl GatewayError {
    /// The category that fixes this error's codes.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Unauthorized(_) => ErrorCategory::Unauthorized,
            Self::Forbidden { .. } => ErrorCategory::Forbidden,
            Self::Transient { .. } | Self::RateLimited { .. } => ErrorCategory::TransientError,
            Self::Internal(_) => ErrorCategory::InternalError,
            _ => ErrorCategory::UserError,
        }
    }

    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            Self::Parse(_) => PARSE_ERROR,
            Self::InvalidRequest(_) | Self::SessionRequired(_) | Self::SessionNotFound => {
                INVALID_REQUEST
            }
            Self::MethodNotFound(_) => METHOD_NOT_FOUND,
            Self::InvalidParams(_) | Self::HiddenTool { .. } | Self::PayloadTooLarge { .. } => {
                INVALID_PARAMS
            }
            Self::ResourceNotFound { modern, .. } => {
                if *modern {
                    INVALID_PARAMS
                } else {
                    RESOURCE_NOT_FOUND
                }
            }
            Self::HeaderMismatch(_) => HEADER_MISMATCH,
            Self::MissingClientCapability { .. } => MISSING_CLIENT_CAPABILITY,
            Self::UnsupportedVersion { .. } => UNSUPPORTED_PROTOCOL_VERSION,
            Self::Unauthorized(_) => UNAUTHORIZED,
            Self::Forbidden { .. } => FORBIDDEN,
            Self::Transient { .. } | Self::RateLimited { .. } => TRANSIENT,
            Self::Internal(_) => INTERNAL_ERROR,
        }
    }

    /// The HTTP status this error gets when it is the whole answer to a POST.
    /// Method-level failures of a well-formed request are HTTP 200 with a
    /// JSON-RPC error body; envelope and protocol failures are 4xx.
    pub fn http_status(&self, modern: bool) -> StatusCode {
        match self {
            Self::Parse(_)
            | Self::InvalidRequest(_)
            | Self::HeaderMismatch(_)
            | Self::MissingClientCapability { .. }
            | Self::UnsupportedVersion { .. }
            | Self::SessionRequired(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotFound(_) if modern => StatusCode::NOT_FOUND,
            Self::InvalidParams(_) | Self::HiddenTool { .. } if modern => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::OK,
        }
    }

    /// `error.data`, if any.
    pub fn data(&self) -> Value {
        match self {
            Self::UnsupportedVersion {
                requested,
                supported,
            } => json!({"supported": supported, "requested": requested}),
            // An extension is named `extensions/<id>`.
            Self::MissingClientCapability { capability } => match capability
                .strip_prefix("extensions/")
            {
                Some(extension) => json!({"requiredCapabilities": {"extensions": {extension: {}}}}),
                None => json!({"requiredCapabilities": {capability.as_str(): {}}}),
            },
            Self::Transient { service, .. } => {
                json!({"category": self.category().as_str(), "service": service})
            }
            Self::RateLimited { retry_after_ms, .. } => {
                json!({"category": self.category().as_str(), "retryAfterMs": retry_after_ms})
            }
            Self::ResourceNotFound { uri, .. } => {
                json!({"category": self.category().as_str(), "uri": uri})
            }
            _ => json!({"category": self.category().as_str()}),
        }
    }

    /// A transient failure of `service`.
    pub fn transient(service: &str, message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            service: service.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_category_table() {
        let unknown = GatewayError::MethodNotFound("x".into());
        assert_eq!(unknown.code(), METHOD_NOT_FOUND);
        assert_eq!(unknown.http_status(true), StatusCode::NOT_FOUND);
        assert_eq!(unknown.http_status(false), StatusCode::OK);
        let missing = GatewayError::ResourceNotFound {
            message: "m".into(),
            modern: true,
            uri: "file:///m".into(),
        };
        assert_eq!(missing.code(), INVALID_PARAMS);
        assert_eq!(missing.data()["uri"], "file:///m");
        let transient = GatewayError::transient("fs", "down");
        assert_eq!(transient.category(), ErrorCategory::TransientError);
        assert_eq!(transient.data()["service"], "fs");
        let version = GatewayError::UnsupportedVersion {
            requested: "1999".into(),
            supported: vec!["2026-07-28"],
        };
        assert_eq!(version.data()["supported"][0], "2026-07-28");
        assert_eq!(version.http_status(true), StatusCode::BAD_REQUEST);
    }
}
