//! Where audit lines go: standard output, or an append-only file rotated by
//! size (`audit.jsonl` → `audit.jsonl.1` … `.keep`). Each line is one
//! `write` into the kernel before the request's answer is released, so a
//! crash of the gateway loses no record; `fsync` then bounds what a crash
//! of the machine can lose (every record, or every interval).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::FsyncPolicy;

/// A rotated audit file.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    fsync: FsyncPolicy,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    /// Shared with the fsync thread, which syncs outside the lock.
    file: Arc<File>,
    size: u64,
    /// Written since the last fsync.
    dirty: bool,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    // Never through a link, and only this uid's own file (`owned_file`).
    crate::config::owned_file::open_append(path).map_err(std::io::Error::other)
}

fn numbered(path: &Path, number: usize) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(format!(".{number}"));
    PathBuf::from(text)
}

// === impl FileSink ===

impl FileSink {
    /// Opens (creating) `path` for appending.
    pub fn open(
        path: &Path,
        max_bytes: u64,
        keep: usize,
        fsync: FsyncPolicy,
    ) -> std::io::Result<Arc<Self>> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        let sink = Arc::new(Self {
            path: path.to_owned(),
            max_bytes,
            keep,
            fsync,
            state: Mutex::new(FileState {
                file: Arc::new(file),
                size,
                dirty: false,
            }),
        });
        if let FsyncPolicy::Interval(every) = fsync {
            let weak = Arc::downgrade(&sink);
            std::thread::Builder::new()
                .name("audit-fsync".into())
                .spawn(move || {
                    while let Some(sink) = weak.upgrade() {
                        let _ = sink.sync();
                        drop(sink);
                        std::thread::sleep(every);
                    }
                })?;
        }
        Ok(sink)
    }

    /// Appends one line (ending in `\n`), rotating first if it would pass
    /// `max_bytes`.
    pub fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("audit file lock poisoned"))?;
        if state.size > 0 && state.size + line.len() as u64 > self.max_bytes {
            self.rotate(&mut state)?;
        }
        (&*state.file).write_all(line)?;
        state.size += line.len() as u64;
        match self.fsync {
            FsyncPolicy::Always => state.file.sync_data()?,
            FsyncPolicy::Interval(_) => state.dirty = true,
            FsyncPolicy::Never => {}
        }
        Ok(())
    }

    /// Forces what was written to disk (shutdown, interval thread).
    pub fn sync(&self) -> std::io::Result<()> {
        let file = {
            let Ok(mut state) = self.state.lock() else {
                return Ok(());
            };
            if !std::mem::take(&mut state.dirty) {
                return Ok(());
            }
            state.file.clone()
        };
        file.sync_data()
    }

    fn rotate(&self, state: &mut FileState) -> std::io::Result<()> {
        state.file.sync_data()?;
        let _ = std::fs::remove_file(numbered(&self.path, self.keep));
        for number in (1..self.keep).rev() {
            let from = numbered(&self.path, number);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.path, number + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        state.file = Arc::new(open_append(&self.path)?);
        state.size = 0;
        state.dirty = false;
        Ok(())
    }
}

/// The sink records go to.
#[derive(Debug)]
pub enum Sink {
    Stdout,
    File(Arc<FileSink>),
}

// === impl Sink ===

impl Sink {
    /// Writes one line.
    pub fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Stdout => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(line)?;
                stdout.flush()
            }
            Self::File(file) => file.write_line(line),
        }
    }

    /// Forces written records to disk.
    pub fn sync(&self) -> std::io::Result<()> {
        match self {
            Self::Stdout => std::io::stdout().lock().flush(),
            Self::File(file) => file.sync(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn files_rotate_by_size_and_keep_only_the_newest() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("logs/audit.jsonl");
        let sink = FileSink::open(&path, 100, 2, FsyncPolicy::Always).expect("open");
        let line = [b'x'; 39]
            .iter()
            .copied()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        for _ in 0..7 {
            sink.write_line(&line).expect("write");
        }
        // 40-byte lines, at most 100 bytes a file: 2 per file, 7 lines →
        // current 1 line, .1 and .2 two each, the oldest pair deleted.
        let size = |path: &Path| std::fs::metadata(path).map(|meta| meta.len()).ok();
        assert_eq!(size(&path), Some(40));
        assert_eq!(size(&numbered(&path, 1)), Some(80));
        assert_eq!(size(&numbered(&path, 2)), Some(80));
        assert_eq!(size(&numbered(&path, 3)), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn reopening_appends_after_what_is_there() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        let first = FileSink::open(&path, 1 << 20, 3, FsyncPolicy::Never).expect("open");
        first.write_line(b"{\"a\":1}\n").expect("write");
        drop(first);
        let second = FileSink::open(
            &path,
            1 << 20,
            3,
            FsyncPolicy::Interval(Duration::from_millis(5)),
        )
        .expect("open");
        second.write_line(b"{\"a\":2}\n").expect("write");
        second.sync().expect("sync");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
    }
}
