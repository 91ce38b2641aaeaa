//! A crawled document is shown only while its file is as it was indexed.
//! The crawl stamps every document with its file's identity and change
//! times (`stamp:` tag: device, inode, size, mtime, ctime — read from the
//! open file before its bytes); before a hit, its snippet or a body leaves
//! the service, [`Freshness::is_current`] checks the file as it is now: one
//! the crawl would not read now (gone, not a regular file, reached through a
//! symlink, outside the roots, excluded) or whose stamp differs (edited,
//! replaced, `chmod`ed: ctime changes even when mtime is put back) is
//! dropped from the answer and queued for the [`Refresher`], which indexes
//! the file again or deletes its document. A stamp taken within
//! [`RACY_SECONDS`] of the file's last change may not see a change in the
//! same clock tick: such a document is compared with the file's bytes (and
//! stamped again once the file has settled).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crawl::{CrawlScope, text_of};
use crate::reconcile::{canonical, is_served, path_of_uri};
use crate::{DocumentIndex, IndexedDocument};

/// Tags starting with this carry a crawled document's [`FileStamp`].
pub const STAMP_TAG_PREFIX: &str = "stamp:";

/// A change this close to the stamp may share its clock tick.
pub const RACY_SECONDS: i64 = 3;

/// Stale documents waiting for the refresher, at most.
const REFRESH_QUEUE: usize = 4096;

/// What a crawled document records of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
    /// Changed within [`RACY_SECONDS`] of the stamp: compare the bytes too.
    racy: bool,
}

// === impl FileStamp ===

impl FileStamp {
    /// The stamp of a file whose metadata is `metadata`, taken at `now`.
    pub fn of(metadata: &std::fs::Metadata, now: SystemTime) -> Self {
        let now_seconds = now.duration_since(UNIX_EPOCH).map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
            racy: now_seconds.saturating_sub(metadata.ctime()) <= RACY_SECONDS,
        }
    }

    /// As a tag.
    pub fn to_tag(&self) -> String {
        format!(
            "{STAMP_TAG_PREFIX}{}:{}:{}:{}.{}:{}.{}:{}",
            self.device,
            self.inode,
            self.size,
            self.modified.0,
            self.modified.1,
            self.changed.0,
            self.changed.1,
            if self.racy { "racy" } else { "settled" }
        )
    }

    /// The stamp a document's tags carry, if any.
    pub fn of_tags(tags: &[String]) -> Option<Self> {
        let text = tags
            .iter()
            .find_map(|tag| tag.strip_prefix(STAMP_TAG_PREFIX))?;
        let mut parts = text.split(':');
        let mut number = || parts.next()?.parse::<u64>().ok();
        let (device, inode, size) = (number()?, number()?, number()?);
        let mut time = || -> Option<(i64, i64)> {
            let (seconds, nanos) = parts.next()?.split_once('.')?;
            Some((seconds.parse().ok()?, nanos.parse().ok()?))
        };
        let (modified, changed) = (time()?, time()?);
        let racy = match parts.next()? {
            "racy" => true,
            "settled" => false,
            _ => return None,
        };
        Some(Self {
            device,
            inode,
            size,
            modified,
            changed,
            racy,
        })
    }

    /// True when `metadata` is of the same, unchanged file.
    fn matches(&self, metadata: &std::fs::Metadata) -> bool {
        self.same_file(&Self::of(metadata, UNIX_EPOCH))
    }

    /// True when both stamps are of the same, unchanged file.
    fn same_file(&self, other: &Self) -> bool {
        let identity = |stamp: &Self| {
            (
                stamp.device,
                stamp.inode,
                stamp.size,
                stamp.modified,
                stamp.changed,
            )
        };
        identity(self) == identity(other)
    }
}

/// Checks crawled documents against their files before they are shown.
pub struct Freshness {
    roots: Vec<PathBuf>,
    excluded: Vec<PathBuf>,
    source_tag: String,
    max_bytes: u64,
    stale: SyncSender<String>,
}

// === impl Freshness ===

impl Freshness {
    /// A check for the crawl of `scope`, and the refresher that indexes
    /// again what it finds stale (run it on its own thread).
    pub fn new(scope: &CrawlScope, max_bytes: u64, index: Arc<DocumentIndex>) -> (Self, Refresher) {
        let (stale, queued) = sync_channel(REFRESH_QUEUE);
        let freshness = Self {
            roots: canonical(&scope.roots),
            excluded: canonical(&scope.excluded),
            source_tag: scope.source_tag.clone(),
            max_bytes,
            stale,
        };
        let refresher = Refresher {
            index: Arc::downgrade(&index),
            scope: scope.clone(),
            max_bytes,
            queued,
        };
        (freshness, refresher)
    }

    /// True when `document` may be shown: not crawled, or crawled from a
    /// file unchanged since. A stale one is queued for the refresher.
    pub fn is_current(&self, document: &IndexedDocument) -> bool {
        if !document
            .tags
            .iter()
            .any(|tag| tag.starts_with(crate::sources::SOURCE_TAG_PREFIX))
        {
            return true;
        }
        if self.file_unchanged(document) {
            return true;
        }
        self.queue(&document.id);
        false
    }

    fn file_unchanged(&self, document: &IndexedDocument) -> bool {
        if !document.tags.contains(&self.source_tag) {
            return false;
        }
        let (Some(path), Some(stamp)) = (
            path_of_uri(&document.id),
            FileStamp::of_tags(&document.tags),
        ) else {
            return false;
        };
        if !is_served(&path, &self.roots, &self.excluded) {
            return false;
        }
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            return false;
        };
        if !stamp.matches(&metadata) {
            return false;
        }
        if !stamp.racy {
            return true;
        }
        let Some((body, now)) = text_of(&path, self.max_bytes) else {
            return false;
        };
        let current = stamp.same_file(&now) && body == document.body;
        if current && !now.racy {
            // Settled since: stamped again, its next checks need only a stat.
            self.queue(&document.id);
        }
        current
    }

    /// Queues `id` for the refresher. When the queue is full the document
    /// stays as it is (hidden if stale) and is queued again when next seen.
    fn queue(&self, id: &str) {
        if let Err(TrySendError::Full(id)) = self.stale.try_send(id.to_owned()) {
            tracing::debug!(%id, "refresh queue full");
        }
    }
}

/// Indexes again (or deletes) the crawled documents found stale.
pub struct Refresher {
    /// Weak: the service owns the index; once it is dropped the index (and
    /// its writer's lock) goes at once, not when this thread next wakes.
    index: Weak<DocumentIndex>,
    scope: CrawlScope,
    max_bytes: u64,
    queued: Receiver<String>,
}

// === impl Refresher ===

impl Refresher {
    /// Runs until the [`Freshness`] is dropped (blocking: its own thread).
    pub fn run(self) {
        let roots = canonical(&self.scope.roots);
        let excluded = canonical(&self.scope.excluded);
        while let Ok(first) = self.queued.recv() {
            // Let a burst of queries queue its stale hits, then take them all.
            std::thread::sleep(Duration::from_millis(50));
            let mut ids: HashSet<String> = self.queued.try_iter().collect();
            ids.insert(first);
            let Some(index) = self.index.upgrade() else {
                return;
            };
            let mut fresh = Vec::new();
            let mut gone = Vec::new();
            for id in ids {
                let document = path_of_uri(&id)
                    .filter(|path| is_served(path, &roots, &excluded))
                    .and_then(|path| {
                        crate::crawl::crawled_document(&path, &self.scope, self.max_bytes)
                    });
                match document {
                    Some(document) if document.id == id => fresh.push(document),
                    _ => gone.push(id),
                }
            }
            if !gone.is_empty()
                && let Err(error) = index.delete(&gone)
            {
                tracing::warn!(%error, "cannot drop crawled documents of changed files");
            }
            if !fresh.is_empty()
                && let Err(error) = index.upsert(&fresh)
            {
                tracing::warn!(%error, "cannot index changed files again");
            }
            tracing::debug!(
                indexed = fresh.len(),
                dropped = gone.len(),
                "crawled documents of changed files refreshed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_round_trips_through_its_tag() {
        let stamp = FileStamp {
            device: 2049,
            inode: 77,
            size: 12,
            modified: (1_700_000_000, 5),
            changed: (1_700_000_001, 999_999_999),
            racy: true,
        };
        let tags = vec!["file".to_owned(), stamp.to_tag()];
        assert_eq!(FileStamp::of_tags(&tags), Some(stamp));
        assert_eq!(FileStamp::of_tags(&["file".to_owned()]), None);
        assert_eq!(FileStamp::of_tags(&["stamp:1:2:3:4.5".to_owned()]), None);
        assert_eq!(
            FileStamp::of_tags(&["stamp:1:2:3:4.5:6.7:maybe".to_owned()]),
            None
        );
    }
}
