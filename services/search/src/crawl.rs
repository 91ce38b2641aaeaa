//! The start-up crawler: indexes the text files under the configured roots
//! in the background (batches of 500, one commit each), with progress in the
//! log and in `search.stats`. Hidden directories and build outputs are
//! skipped; so are binary and oversized files. Each document carries its
//! file's stamp ([`crate::freshness`]). What an earlier crawl left
//! and this one would not index is dropped ([`crate::reconcile`]).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::json;

use crate::freshness::FileStamp;
use crate::{DocumentIndex, IndexedDocument};

const BATCH: usize = 500;
const SKIPPED_DIRECTORIES: [&str; 4] = ["target", "node_modules", "__pycache__", "venv"];

/// Progress of the background crawl.
#[derive(Debug, Default)]
pub struct CrawlProgress {
    pub files_seen: AtomicU64,
    pub files_indexed: AtomicU64,
    pub running: AtomicBool,
    pub finished: AtomicBool,
}

impl CrawlProgress {
    /// As JSON for `search.stats`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "files_seen": self.files_seen.load(Ordering::Relaxed),
            "files_indexed": self.files_indexed.load(Ordering::Relaxed),
            "running": self.running.load(Ordering::Relaxed),
            "finished": self.finished.load(Ordering::Relaxed),
        })
    }
}

/// What the crawl reads and how it tags what it indexes.
#[derive(Debug, Clone)]
pub struct CrawlScope {
    pub roots: Vec<PathBuf>,
    /// Nothing under these is read.
    pub excluded: Vec<PathBuf>,
    /// `source:NAME` of the service the crawl mirrors (`source:files` when
    /// none): marks its documents as crawled.
    pub source_tag: String,
}

impl CrawlScope {
    /// The tags of a crawled document: `file` and the source tag.
    fn tags(&self) -> Vec<String> {
        vec!["file".to_owned(), self.source_tag.clone()]
    }
}

/// True for a directory the crawl never enters (hidden ones, build outputs).
pub fn is_skipped_directory(name: &str) -> bool {
    name.starts_with('.') || SKIPPED_DIRECTORIES.contains(&name)
}

/// The text of the file at `path` and its stamp, taken from the open file
/// before its bytes are read (a change while they are read shows as a
/// later ctime); `None` for an empty, oversized, binary or unreadable file.
pub fn text_of(path: &Path, max_bytes: u64) -> Option<(String, FileStamp)> {
    // Never blocks on a FIFO or device that stands where a file was listed.
    let file = micromcp_sdk::open_regular_file(path).ok()?;
    let metadata = file.metadata().ok()?;
    let stamp = FileStamp::of(&metadata, SystemTime::now());
    let size = metadata.len();
    if size > max_bytes || size == 0 {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max_bytes).read_to_end(&mut bytes).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    Some((String::from_utf8(bytes).ok()?, stamp))
}

/// The document the crawl makes of the file at `path` (its id the file's
/// URI, its title the file name, tagged with the scope's tags and the
/// file's stamp), if it is text the crawl indexes.
pub fn crawled_document(
    path: &Path,
    scope: &CrawlScope,
    max_bytes: u64,
) -> Option<IndexedDocument> {
    let (body, stamp) = text_of(path, max_bytes)?;
    let uri = micromcp_sdk::file_uri(path);
    let mut tags = scope.tags();
    tags.push(stamp.to_tag());
    Some(IndexedDocument {
        id: uri.clone(),
        title: path.file_name()?.to_string_lossy().into_owned(),
        body,
        url: uri,
        tags,
        vector: None,
    })
}

/// Indexes every text file under the scope's roots (blocking; run it off
/// the runtime). Nothing under an excluded path is read. Crawled documents
/// it did not index again are dropped at the end.
pub fn crawl(index: &DocumentIndex, scope: &CrawlScope, max_bytes: u64, progress: &CrawlProgress) {
    progress.running.store(true, Ordering::Relaxed);
    let mut indexed: HashSet<String> = HashSet::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut pending: Vec<PathBuf> = scope
        .roots
        .iter()
        .filter_map(|root| root.canonicalize().ok())
        .collect();
    let excluded: Vec<PathBuf> = scope
        .excluded
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect();
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if excluded.iter().any(|path| entry.path().starts_with(path)) {
                continue;
            }
            // Credentials by convention (`.env`, keys) are never indexed.
            if micromcp_sdk::is_secret_name(&entry.file_name()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !is_skipped_directory(&name) {
                    pending.push(entry.path());
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            progress.files_seen.fetch_add(1, Ordering::Relaxed);
            let Some(document) = crawled_document(&entry.path(), scope, max_bytes) else {
                continue;
            };
            indexed.insert(document.id.clone());
            batch.push(document);
            if batch.len() >= BATCH {
                flush(index, &mut batch, progress);
            }
        }
    }
    flush(index, &mut batch, progress);
    match crate::reconcile::drop_not_indexed(index, &indexed) {
        Ok(0) => {}
        Ok(dropped) => tracing::info!(dropped, "crawled documents no longer indexed dropped"),
        Err(error) => tracing::warn!(%error, "cannot drop the documents the crawl left"),
    }
    progress.running.store(false, Ordering::Relaxed);
    progress.finished.store(true, Ordering::Relaxed);
    tracing::info!(
        files_indexed = progress.files_indexed.load(Ordering::Relaxed),
        "crawl finished"
    );
}

fn flush(index: &DocumentIndex, batch: &mut Vec<IndexedDocument>, progress: &CrawlProgress) {
    if batch.is_empty() {
        return;
    }
    match index.upsert(batch) {
        Ok(count) => {
            let total = progress
                .files_indexed
                .fetch_add(count as u64, Ordering::Relaxed)
                + count as u64;
            tracing::info!(
                files_indexed = total,
                files_seen = progress.files_seen.load(Ordering::Relaxed),
                "crawl progress"
            );
        }
        Err(error) => tracing::warn!(%error, "crawl batch failed"),
    }
    batch.clear();
}
