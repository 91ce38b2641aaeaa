//! Files the gateway trusts with its state (token, session key, tool pins,
//! registrations, audit log): read or written only when they are this
//! process's own. Each is opened with `O_NOFOLLOW` and checked on the open
//! descriptor — owned by the effective uid, writable by nobody else, a
//! regular file — and new ones are created `O_EXCL` with mode 0600. A file
//! another local user planted (in a shared directory, `/tmp`) or a symlink
//! to somewhere else stops the start with an error naming the path.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Deepest directory level `check_tree` walks.
const MAX_TREE_DEPTH: usize = 8;

/// Why a state file or directory is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum OwnedFileError {
    #[error("{path}: is a symbolic link; state files must be regular files (remove it)")]
    Symlink { path: PathBuf },
    #[error(
        "{path}: owned by uid {owner}, not by this process's uid {expected}; another user may have planted it (remove it, or run where only you can write)"
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        expected: u32,
    },
    #[error(
        "{path}: writable by group or others (mode {mode:o}); another user could change it (chmod go-w)"
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("{path}: not a {expected}")]
    Kind {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The effective uid the files must belong to (the second `Uid:` field of
/// `/proc/self/status`, readable by the process even when non-dumpable;
/// this crate has no `unsafe` for `geteuid`). `u32::MAX` (no file's owner)
/// when it cannot be read.
pub fn effective_uid() -> u32 {
    static EFFECTIVE_UID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *EFFECTIVE_UID.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("Uid:"))
                    .and_then(|ids| ids.split_whitespace().nth(1))
                    .and_then(|id| id.parse().ok())
            })
            .unwrap_or(u32::MAX)
    })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OwnedFileError + '_ {
    move |source| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            OwnedFileError::Symlink {
                path: path.to_owned(),
            }
        } else {
            OwnedFileError::Io {
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// Fails unless `metadata` (of `path`, never followed) is owned by the
/// effective uid and writable by nobody else.
pub fn check_metadata(path: &Path, metadata: &Metadata) -> Result<(), OwnedFileError> {
    if metadata.file_type().is_symlink() {
        return Err(OwnedFileError::Symlink {
            path: path.to_owned(),
        });
    }
    let expected = effective_uid();
    if metadata.uid() != expected {
        return Err(OwnedFileError::Owner {
            path: path.to_owned(),
            owner: metadata.uid(),
            expected,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(OwnedFileError::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Checks the directory `path` and everything in it (never following a
/// link): each entry must be this uid's own, and neither the directory nor
/// the files directly in it (the state files) writable by group or others.
/// Deeper down (the search index, written under the user's umask, 0664
/// under umask 002) writability counts only where the directory above lets
/// group or others in: behind a private directory nobody else reaches it.
pub fn check_tree(path: &Path) -> Result<(), OwnedFileError> {
    check_level(path, 0, true)
}

fn check_level(path: &Path, depth: usize, reachable: bool) -> Result<(), OwnedFileError> {
    let metadata = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    let strict = reachable || depth == 0 || (depth == 1 && !metadata.is_dir());
    match check_metadata(path, &metadata) {
        Err(OwnedFileError::Writable { .. }) if !strict => {}
        checked => checked?,
    }
    if !metadata.is_dir() || depth >= MAX_TREE_DEPTH {
        return Ok(());
    }
    let others_enter = metadata.mode() & 0o011 != 0;
    for entry in std::fs::read_dir(path).map_err(io_error(path))? {
        let entry = entry.map_err(io_error(path))?;
        check_level(&entry.path(), depth + 1, reachable && others_enter)?;
    }
    Ok(())
}

/// Checks a directory that holds state files named by the config (where
/// links are resolved first, as the files' opens resolve them): this uid's
/// own or root's, and writable by neither group nor others — else another
/// user could swap a checked file for their own or plant one the gateway
/// has yet to create.
pub fn check_directory(path: &Path) -> Result<(), OwnedFileError> {
    let resolved = path.canonicalize().map_err(io_error(path))?;
    let metadata = std::fs::metadata(&resolved).map_err(io_error(&resolved))?;
    if !metadata.is_dir() {
        return Err(OwnedFileError::Kind {
            path: resolved,
            expected: "directory",
        });
    }
    let expected = effective_uid();
    if metadata.uid() != expected && metadata.uid() != 0 {
        return Err(OwnedFileError::Owner {
            path: resolved,
            owner: metadata.uid(),
            expected,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(OwnedFileError::Writable {
            path: resolved,
            mode,
        });
    }
    Ok(())
}

/// Opens `path` for reading without following a link, checked as own;
/// `None` when it does not exist.
pub fn open_read(path: &Path) -> Result<Option<File>, OwnedFileError> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    check_open(path, &file)?;
    Ok(Some(file))
}

/// Reads `path` as text (see `open_read`); `None` when it does not exist.
pub fn read_to_string(path: &Path) -> Result<Option<String>, OwnedFileError> {
    let Some(mut file) = open_read(path)? else {
        return Ok(None);
    };
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_error(path))?;
    Ok(Some(text))
}

/// Creates `path` (mode 0600, `O_EXCL`: never an existing file or link).
pub fn create_new(path: &Path) -> Result<File, OwnedFileError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_error(path))
}

/// Opens `path` for appending, creating it 0600 when missing; an existing
/// one must be this uid's own regular file.
pub fn open_append(path: &Path) -> Result<File, OwnedFileError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_error(path))?;
    check_open(path, &file)?;
    Ok(file)
}

fn check_open(path: &Path, file: &File) -> Result<(), OwnedFileError> {
    let metadata = file.metadata().map_err(io_error(path))?;
    if !metadata.is_file() {
        return Err(OwnedFileError::Kind {
            path: path.to_owned(),
            expected: "regular file",
        });
    }
    check_metadata(path, &metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn links_and_writable_files_are_refused_and_own_files_read() {
        let dir = tempfile::tempdir().expect("dir");
        let own = dir.path().join("own");
        std::fs::write(&own, "kept").expect("write");
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_to_string(&own).expect("own").as_deref(), Some("kept"));
        assert!(
            read_to_string(&dir.path().join("absent"))
                .expect("absent")
                .is_none()
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&own, &link).expect("symlink");
        assert!(matches!(
            read_to_string(&link),
            Err(OwnedFileError::Symlink { .. })
        ));
        assert!(matches!(
            open_append(&link),
            Err(OwnedFileError::Symlink { .. })
        ));
        assert!(create_new(&link).is_err(), "never through a link");
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o622)).expect("chmod");
        let refused = read_to_string(&own).expect_err("writable").to_string();
        assert!(refused.contains("writable by group or others"), "{refused}");
        assert!(check_tree(dir.path()).is_err(), "the tree holds a link");
        std::fs::remove_file(&link).expect("rm");
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        check_tree(dir.path()).expect("own tree");
        // Behind the private directory, a group-writable index is no one else's to reach.
        let index = dir.path().join("search");
        std::fs::create_dir(&index).expect("mkdir");
        std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o775)).expect("chmod");
        std::fs::write(index.join("segment"), "x").expect("write");
        std::fs::set_permissions(
            index.join("segment"),
            std::fs::Permissions::from_mode(0o664),
        )
        .expect("chmod");
        check_tree(dir.path()).expect("private above the index");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
            .expect("chmod");
        assert!(
            check_tree(dir.path()).is_err(),
            "reachable through a 0711 directory"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let created = dir.path().join("new");
        create_new(&created).expect("create");
        let mode = std::fs::metadata(&created)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(create_new(&created).is_err(), "O_EXCL");
    }
}
