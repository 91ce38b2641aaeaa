//! Maps a backend's gRPC status onto a gateway error: the service's own
//! message for user errors, a generic transient error (details only in the
//! log) when the service cannot be reached.

use std::sync::Arc;

use tonic::{Code, Status};

use crate::error::GatewayError;

/// What was being asked of the service, for not-found mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tool,
    Prompt,
    /// A resource (`uri`), asked in the 2026-07-28 era or not.
    Resource {
        modern: bool,
        uri: Arc<str>,
    },
    Completion,
}

/// The gateway error for `status` returned by `service`.
pub fn from_status(service: &str, target: &Target, status: &Status) -> GatewayError {
    let message = status.message().to_owned();
    if status.code() == Code::FailedPrecondition
        && let Some(capability) = status
            .metadata()
            .get(micromcp_proto::MISSING_CAPABILITY_METADATA)
            .and_then(|value| value.to_str().ok())
            .filter(|name| name.len() <= 128)
    {
        return GatewayError::MissingClientCapability {
            capability: capability.to_owned(),
        };
    }
    match status.code() {
        Code::InvalidArgument
        | Code::PermissionDenied
        | Code::ResourceExhausted
        | Code::FailedPrecondition
        | Code::OutOfRange => GatewayError::InvalidParams(message),
        Code::NotFound => match target {
            Target::Resource { modern, uri } => GatewayError::ResourceNotFound {
                message,
                modern: *modern,
                uri: uri.to_string(),
            },
            Target::Tool | Target::Prompt | Target::Completion => {
                GatewayError::InvalidParams(message)
            }
        },
        Code::Unavailable | Code::Cancelled | Code::Aborted | Code::Unknown => {
            tracing::warn!(service, code = ?status.code(), detail = %status.message(), "backend call failed");
            GatewayError::transient(
                service,
                format!("service {service:?} is unavailable; retry later"),
            )
        }
        Code::DeadlineExceeded => GatewayError::transient(
            service,
            format!("service {service:?} did not answer in time"),
        ),
        Code::Unimplemented => {
            GatewayError::MethodNotFound(format!("service {service:?} does not implement this"))
        }
        _ => {
            tracing::error!(service, code = ?status.code(), detail = %status.message(), "backend internal error");
            GatewayError::Internal(format!("service {service:?} failed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_categories() {
        let not_found = from_status(
            "fs",
            &Target::Resource {
                modern: false,
                uri: "file:///a".into(),
            },
            &Status::not_found("no such file"),
        );
        assert_eq!(not_found.code(), crate::error::RESOURCE_NOT_FOUND);
        let modern = from_status(
            "fs",
            &Target::Resource {
                modern: true,
                uri: "file:///a".into(),
            },
            &Status::not_found("x"),
        );
        assert_eq!(modern.code(), crate::error::INVALID_PARAMS);
        let down = from_status(
            "fs",
            &Target::Tool,
            &Status::unavailable("connect /tmp/secret.sock"),
        );
        assert_eq!(down.code(), crate::error::TRANSIENT);
        assert!(!down.to_string().contains("secret"));
        let denied = from_status(
            "fs",
            &Target::Tool,
            &Status::permission_denied("path escapes the allowed roots: ../x"),
        );
        assert_eq!(denied.code(), crate::error::INVALID_PARAMS);
    }
}
