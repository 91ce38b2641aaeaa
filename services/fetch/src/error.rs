//! `FetchError`: each way a fetch is refused or fails, with a message that
//! names the rule that refused it.

use std::net::IpAddr;

use crate::policy::AddressClass;

/// Why a fetch was refused or failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("scheme {0:?} is not allowed (only http and https)")]
    Scheme(String),
    #[error("host {0:?} is not on the fetch allowlist")]
    DomainNotAllowed(String),
    #[error("address {address} of {host:?} is not allowed ({class})")]
    AddressNotAllowed {
        host: String,
        address: IpAddr,
        class: AddressClass,
    },
    #[error("{host:?} does not resolve: {reason}")]
    Resolve { host: String, reason: String },
    #[error("redirect to {0:?} refused: {1}")]
    Redirect(String, Box<FetchError>),
    #[error("too many redirects (limit {0})")]
    TooManyRedirects(usize),
    #[error("response is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("fetch timed out after {0} s")]
    Timeout(u64),
    #[error("header {0:?} may not be set (allowed: accept, accept-language)")]
    HeaderNotAllowed(String),
    #[error("request failed: {0}")]
    Http(String),
}
