//! `SearchError`: failures of the search service, each with a message safe
//! to show to the caller.

use micromcp_sdk::ServiceError;

/// Why a search operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("invalid query: {0}")]
    Query(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("document not found: {0}")]
    NotFound(String),
    #[error("vector has {found} dimensions, the index uses {expected}")]
    Dimensions { expected: usize, found: usize },
    #[error("embeddings endpoint failed: {0}")]
    Embeddings(String),
    #[error("index error: {0}")]
    Index(String),
    /// Every place for index work is taken and so is the queue.
    #[error("search is {0}")]
    Busy(String),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(error: tantivy::TantivyError) -> Self {
        Self::Index(error.to_string())
    }
}

impl From<std::io::Error> for SearchError {
    fn from(error: std::io::Error) -> Self {
        Self::Index(error.to_string())
    }
}

impl From<SearchError> for ServiceError {
    fn from(error: SearchError) -> Self {
        let message = error.to_string();
        match error {
            SearchError::NotFound(_) => ServiceError::NotFound(message),
            SearchError::Query(_)
            | SearchError::InvalidArgument(_)
            | SearchError::Dimensions { .. } => ServiceError::InvalidArgument(message),
            SearchError::Embeddings(_) | SearchError::Busy(_) => ServiceError::Unavailable(message),
            SearchError::Index(_) => ServiceError::Internal(message),
        }
    }
}
