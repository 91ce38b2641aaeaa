//! `FsError`: every way an fs request can be refused. Messages name only the
//! path the client gave (never a resolved path outside the roots).

use micromcp_sdk::ServiceError;

/// Why the fs service refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FsError {
    /// The path uses `..` to climb out of every root.
    #[error("path escapes the allowed roots: {0}")]
    Traversal(String),
    /// The path is absolute and not under any root.
    #[error("path is outside the allowed roots: {0}")]
    OutsideRoots(String),
    /// The path is inside a root but a symlink along it points outside.
    #[error("symlink points outside the allowed roots: {0}")]
    SymlinkEscape(String),
    /// Nothing exists at the path.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// The path is not what the operation needs (e.g. a directory for read_file).
    #[error("{0}")]
    WrongKind(String),
    /// The file is larger than the configured cap.
    #[error("file too large: {path} is {size} bytes, the limit is {limit} bytes")]
    TooLarge { path: String, size: u64, limit: u64 },
    /// The content is not UTF-8 text where text was required.
    #[error("not a text file: {0} (read it as a resource to get its bytes)")]
    NotText(String),
    /// The arguments are malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// An I/O failure other than not-found.
    #[error("cannot access {path}: {kind}")]
    Io { path: String, kind: String },
    /// Every place for file system work is taken and so is the queue.
    #[error("fs is {0}")]
    Busy(String),
}

// === impl FsError ===

impl FsError {
    pub(crate) fn io(path: &str, error: &std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::NotFound {
            return Self::NotFound(path.to_owned());
        }
        Self::Io {
            path: path.to_owned(),
            kind: error.kind().to_string(),
        }
    }

    /// A failed [`open_regular_file`](micromcp_sdk::open_regular_file) of `path`.
    pub(crate) fn open(path: &str, error: &micromcp_sdk::OpenRegularError) -> Self {
        match error {
            micromcp_sdk::OpenRegularError::NotRegular(kind) => {
                Self::WrongKind(format!("not a regular file: {path} is a {kind}"))
            }
            micromcp_sdk::OpenRegularError::Io(error) => Self::io(path, error),
        }
    }
}

impl From<FsError> for ServiceError {
    fn from(error: FsError) -> Self {
        let message = error.to_string();
        match error {
            FsError::NotFound(_) => ServiceError::NotFound(message),
            FsError::Traversal(_) | FsError::OutsideRoots(_) | FsError::SymlinkEscape(_) => {
                ServiceError::PermissionDenied(message)
            }
            FsError::TooLarge { .. } => ServiceError::ResourceExhausted(message),
            FsError::Io { .. } | FsError::Busy(_) => ServiceError::Unavailable(message),
            FsError::WrongKind(_) | FsError::NotText(_) | FsError::InvalidArgument(_) => {
                ServiceError::InvalidArgument(message)
            }
        }
    }
}
