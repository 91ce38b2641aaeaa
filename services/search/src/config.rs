//! `SearchConfig`: where the index lives and how it is fed.

use std::path::PathBuf;

/// Settings of one search service.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// Index directory (created if missing).
    pub index_dir: PathBuf,
    /// Memory budget of the index writer, in bytes.
    pub writer_heap_bytes: usize,
    /// OpenAI-compatible embeddings endpoint (`POST {model, input}`), if any.
    pub embeddings_url: Option<String>,
    /// Model name sent to the embeddings endpoint.
    pub embeddings_model: String,
    /// Bearer key of the embeddings endpoint, if any (given by the caller,
    /// never read from the environment here).
    pub embeddings_key_opt: Option<String>,
    /// Directories whose text files are indexed in the background at start.
    pub crawl_roots: Vec<PathBuf>,
    /// Directories under the crawl roots that are never indexed (the
    /// gateway's state directory, for one).
    pub crawl_excluded: Vec<PathBuf>,
    /// The service whose files the crawl mirrors (e.g. `fs`): crawled
    /// documents are tagged with it and shown only to callers the gateway
    /// says may read that service's content.
    pub crawl_source: Option<String>,
    /// Largest file the crawler indexes, in bytes.
    pub crawl_max_file_bytes: u64,
}

impl SearchConfig {
    /// Defaults for an index in `index_dir`.
    pub fn new(index_dir: PathBuf) -> Self {
        Self {
            index_dir,
            writer_heap_bytes: 64 * 1024 * 1024,
            embeddings_url: None,
            embeddings_model: "text-embedding-3-small".into(),
            embeddings_key_opt: None,
            crawl_roots: Vec::new(),
            crawl_excluded: Vec::new(),
            crawl_source: None,
            crawl_max_file_bytes: 1024 * 1024,
        }
    }
}
