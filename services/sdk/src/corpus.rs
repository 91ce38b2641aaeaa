//! The fuzz corpora kept in the repository (`fuzz/corpus/<target>/`): one
//! file per hostile input that once broke a parser or is close to one.
//! Each crate's fuzz tests replay every file of their target besides the
//! generated cases; a crash found later is added here as a file.

use std::path::PathBuf;

/// Every `(file name, bytes)` of corpus `target` (`"envelope"`, `"glob"`, …),
/// sorted by name; panics when the directory is missing or empty (a test
/// that replays nothing must not pass).
pub fn fuzz_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes =
                std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (name, bytes)
        })
        .collect();
    assert!(!files.is_empty(), "{}: empty corpus", directory.display());
    files.sort();
    files
}
