//! Opening a file a client named without ever blocking on it: the open is
//! non-blocking (a FIFO with no writer would otherwise hold the thread in
//! `open(2)` forever) and the opened descriptor's own type is checked, so
//! FIFOs, sockets and devices are refused before a byte is read — with no
//! window between a check and the open.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a path could not be opened as a regular file.
#[derive(Debug, thiserror::Error)]
pub enum OpenRegularError {
    /// The path names something other than a regular file.
    #[error("not a regular file (a {0})")]
    NotRegular(&'static str),
    /// `open` or `fstat` failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Opens `path` for reading if, and only if, it is a regular file.
pub fn open_regular_file(path: &Path) -> Result<File, OpenRegularError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            // Opening a Unix socket fails with ENXIO.
            Some(libc::ENXIO) => OpenRegularError::NotRegular("socket"),
            _ => OpenRegularError::Io(error),
        })?;
    let file_type = file.metadata()?.file_type();
    if file_type.is_file() {
        return Ok(file);
    }
    Err(OpenRegularError::NotRegular(if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "device"
    } else {
        "special file"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().expect("dir");
        let regular = dir.path().join("a.txt");
        std::fs::write(&regular, b"hello").expect("write");
        assert!(open_regular_file(&regular).is_ok());
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // Returns at once (a blocking open would hang this test).
        assert!(matches!(
            open_regular_file(&fifo),
            Err(OpenRegularError::NotRegular("FIFO"))
        ));
        assert!(matches!(
            open_regular_file(dir.path()),
            Err(OpenRegularError::NotRegular("directory"))
        ));
        let socket = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        assert!(matches!(
            open_regular_file(&socket),
            Err(OpenRegularError::NotRegular("socket"))
        ));
        assert!(matches!(
            open_regular_file(&dir.path().join("missing")),
            Err(OpenRegularError::Io(_))
        ));
    }
}
