//! Keeps the crawled documents to what the crawl serves now. An index
//! outlives its crawl's settings: `up --root B` in the directory of an
//! earlier `up --root A`, a file deleted while the service was down, two
//! configs sharing one `index_dir`. At open, before anything is served,
//! every crawled document (a `source:` tag) is dropped unless its file is
//! one the current crawl would read — a regular file (no symlink on the
//! way) under a current root, outside the excluded paths and the skipped
//! directories, crawled for the current source. After the crawl, crawled
//! documents it did not index again (a file now binary or too large) go
//! too.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use crate::crawl::{CrawlScope, is_skipped_directory};
use crate::{DocumentIndex, SearchError};

/// Drops the crawled documents `scope` would not index now; returns how many.
pub fn drop_unserved(index: &DocumentIndex, scope: &CrawlScope) -> Result<usize, SearchError> {
    let roots = canonical(&scope.roots);
    let excluded = canonical(&scope.excluded);
    let stale: Vec<String> = index
        .crawled_documents()?
        .into_iter()
        .filter(|(id, tags)| {
            !(tags.contains(&scope.source_tag)
                && path_of_uri(id).is_some_and(|path| is_served(&path, &roots, &excluded)))
        })
        .map(|(id, _)| id)
        .collect();
    if !stale.is_empty() {
        index.delete(&stale)?;
    }
    Ok(stale.len())
}

/// Drops the crawled documents a finished crawl did not index (`indexed`).
pub fn drop_not_indexed(
    index: &DocumentIndex,
    indexed: &HashSet<String>,
) -> Result<usize, SearchError> {
    let stale: Vec<String> = index
        .crawled_documents()?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !indexed.contains(id))
        .collect();
    if !stale.is_empty() {
        index.delete(&stale)?;
    }
    Ok(stale.len())
}

pub(crate) fn canonical(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect()
}

/// True when the crawl would read `path`: a regular file reached without a
/// symlink, under one of `roots` (canonical), outside `excluded`, with no
/// hidden or skipped directory between.
pub(crate) fn is_served(path: &Path, roots: &[PathBuf], excluded: &[PathBuf]) -> bool {
    let regular = std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file());
    let direct = path.canonicalize().is_ok_and(|resolved| resolved == path);
    regular && direct && is_in_scope(path, roots, excluded)
}

/// The path rules of [`is_served`], without the file system.
fn is_in_scope(path: &Path, roots: &[PathBuf], excluded: &[PathBuf]) -> bool {
    if excluded.iter().any(|outside| path.starts_with(outside)) {
        return false;
    }
    roots.iter().any(|root| {
        let Ok(relative) = path.strip_prefix(root) else {
            return false;
        };
        if micromcp_sdk::has_secret_component(relative) {
            return false;
        }
        let mut directories: Vec<Component> = relative.components().collect();
        directories.pop();
        directories.iter().all(|component| match component {
            Component::Normal(name) => !is_skipped_directory(&name.to_string_lossy()),
            _ => false,
        })
    })
}

/// The path of a crawled document's `file://` id (the inverse of
/// `micromcp_sdk::file_uri`); `None` for anything else.
pub(crate) fn path_of_uri(uri: &str) -> Option<PathBuf> {
    let encoded = uri.strip_prefix("file://")?.as_bytes();
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut position = 0;
    while position < encoded.len() {
        match encoded[position] {
            b'%' => {
                let hex = std::str::from_utf8(encoded.get(position + 1..position + 3)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                position += 3;
            }
            byte => {
                bytes.push(byte);
                position += 1;
            }
        }
    }
    let path = PathBuf::from(OsString::from_vec(bytes));
    path.is_absolute().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_uri_decodes_to_its_path() {
        let path = Path::new("/tmp/a b/ü.txt");
        assert_eq!(
            path_of_uri(&micromcp_sdk::file_uri(path)).as_deref(),
            Some(path)
        );
        assert_eq!(path_of_uri("doc-7"), None);
        assert_eq!(path_of_uri("file://%4"), None);
        assert_eq!(path_of_uri("file://relative"), None);
    }

    #[test]
    fn only_files_under_a_current_root_are_in_scope() {
        let roots = [PathBuf::from("/srv/b")];
        let excluded = [
            PathBuf::from("/srv/b/.micromcp"),
            PathBuf::from("/srv/b/private"),
        ];
        assert!(is_in_scope(
            Path::new("/srv/b/docs/a.md"),
            &roots,
            &excluded
        ));
        assert!(
            !is_in_scope(Path::new("/srv/a/docs/a.md"), &roots, &excluded),
            "another root"
        );
        assert!(
            !is_in_scope(Path::new("/srv/bb/a.md"), &roots, &excluded),
            "a sibling"
        );
        assert!(!is_in_scope(
            Path::new("/srv/b/private/k.txt"),
            &roots,
            &excluded
        ));
        assert!(
            !is_in_scope(Path::new("/srv/b/.git/HEAD"), &roots, &excluded),
            "hidden"
        );
        assert!(!is_in_scope(
            Path::new("/srv/b/node_modules/x.js"),
            &roots,
            &excluded
        ));
        assert!(
            is_in_scope(Path::new("/srv/b/.hidden-file"), &roots, &excluded),
            "a file, not a directory"
        );
        assert!(
            !is_in_scope(Path::new("/srv/b/a.md"), &[], &[]),
            "no roots: nothing"
        );
    }
}
