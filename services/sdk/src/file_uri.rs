//! `file://` URIs for local paths, shared by every service that exposes
//! files (fs resources, search's crawled documents) so they name a file the
//! same way.

use std::path::Path;

/// `file://` URI of an absolute path, percent-encoding all but unreserved
/// characters and `/`.
pub fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bytes_are_encoded() {
        assert_eq!(
            file_uri(Path::new("/tmp/a b/ü.txt")),
            "file:///tmp/a%20b/%C3%BC.txt"
        );
    }
}
