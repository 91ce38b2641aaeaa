//! `GrpcError`: why the translator could not read a target's descriptors,
//! reach the target, or start; one enum for the crate. Call failures of the
//! target itself are not errors here: they become tool errors naming the
//! gRPC status (see `call`).

use std::path::PathBuf;

/// Result of a translator operation.
pub type GrpcResult<T> = Result<T, GrpcError>;

/// Why the translator could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// A setting is wrong; the message names it.
    #[error("{0}")]
    Setting(String),
    /// The target could not be dialled.
    #[error("target {target}: {detail}")]
    Connect { target: String, detail: String },
    /// Server reflection failed or answered something unusable.
    #[error("server reflection of {target}: {detail}")]
    Reflection { target: String, detail: String },
    /// The descriptor set file could not be read or decoded.
    #[error("descriptor_set {}: {detail}", path.display())]
    DescriptorSet { path: PathBuf, detail: String },
    /// The descriptors do not form a valid pool, or exceed a limit.
    #[error("descriptors: {0}")]
    Descriptors(String),
}
