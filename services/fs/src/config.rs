//! `FsConfig`: the roots and limits of one fs service.

use std::path::PathBuf;

/// Settings of one fs service.
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// Directories the service may read (each canonicalised at start).
    pub roots: Vec<PathBuf>,
    /// Directories (or files) inside the roots that are never served — e.g.
    /// the gateway's own state directory.
    pub excluded: Vec<PathBuf>,
    /// Serve files whose names hold credentials by convention (`.env`,
    /// `.git`, private keys: `micromcp_sdk::is_secret_name`); off by default.
    pub serve_secret_files: bool,
    /// Largest slice `read_file` returns in one call.
    pub max_read_bytes: u64,
    /// Largest file served as a resource.
    pub max_resource_bytes: u64,
    /// Most entries `list_dir` returns.
    pub max_list_entries: usize,
    /// Most matches `search_files` returns.
    pub max_search_results: usize,
    /// Most files `search_files` visits before giving up.
    pub max_search_visits: usize,
    /// Most files listed as concrete resources (top level of each root).
    pub max_listed_resources: usize,
}

impl FsConfig {
    /// Default limits over `roots`.
    pub fn with_roots(roots: Vec<PathBuf>) -> Self {
        Self {
            roots,
            excluded: Vec::new(),
            serve_secret_files: false,
            max_read_bytes: 1024 * 1024,
            max_resource_bytes: 4 * 1024 * 1024 * 1024,
            max_list_entries: 5_000,
            max_search_results: 1_000,
            max_search_visits: 200_000,
            max_listed_resources: 200,
        }
    }
}
