//! [`FileSingleUse`]: the used round ids of [`InProcessSingleUse`] also
//! written to a journal beside the session key, so an approval used before
//! a restart stays used after it (the sealed round outlives the process:
//! the key is the same). One line per id (`hex id` + expiry), appended and
//! fsync'd before the call goes on; on open the journal is read, expired
//! ids dropped and the rest written back compacted; it is compacted again
//! whenever it holds twice as many lines as the store keeps live ids.
//! Created 0600, never through a symbolic link.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::single_use::{
    InProcessSingleUse, RoundId, RoundUse, SingleUseError, SingleUseStore, now_unix,
};

/// Used round ids kept in this process and in a journal file.
pub struct FileSingleUse {
    inner: InProcessSingleUse,
    path: PathBuf,
    journal: Mutex<Journal>,
}

struct Journal {
    file: File,
    lines: usize,
}

/// The journal beside the session key `session_key_file`.
pub fn journal_path(session_key_file: &Path) -> PathBuf {
    let mut name = session_key_file.as_os_str().to_owned();
    name.push(".used-approvals");
    PathBuf::from(name)
}

fn open_private(path: &Path, append: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW);
    if append {
        options.append(true);
    } else {
        options.write(true).truncate(true);
    }
    options.open(path)
}

/// A journal line: `hex id`, expiry, `hex owner`.
fn line_of(id: &RoundId, expires_unix: u64, owner: &str) -> String {
    format!(
        "{} {expires_unix} {}\n",
        hex::encode(id),
        hex::encode(owner)
    )
}

fn parse(line: &str) -> Option<(RoundId, u64, String)> {
    let mut words = line.split(' ');
    let id: RoundId = hex::decode(words.next()?).ok()?.try_into().ok()?;
    let expires = words.next()?.trim().parse().ok()?;
    let owner = String::from_utf8(hex::decode(words.next().unwrap_or("").trim()).ok()?).ok()?;
    Some((id, expires, owner))
}

// === impl FileSingleUse ===

impl FileSingleUse {
    /// Opens (or creates) the journal at `path`, keeping at most `capacity`
    /// live ids; the ids still live in it are used already.
    pub fn open(path: &Path, capacity: usize, per_owner: usize) -> Result<Self, SingleUseError> {
        let io = |error: std::io::Error| SingleUseError::Io(format!("{}: {error}", path.display()));
        let inner = InProcessSingleUse::new(capacity, per_owner);
        let now = now_unix();
        match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(io)?;
                    if let Some((id, expires, owner)) = parse(&line)
                        && expires >= now
                    {
                        let _ = inner.record(&id, expires, &owner);
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(error)),
        }
        let store = Self {
            journal: Mutex::new(Journal {
                file: open_private(path, true).map_err(io)?,
                lines: 0,
            }),
            inner,
            path: path.to_owned(),
        };
        let mut journal = store.journal.lock().unwrap_or_else(PoisonError::into_inner);
        store.compact(&mut journal)?;
        drop(journal);
        Ok(store)
    }

    /// Rewrites the journal with the live ids only (a staged copy renamed
    /// over it).
    fn compact(&self, journal: &mut Journal) -> Result<(), SingleUseError> {
        let io =
            |error: std::io::Error| SingleUseError::Io(format!("{}: {error}", self.path.display()));
        let live = self.inner.live(now_unix());
        let mut staged_name = self.path.as_os_str().to_owned();
        staged_name.push(".staged");
        let staged = PathBuf::from(staged_name);
        let _ = std::fs::remove_file(&staged);
        let mut file = open_private(&staged, false).map_err(io)?;
        let mut text = String::with_capacity(live.len() * 60);
        for (id, expires, owner) in &live {
            text.push_str(&line_of(id, *expires, owner));
        }
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&staged, &self.path).map_err(io)?;
        journal.file = open_private(&self.path, true).map_err(io)?;
        journal.lines = live.len();
        Ok(())
    }
}

impl SingleUseStore for FileSingleUse {
    fn record(
        &self,
        id: &RoundId,
        expires_unix: u64,
        owner: &str,
    ) -> Result<RoundUse, SingleUseError> {
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let used = self.inner.record(id, expires_unix, owner)?;
        if used == RoundUse::First {
            if journal.lines >= 2 * self.inner.capacity().max(1) {
                self.compact(&mut journal)?;
            }
            let line = line_of(id, expires_unix, owner);
            let written = journal
                .file
                .write_all(line.as_bytes())
                .and_then(|()| journal.file.sync_data());
            // Not written down: not a use that survives a restart, so no call.
            written
                .map_err(|error| SingleUseError::Io(format!("{}: {error}", self.path.display())))?;
            journal.lines += 1;
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_rounds_survive_a_reopen_and_expired_ones_are_dropped() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = journal_path(&directory.path().join("session.key"));
        let now = now_unix();
        {
            let store = FileSingleUse::open(&path, 10, 10).expect("open");
            assert_eq!(
                store.record(&[1; 24], now + 600, "alice"),
                Ok(RoundUse::First)
            );
            assert_eq!(
                store.record(&[2; 24], now + 600, "alice"),
                Ok(RoundUse::First)
            );
        }
        std::fs::write(
            &path,
            format!(
                "{}{} {} {}\nnonsense\n",
                std::fs::read_to_string(&path).expect("read"),
                hex::encode([3; 24]),
                now - 1,
                hex::encode("alice")
            ),
        )
        .expect("append an expired id");
        let reopened = FileSingleUse::open(&path, 10, 10).expect("reopen");
        assert_eq!(
            reopened.record(&[1; 24], now + 600, "alice"),
            Ok(RoundUse::Replay)
        );
        assert_eq!(
            reopened.record(&[3; 24], now + 600, "alice"),
            Ok(RoundUse::First)
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3, "compacted: {text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = directory.path().join("link");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        assert!(
            FileSingleUse::open(&link, 10, 10).is_err(),
            "never through a link"
        );
    }
}
