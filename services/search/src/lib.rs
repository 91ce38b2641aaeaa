//! Micro-MCP `search` service: a tantivy index on disk with BM25 queries
//! (tantivy's query language, tag filters, pagination, highlighted snippets),
//! dense vectors stored with the documents and searched exactly by cosine
//! similarity, and hybrid ranking by weighted reciprocal rank fusion.
//!
//! Crawled documents mirror files: each is shown (hit, snippet, body) only
//! while its file is as it was indexed ([`Freshness`]).
//!
//! Durability: every `index`/`delete` call commits before it answers, so a
//! document acknowledged is on disk (tantivy commits atomically; a crash or
//! `kill -9` keeps the last commit). All index and query work runs on tokio's
//! blocking pool, never on the async runtime.

mod config;
mod crawl;
mod embed;
mod error;
mod freshness;
mod fusion;
mod index;
mod query_shape;
mod reconcile;
mod service;
mod sources;
mod tools;
mod vectors;

pub use config::SearchConfig;
pub use crawl::{CrawlProgress, CrawlScope, crawled_document};
pub use embed::EMBEDDINGS_KEY_ENV;
pub use error::SearchError;
pub use freshness::{Freshness, Refresher};
pub use fusion::reciprocal_rank_fusion;
pub use index::{DocumentIndex, IndexedDocument, QueryHit};
pub use service::SearchService;
pub use vectors::VectorStore;
