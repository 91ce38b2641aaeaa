//! `RootSet`: resolves client-supplied paths against the read-only roots.
//!
//! Resolution order: reject NUL bytes; join relative paths to the first root;
//! normalise `.` and `..` lexically and refuse anything that climbs out of
//! every root (traversal); canonicalise (following symlinks) and refuse a
//! result outside every root (symlink escape) or inside an excluded
//! directory. Only the canonical path is ever opened.

use std::path::{Component, Path, PathBuf};

use crate::FsError;

/// The canonical roots of one fs service.
#[derive(Debug, Clone)]
pub struct RootSet {
    roots: Vec<PathBuf>,
    /// Never served, though inside a root (canonical where they exist).
    excluded: Vec<PathBuf>,
    /// Files named as credentials by convention are served too.
    secret_files_served: bool,
}

/// A path that passed every check: canonical and inside a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// Canonical absolute path (safe to open).
    pub canonical: PathBuf,
    /// The path relative to its root, `/`-separated, for display.
    pub display: String,
}

// === impl RootSet ===

impl RootSet {
    /// Canonicalises each root; fails naming the first root that is not a
    /// directory. `excluded` paths are refused wherever they are reached.
    pub fn new(roots: &[PathBuf], excluded: &[PathBuf]) -> Result<Self, String> {
        if roots.is_empty() {
            return Err("at least one root is required".into());
        }
        let mut canonical_roots = Vec::with_capacity(roots.len());
        for root in roots {
            let canonical = root
                .canonicalize()
                .map_err(|error| format!("root {}: {error}", root.display()))?;
            if !canonical.is_dir() {
                return Err(format!("root {} is not a directory", root.display()));
            }
            canonical_roots.push(canonical);
        }
        let mut canonical_excluded = Vec::with_capacity(excluded.len());
        for path in excluded {
            let absolute = std::path::absolute(path)
                .map_err(|error| format!("excluded path {}: {error}", path.display()))?;
            canonical_excluded.push(absolute.canonicalize().unwrap_or(absolute));
        }
        Ok(Self {
            roots: canonical_roots,
            excluded: canonical_excluded,
            secret_files_served: false,
        })
    }

    /// The same roots, serving files named as credentials (`.env`, `.git`,
    /// private keys) when `served`.
    pub fn serving_secret_files(mut self, served: bool) -> Self {
        self.secret_files_served = served;
        self
    }

    /// True when `path` (canonical) is, or is under, an excluded path — or,
    /// unless they are served, a name holding credentials by convention
    /// below its root (`.env`, `.git/…`, `id_rsa`, `*.pem`).
    pub fn is_excluded(&self, path: &Path) -> bool {
        if self
            .excluded
            .iter()
            .any(|excluded| path.starts_with(excluded))
        {
            return true;
        }
        !self.secret_files_served
            && self
                .root_of(path)
                .and_then(|root| path.strip_prefix(root).ok())
                .is_some_and(micromcp_sdk::has_secret_component)
    }

    /// The canonical roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The first root, against which relative paths resolve.
    pub fn primary(&self) -> &Path {
        &self.roots[0]
    }

    /// Resolves `requested` (relative to the first root, or absolute) to a
    /// canonical path inside a root.
    pub fn resolve(&self, requested: &str) -> Result<ResolvedPath, FsError> {
        if requested.contains('\0') {
            return Err(FsError::InvalidArgument("path contains a NUL byte".into()));
        }
        let requested_path = Path::new(if requested.is_empty() { "." } else { requested });
        let joined = if requested_path.is_absolute() {
            requested_path.to_path_buf()
        } else {
            self.primary().join(requested_path)
        };
        let normalised =
            normalise_lexically(&joined).ok_or_else(|| FsError::Traversal(requested.to_owned()))?;
        if self.root_of(&normalised).is_none() {
            return Err(
                if requested_path.is_absolute() && !requested.contains("..") {
                    FsError::OutsideRoots(requested.to_owned())
                } else {
                    FsError::Traversal(requested.to_owned())
                },
            );
        }
        let canonical = normalised
            .canonicalize()
            .map_err(|error| FsError::io(requested, &error))?;
        let root = self
            .root_of(&canonical)
            .ok_or_else(|| FsError::SymlinkEscape(requested.to_owned()))?;
        if self.is_excluded(&canonical) {
            return Err(FsError::OutsideRoots(requested.to_owned()));
        }
        let display = display_relative(root, &canonical);
        Ok(ResolvedPath { canonical, display })
    }

    /// The root that contains `path`, if any.
    pub fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .find(|root| path.starts_with(root))
            .map(PathBuf::as_path)
    }
}

/// `/`-separated path of `path` relative to `root` (`.` for the root itself).
pub(crate) fn display_relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let text = relative.to_string_lossy().replace('\\', "/");
    if text.is_empty() { ".".into() } else { text }
}

/// Resolves `.` and `..` without touching the filesystem; `None` if `..`
/// climbs above `/`.
fn normalise_lexically(path: &Path) -> Option<PathBuf> {
    let mut normalised = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => normalised.push(component.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !normalised.pop() || normalised.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::Normal(part) => normalised.push(part),
        }
    }
    Some(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_normalisation_handles_dots() {
        assert_eq!(
            normalise_lexically(Path::new("/a/./b/../c")),
            Some(PathBuf::from("/a/c"))
        );
        assert_eq!(normalise_lexically(Path::new("/..")), None);
    }

    #[test]
    fn display_is_relative_to_the_root() {
        assert_eq!(
            display_relative(Path::new("/r"), Path::new("/r/a/b")),
            "a/b"
        );
        assert_eq!(display_relative(Path::new("/r"), Path::new("/r")), ".");
    }
}
