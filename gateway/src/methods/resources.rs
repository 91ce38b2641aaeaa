//! `resources/read`: routes the URI to its service and turns the chunk
//! stream into `{"contents":[{uri, mimeType, text|blob}]}`, text
//! JSON-escaped and binary base64-encoded chunk by chunk (see
//! `wire::content`). Small resources are answered as one JSON message;
//! past `STREAM_AFTER_BYTES` the response body is streamed as chunks
//! arrive, so memory stays flat whatever the size.

use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{
    ReadResourceChunk, ReadResourceRequest, ResourceHeader, read_resource_chunk::Chunk,
};
use tonic::Streaming;

use super::result::modern_fields;
use super::{outbound, route};
use crate::backends::{Target, from_status};
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::ContentEncoder;
use crate::wire::protocol::ParamsHead;

/// Responses larger than this are streamed instead of buffered.
const STREAM_AFTER_BYTES: usize = 1024 * 1024;

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
    let target = Target::Resource {
        modern: context.is_modern(),
    };
    let route = route::resource(gateway, context, uri)?;
    let mut client = route.client()?;
    let service = route.service_name().to_owned();
    let request = outbound::request(
        gateway,
        context,
        ReadResourceRequest {
            uri: uri.to_owned(),
        },
        None,
    );
    let mut chunks = client
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
