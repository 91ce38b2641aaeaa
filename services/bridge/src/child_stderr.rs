//! A stdio server's stderr, into the bridge's log: read through a pipe (the
//! server never holds the operator's terminal), one log line per line it
//! writes, at most [`MAX_LINE_BYTES`] each (longer ones are cut into
//! pieces), control characters escaped (no escape sequence reaches a
//! terminal, no forged log line), tagged with the server's name.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::ChildStderr;

/// Longest piece of a line logged at once.
pub const MAX_LINE_BYTES: u64 = 4096;

/// Logs `stderr` of `server` until it closes.
pub fn forward(server: String, stderr: ChildStderr) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    tracing::info!(server = %server, line = %escaped(&line), "server stderr");
                }
            }
        }
    });
}

/// `line` as text with its control characters (and a final newline) escaped.
pub fn escaped(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line)
        .chars()
        .map(|character| match character.is_control() {
            true => character.escape_default().to_string(),
            false => character.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped(b"plain text\n"), "plain text");
        assert_eq!(
            escaped(b"\x1b]0;owned\x07\x1b[2Jx\rforged INFO line\n"),
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jx\\rforged INFO line"
        );
        assert_eq!(escaped("caf\u{e9}\t".as_bytes()), "caf\u{e9}\\t");
    }
}
