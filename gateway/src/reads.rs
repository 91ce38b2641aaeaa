//! `resources/read`: routes the URI to its service and turns the chunk
//! stream into `{"contents":[{uri, mimeType, text|blob}]}`. Text is
//! JSON-escaped and binary base64-encoded chunk by chunk (carrying partial
//! UTF-8 characters and base64 groups across chunks). Small resources are
//! answered as one JSON message; past `STREAM_AFTER_BYTES` the response body
//! is streamed as chunks arrive, so memory stays flat whatever the size.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use micromcp_proto::{
    ReadResourceChunk, ReadResourceRequest, ResourceHeader, read_resource_chunk::Chunk,
};
use tonic::Streaming;

use crate::dispatch::modern_fields;
use crate::error::GatewayError;
use crate::gateway::{CallContext, Gateway, Reply};
use crate::protocol::ParamsHead;
use crate::status::{Target, from_status};

/// Responses larger than this are streamed instead of buffered.
const STREAM_AFTER_BYTES: usize = 1024 * 1024;

/// Incremental encoder of a resource's bytes into a JSON string body.
pub struct ContentEncoder {
    is_text: bool,
    carry: Vec<u8>,
}

// === impl ContentEncoder ===

impl ContentEncoder {
    /// An encoder for text (JSON-escaped) or binary (base64) content.
    pub fn new(is_text: bool) -> Self {
        Self {
            is_text,
            carry: Vec::new(),
        }
    }

    /// Encodes the next chunk, appending to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.carry.extend_from_slice(chunk);
        if self.is_text {
            let (complete, keep) = split_utf8(&self.carry);
            escape_json_text(&String::from_utf8_lossy(&self.carry[..complete]), out);
            self.carry.drain(..self.carry.len() - keep);
        } else {
            let whole = self.carry.len() / 3 * 3;
            let start = out.len();
            out.resize(start + whole / 3 * 4, 0);
            let written = STANDARD
                .encode_slice(&self.carry[..whole], &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            self.carry.drain(..whole);
        }
    }

    /// Flushes what is left (a partial character or base64 group).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.is_text {
            escape_json_text(&String::from_utf8_lossy(&self.carry), out);
        } else {
            out.extend_from_slice(STANDARD.encode(&self.carry).as_bytes());
        }
        self.carry.clear();
    }
}

/// (bytes that form complete characters or invalid sequences, bytes of an
/// incomplete trailing character to keep for the next chunk)
fn split_utf8(bytes: &[u8]) -> (usize, usize) {
    let tail_start = bytes.len().saturating_sub(3);
    for start in (tail_start..bytes.len()).rev() {
        let byte = bytes[start];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        if bytes.len() - start < needed {
            return (start, bytes.len() - start);
        }
        break;
    }
    (bytes.len(), 0)
}

/// Appends `text` JSON-escaped (without quotes).
fn escape_json_text(text: &str, out: &mut Vec<u8>) {
    let quoted = serde_json::Value::from(text).to_string();
    out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
}

fn prefix(
    gateway: &Gateway,
    context: &CallContext,
    id_text: &str,
    header: &ResourceHeader,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id_text.as_bytes());
    out.extend_from_slice(b",\"result\":{");
    if context.is_modern() {
        out.extend_from_slice(modern_fields(gateway, true, 0).as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b"\"contents\":[{\"uri\":");
    out.extend_from_slice(
        serde_json::Value::from(header.uri.as_str())
            .to_string()
            .as_bytes(),
    );
    if !header.mime_type.is_empty() {
        out.extend_from_slice(b",\"mimeType\":");
        out.extend_from_slice(
            serde_json::Value::from(header.mime_type.as_str())
                .to_string()
                .as_bytes(),
        );
    }
    out.extend_from_slice(if header.is_text {
        b",\"text\":\""
    } else {
        b",\"blob\":\""
    });
    out
}

const SUFFIX: &[u8] = b"\"}]}}";

pub(crate) async fn read_resource(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: ParamsHead<'_>,
) -> Result<Reply, GatewayError> {
    let uri = head.required_uri()?;
    let modern = context.is_modern();
    let not_found = || GatewayError::ResourceNotFound {
        message: format!("resource not found: {uri}"),
        modern,
    };
    let catalog = gateway.backends.catalog();
    let service_index = catalog.resource_service(uri).ok_or_else(not_found)?;
    gateway
        .policy
        .check_resource(&context.principal, &catalog, uri, service_index)?;
    let backend = &gateway.backends.services()[service_index];
    let service = backend.config.name.clone();
    let target = Target::Resource { modern };
    let request = crate::calls::with_context(
        gateway,
        context,
        ReadResourceRequest {
            uri: uri.to_owned(),
        },
        None,
    );
    let mut chunks = backend
        .client
        .clone()
        .read_resource(request)
        .await
        .map_err(|status| from_status(&service, target, &status))?
        .into_inner();
    let header = match next_chunk(&mut chunks, &service, target).await? {
        Some(Chunk::Header(header)) => header,
        _ => {
            return Err(GatewayError::transient(
                &service,
                "the service sent no resource header",
            ));
        }
    };
    let mut encoder = ContentEncoder::new(header.is_text);
    let mut body = prefix(gateway, context, id_text, &header);
    loop {
        match next_chunk(&mut chunks, &service, target).await? {
            Some(Chunk::Data(data)) => encoder.push(&data, &mut body),
            Some(Chunk::Header(_)) => {
                return Err(GatewayError::transient(
                    &service,
                    "the service sent a second header",
                ));
            }
            None => {
                encoder.finish(&mut body);
                body.extend_from_slice(SUFFIX);
                return Ok(Reply::Json(body));
            }
        }
        if body.len() > STREAM_AFTER_BYTES {
            return Ok(Reply::Body(Box::pin(stream_rest(
                body, encoder, chunks, service, target,
            ))));
        }
    }
}

async fn next_chunk(
    chunks: &mut Streaming<ReadResourceChunk>,
    service: &str,
    target: Target,
) -> Result<Option<Chunk>, GatewayError> {
    match chunks.message().await {
        Ok(Some(chunk)) => Ok(chunk.chunk),
        Ok(None) => Ok(None),
        Err(status) => Err(from_status(service, target, &status)),
    }
}

fn stream_rest(
    first: Vec<u8>,
    mut encoder: ContentEncoder,
    mut chunks: Streaming<ReadResourceChunk>,
    service: String,
    target: Target,
) -> impl futures::Stream<Item = Result<Bytes, GatewayError>> + Send {
    async_stream::try_stream! {
        yield Bytes::from(first);
        loop {
            match next_chunk(&mut chunks, &service, target).await? {
                Some(Chunk::Data(data)) => {
                    let mut piece = Vec::with_capacity(data.len() * 4 / 3 + 8);
                    encoder.push(&data, &mut piece);
                    yield Bytes::from(piece);
                }
                Some(Chunk::Header(_)) => Err(GatewayError::transient(&service, "the service sent a second header"))?,
                None => break,
            }
        }
        let mut tail = Vec::new();
        encoder.finish(&mut tail);
        tail.extend_from_slice(SUFFIX);
        yield Bytes::from(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_in_pieces(is_text: bool, content: &[u8], piece: usize) -> String {
        let mut encoder = ContentEncoder::new(is_text);
        let mut out = Vec::new();
        for chunk in content.chunks(piece) {
            encoder.push(chunk, &mut out);
        }
        encoder.finish(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn text_split_inside_characters_is_reassembled() {
        let text = "héllo \"wörld\"\n€𝄞";
        for piece in 1..6 {
            let encoded = encode_in_pieces(true, text.as_bytes(), piece);
            let decoded: String =
                serde_json::from_str(&format!("\"{encoded}\"")).expect("json string");
            assert_eq!(decoded, text, "piece size {piece}");
        }
    }

    #[test]
    fn binary_split_anywhere_is_valid_base64() {
        let content: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for piece in [1, 2, 3, 4, 7, 64] {
            let encoded = encode_in_pieces(false, &content, piece);
            assert_eq!(
                STANDARD.decode(encoded).expect("base64"),
                content,
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let encoded = encode_in_pieces(true, b"a\xffb", 1);
        assert_eq!(encoded, "a\u{FFFD}b");
    }
}
