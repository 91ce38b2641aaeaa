//! `ServiceError`: what a service returns when a request cannot be served, and
//! its mapping onto gRPC status codes (which the gateway maps onward to
//! JSON-RPC errors). Messages must be safe to show to the client.

use tonic::{Code, Status};

/// Result of a service operation.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Why a service could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller sent something the service cannot accept.
    #[error("{0}")]
    InvalidArgument(String),
    /// The named tool, prompt or resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but refused by the service's policy.
    #[error("{0}")]
    PermissionDenied(String),
    /// A size or rate limit was exceeded.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A dependency of the service is temporarily unavailable; retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The service does not offer this operation.
    #[error("{0}")]
    Unsupported(String),
    /// A bug or unexpected failure inside the service.
    #[error("{0}")]
    Internal(String),
    /// Not a failure: the request needs the client's input first (built
    /// with [`crate::input_required`]); the SDK sends it to the gateway as
    /// an `InputRequired` message on the methods that carry one (tools,
    /// prompts), and as this error elsewhere.
    #[error("the request needs the client's input, which this method cannot ask for")]
    InputRequired(Box<micromcp_proto::InputRequired>),
    /// The request needs a client capability it did not declare (e.g.
    /// `sampling`, or `extensions/<id>`): the client gets -32021 naming it.
    #[error("the request needs the client capability {0}, which it did not declare")]
    MissingCapability(String),
}

impl ServiceError {
    /// The gRPC code the gateway sees for this error.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::ResourceExhausted(_) => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Unsupported(_) => Code::Unimplemented,
            Self::Internal(_) => Code::Internal,
            Self::InputRequired(_) => Code::Unimplemented,
            Self::MissingCapability(_) => Code::FailedPrecondition,
        }
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        let mut status = Status::new(error.code(), error.to_string());
        if let ServiceError::MissingCapability(capability) = &error
            && let Ok(value) = capability.parse()
        {
            status
                .metadata_mut()
                .insert(micromcp_proto::MISSING_CAPABILITY_METADATA, value);
        }
        status
    }
}
