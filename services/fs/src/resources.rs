//! Files as MCP resources: `file://` URI ↔ path mapping (percent-encoded),
//! MIME guessing, and streaming a file in 64 KiB chunks so memory stays flat
//! whatever the file's size.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use micromcp_proto::{MAX_RESOURCE_CHUNK_BYTES, ResourceHeader};
use micromcp_sdk::{BlockingPool, ResourceContent, ServiceError, open_regular_file};
use tokio::io::AsyncReadExt;

use crate::FsError;
use crate::paths::ResolvedPath;

/// `file://` URI of an absolute path (the SDK's shared encoding).
pub(crate) fn path_to_uri(path: &Path) -> String {
    micromcp_sdk::file_uri(path)
}

/// The path named by a `file://` URI, percent-decoded.
pub(crate) fn uri_to_path(uri: &str) -> Result<String, FsError> {
    let rest = uri
        .strip_prefix("file://")
        .ok_or_else(|| FsError::InvalidArgument(format!("not a file:// URI: {uri}")))?;
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(FsError::InvalidArgument(format!(
            "file URI must be absolute: {uri}"
        )));
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes
                .get(index + 1..index + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| {
                    FsError::InvalidArgument(format!("bad percent-encoding in {uri}"))
                })?;
            decoded.push(hex);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded)
        .map_err(|_| FsError::InvalidArgument(format!("URI is not UTF-8 after decoding: {uri}")))
}

/// MIME type from the file name; `application/octet-stream` when unknown.
pub(crate) fn guess_mime(path: &Path) -> &'static str {
    mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream")
}

fn mime_is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/toml"
                | "application/x-sh"
                | "application/yaml"
        )
}

/// True when `sample` (the start of a file) looks like UTF-8 text.
pub(crate) fn sample_is_text(sample: &[u8]) -> bool {
    if sample.contains(&0) {
        return false;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sample is still text.
        Err(error) => error.error_len().is_none() && sample.len() - error.valid_up_to() < 4,
    }
}

/// Opens `resolved` and streams it; fails before any byte is sent if the file
/// is not a regular file or exceeds `max_bytes`.
pub(crate) async fn open_stream(
    pool: &BlockingPool,
    resolved: &ResolvedPath,
    uri: &str,
    max_bytes: u64,
) -> Result<ResourceContent, FsError> {
    let mut file = open_blocking_free(pool, resolved).await?;
    let metadata = file
        .metadata()
        .await
        .map_err(|error| FsError::io(&resolved.display, &error))?;
    if metadata.len() > max_bytes {
        return Err(FsError::TooLarge {
            path: resolved.display.clone(),
            size: metadata.len(),
            limit: max_bytes,
        });
    }
    let mut first_chunk = BytesMut::with_capacity(MAX_RESOURCE_CHUNK_BYTES);
    read_chunk(&mut file, &mut first_chunk, &resolved.display).await?;
    let mime = guess_mime(&resolved.canonical);
    let is_text = if mime == "application/octet-stream" {
        sample_is_text(&first_chunk)
    } else {
        mime_is_text(mime)
    };
    let mime = if is_text && mime == "application/octet-stream" {
        "text/plain"
    } else {
        mime
    };
    let header = ResourceHeader {
        uri: uri.to_owned(),
        mime_type: mime.to_owned(),
        is_text,
        size: Some(metadata.len()),
    };
    let display = resolved.display.clone();
    let chunks = async_stream::try_stream! {
        let mut chunk = first_chunk;
        let mut total = 0u64;
        loop {
            if chunk.is_empty() {
                break;
            }
            total += chunk.len() as u64;
            if total > max_bytes {
                Err(ServiceError::from(FsError::TooLarge { path: display.clone(), size: total, limit: max_bytes }))?;
            }
            yield chunk.split().freeze();
            read_chunk(&mut file, &mut chunk, &display).await.map_err(ServiceError::from)?;
        }
    };
    Ok(ResourceContent {
        header,
        chunks: Box::pin(chunks),
    })
}

/// Fills `buffer` with up to one chunk (short only at end of file).
async fn read_chunk(
    file: &mut tokio::fs::File,
    buffer: &mut BytesMut,
    display: &str,
) -> Result<(), FsError> {
    buffer.reserve(MAX_RESOURCE_CHUNK_BYTES);
    while buffer.len() < MAX_RESOURCE_CHUNK_BYTES {
        let read = file
            .read_buf(&mut buffer.limit_to(MAX_RESOURCE_CHUNK_BYTES))
            .await
            .map_err(|error| FsError::io(display, &error))?;
        if read == 0 {
            break;
        }
    }
    Ok(())
}

/// Caps how many more bytes a buffer accepts.
trait LimitTo {
    fn limit_to(&mut self, cap: usize) -> bytes::buf::Limit<&mut BytesMut>;
}

impl LimitTo for BytesMut {
    fn limit_to(&mut self, cap: usize) -> bytes::buf::Limit<&mut BytesMut> {
        let remaining = cap.saturating_sub(self.len());
        bytes::BufMut::limit(self, remaining)
    }
}

/// Yields once each time the file's size or modification time changes (or
/// it appears or disappears), checking every `interval`.
pub(crate) fn watch_changes(
    path: std::path::PathBuf,
    interval: std::time::Duration,
) -> micromcp_sdk::UpdateStream {
    let fingerprint = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|metadata| (metadata.len(), metadata.modified().ok()))
    };
    Box::pin(async_stream::stream! {
        let mut last = fingerprint(&path);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let current = fingerprint(&path);
            if current != last {
                last = current;
                yield Ok(());
            }
        }
    })
}

/// Reads a whole (small) file as bytes, capped.
pub(crate) async fn read_capped(
    pool: &BlockingPool,
    resolved: &ResolvedPath,
    cap: u64,
) -> Result<Bytes, FsError> {
    let file = open_blocking_free(pool, resolved).await?;
    let metadata = file
        .metadata()
        .await
        .map_err(|error| FsError::io(&resolved.display, &error))?;
    if metadata.len() > cap {
        return Err(FsError::TooLarge {
            path: resolved.display.clone(),
            size: metadata.len(),
            limit: cap,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(cap)
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| FsError::io(&resolved.display, &error))?;
    Ok(Bytes::from(bytes))
}

/// Opens `resolved` on the blocking pool, refusing anything but a regular
/// file before it could block (FIFOs, sockets, devices).
async fn open_blocking_free(
    pool: &BlockingPool,
    resolved: &ResolvedPath,
) -> Result<tokio::fs::File, FsError> {
    let path = resolved.canonical.clone();
    let opened = pool
        .run(move || open_regular_file(&path))
        .await
        .map_err(|error| match error {
            ServiceError::Unavailable(busy) => FsError::Busy(busy),
            other => FsError::Io {
                path: resolved.display.clone(),
                kind: other.to_string(),
            },
        })?;
    opened
        .map(tokio::fs::File::from_std)
        .map_err(|error| FsError::open(&resolved.display, &error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_with_percent_encoding() {
        let uri = path_to_uri(Path::new("/tmp/a b/ü.txt"));
        assert_eq!(uri, "file:///tmp/a%20b/%C3%BC.txt");
        assert_eq!(uri_to_path(&uri).expect("decode"), "/tmp/a b/ü.txt");
    }

    #[test]
    fn bad_uris_are_refused() {
        assert!(uri_to_path("http://x/y").is_err());
        assert!(uri_to_path("file://relative").is_err());
        assert!(uri_to_path("file:///bad%zz").is_err());
    }

    #[test]
    fn text_sniffing() {
        assert!(sample_is_text(b"hello\n"));
        assert!(!sample_is_text(b"\x00\x01"));
        assert!(sample_is_text(&"é".as_bytes()[..1]));
        assert!(!sample_is_text(b"\xff\xfe"));
    }
}
