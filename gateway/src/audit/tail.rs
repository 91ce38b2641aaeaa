//! The last records of an audit file written by earlier runs, read once at
//! start so that the admin API's `/api/audit` shows what happened before a
//! restart too. Only the file's last [`TAIL_BYTES`] are read; a partial
//! first line, a line that is not one JSON object with a `time` (a torn
//! write, an edit by hand) or one longer than the tail is left out — the API concatenates
//! records as they are, so only whole JSON objects may enter.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How much of the file's end is read at start.
const TAIL_BYTES: u64 = 512 * 1024;

/// Up to `keep` whole records from the end of the file at `path`, oldest
/// first; none when it is missing or unreadable.
pub fn last_records(path: &Path, keep: usize) -> VecDeque<String> {
    let mut records = VecDeque::with_capacity(keep);
    let Ok(mut file) = std::fs::File::open(path) else {
        return records;
    };
    let Ok(length) = file.metadata().map(|metadata| metadata.len()) else {
        return records;
    };
    let start = length.saturating_sub(TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return records;
    }
    let mut bytes = Vec::new();
    if file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err() {
        return records;
    }
    let mut lines = bytes.split(|byte| *byte == b'\n');
    if start > 0 {
        // Begins inside a record.
        lines.next();
    }
    for line in lines {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let text = text.trim();
        // A record the gateway wrote: an object with its time (the admin
        // page reads `time` of every record it shows).
        let whole = serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|value| value.get("time").is_some_and(serde_json::Value::is_string));
        if !whole {
            continue;
        }
        if records.len() == keep {
            records.pop_front();
        }
        records.push_back(text.to_owned());
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_json_objects_of_the_files_end_are_kept() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("audit.jsonl");
        let mut text = String::new();
        for index in 0..10 {
            text.push_str(&format!("{{\"time\":\"t\",\"n\":{index}}}\n"));
        }
        text.push_str("not json\n[1,2]\n{\"x\":1}\n{\"torn\":\n");
        std::fs::write(&path, text).expect("the file written");
        let kept = last_records(&path, 3);
        assert_eq!(
            kept,
            [
                "{\"time\":\"t\",\"n\":7}",
                "{\"time\":\"t\",\"n\":8}",
                "{\"time\":\"t\",\"n\":9}"
            ]
        );
        assert!(last_records(&dir.path().join("missing"), 3).is_empty());
    }

    #[test]
    fn a_file_larger_than_the_tail_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("audit.jsonl");
        let filler = format!("{{\"time\":\"t\",\"pad\":\"{}\"}}\n", "x".repeat(1000));
        let text = filler.repeat(1000);
        std::fs::write(&path, &text).expect("the file written");
        let kept = last_records(&path, 10_000);
        assert!(!kept.is_empty() && kept.len() < 1000);
        assert!(kept.iter().all(|record| record.contains("\"pad\"")));
    }
}
