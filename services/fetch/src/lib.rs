//! Micro-MCP `fetch` service: HTTP(S) GET for models, behind a domain
//! allowlist and an address policy that defeats SSRF.
//!
//! Every URL (and every redirect hop, followed by hand) passes
//! [`policy::UrlPolicy::check_url`]: http/https only, host on the allowlist
//! (exact hosts and `*.suffix` patterns; an empty list allows nothing).
//! Names are resolved by [`resolver::PolicyResolver`], which drops private,
//! loopback, link-local, multicast, unspecified and IPv4-mapped addresses
//! unless allowed, and the connection goes to exactly the addresses it
//! returned (so DNS rebinding cannot swap them). IP-literal URLs are checked
//! the same way. Bodies are streamed and cut at the size cap; the whole fetch
//! is bounded in time. Tools: `get` (text) and `get_markdown` (HTML → Markdown).

mod config;
mod error;
mod fetcher;
mod markdown;
mod policy;
mod resolver;
mod service;

pub use config::FetchConfig;
pub use error::FetchError;
pub use policy::{AddressClass, UrlPolicy, check_domain_pattern, classify_address};
pub use service::FetchService;
