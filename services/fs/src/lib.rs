//! Micro-MCP `fs` service: read-only access to a set of root directories.
//!
//! Every path a client names is resolved by [`paths::RootSet`]: normalised,
//! canonicalised (symlinks followed) and checked to lie inside a root, so
//! `..` traversal and symlinks that leave a root are refused with distinct,
//! path-safe errors. Tools: `list_dir`, `stat`, `read_file`, `search_files`;
//! files are also resources (`file://` URIs) streamed in chunks; one prompt
//! (`summarize_file`) and path completion.

mod catalog;
mod config;
mod error;
mod paths;
mod resources;
mod service;
mod tools;

pub use config::FsConfig;
pub use error::FsError;
pub use paths::RootSet;
pub use service::FsService;
