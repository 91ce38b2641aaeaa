//! `resources/read`: routes the URI to its service and turns the chunk
//! stream into `{"contents":[{uri, mimeType, text|blob}]}`, text
//! JSON-escaped and binary base64-encoded chunk by chunk (see
//! `wire::content`). Small resources are answered as one JSON message;
//! past `STREAM_AFTER_BYTES` the response body is streamed as chunks
//! arrive, so memory stays flat whatever the size. A streamed read holds a
//! place of its principal's quota (`limits.max_streamed_reads*`) and is
//! relayed by a task of its own that gives up on a client that stops
//! reading (`limits.stalled_reader_timeout_secs`), cancelling the backend
//! stream so a stalled reader never holds a service's flow-control window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use micromcp_proto::{
    ReadResourceChunk, ReadResourceRequest, ResourceHeader, read_resource_chunk::Chunk,
};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;
use tonic::Streaming;

use super::result::modern_fields;
use super::{outbound, route};
use crate::backends::{CallPermit, Target, from_status};
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::quota::{Exceeded, QuotaPermit};
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
        uri: uri.into(),
    };
    let route = route::resource(gateway, context, uri)?;
    let exchanged_opt = match route.exchanges_token() {
        true => Box::pin(route.exchanged_context(gateway, context)).await?,
        false => None,
    };
    let context = exchanged_opt.as_deref().unwrap_or(context);
    let (client, mut call) = route.admit(gateway.config.request_timeout).await?;
    let service = route.service_name().to_owned();
    let started = route
        .retrying(|| {
            let mut client = client.clone();
            let request = outbound::request(
                gateway,
                context,
                route.readable_sources(),
                ReadResourceRequest {
                    uri: uri.to_owned(),
                },
                None,
            );
            async move { client.read_resource(request).await }
        })
        .await
        .map_err(|status| from_status(&service, &target, &status));
    let opened = match started {
        Ok(response) => read_header(response.into_inner(), &service, &target).await,
        Err(error) => Err(error),
    };
    call.record(&opened);
    let (mut chunks, header) = opened?;
    let mut encoder = ContentEncoder::new(header.is_text);
    let mut body = prefix(gateway, context, id_text, &header);
    loop {
        match next_chunk(&mut chunks, &service, &target).await? {
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
            let permit = gateway
                .streamed_reads
                .acquire(context.principal.id.clone())
                .map_err(|exceeded| too_many_streams(&service, exceeded))?;
            let rest = stream_rest(body, encoder, chunks, service.clone(), target);
            let stalled_after = gateway.config.limits.stalled_reader_timeout;
            return Ok(Reply::Body(Box::pin(relay_to_client(
                rest,
                (permit, call),
                stalled_after,
                service,
            ))));
        }
    }
}

/// The error of a read refused for the streamed-read quota.
fn too_many_streams(service: &str, exceeded: Exceeded) -> GatewayError {
    let reason = match exceeded {
        Exceeded::Total(limit) => format!("limits.max_streamed_reads = {limit}"),
        Exceeded::PerKey(limit) => format!("limits.max_streamed_reads_per_principal = {limit}"),
    };
    GatewayError::transient(
        service,
        format!("too many large resource reads in flight ({reason}); retry later"),
    )
}

/// Relays `pieces` to the client through a small buffer, from a task of its
/// own: when the client takes nothing for `stalled_after`, the task stops,
/// the backend stream is dropped (cancelled) and the body ends in an error.
fn relay_to_client(
    pieces: impl futures::Stream<Item = Result<Bytes, GatewayError>> + Send + 'static,
    places: (QuotaPermit<String>, CallPermit),
    stalled_after: Duration,
    service: String,
) -> impl futures::Stream<Item = Result<Bytes, GatewayError>> + Send {
    let (sender, mut receiver) = mpsc::channel(2);
    let stalled = Arc::new(AtomicBool::new(false));
    let stalled_flag = stalled.clone();
    tokio::spawn(async move {
        // The read's places (its principal's quota, its service's limit)
        // are held until the last piece is taken or the client is given up.
        let _places = places;
        let mut pieces = std::pin::pin!(pieces);
        while let Some(piece) = pieces.next().await {
            let failed = piece.is_err();
            match sender.send_timeout(piece, stalled_after).await {
                Ok(()) if !failed => {}
                Ok(()) | Err(SendTimeoutError::Closed(_)) => return,
                Err(SendTimeoutError::Timeout(_)) => {
                    tracing::warn!(service = %service, "a client stopped reading a streamed resource; cancelled");
                    stalled_flag.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    });
    async_stream::stream! {
        while let Some(piece) = receiver.recv().await {
            yield piece;
        }
        if stalled.load(Ordering::Relaxed) {
            yield Err(GatewayError::Internal("the client stopped reading".into()));
        }
    }
}

/// The resource's header, the first message of its chunk stream.
async fn read_header(
    mut chunks: Streaming<ReadResourceChunk>,
    service: &str,
    target: &Target,
) -> Result<(Streaming<ReadResourceChunk>, ResourceHeader), GatewayError> {
    match next_chunk(&mut chunks, service, target).await? {
        Some(Chunk::Header(header)) => Ok((chunks, header)),
        _ => Err(GatewayError::transient(
            service,
            "the service sent no resource header",
        )),
    }
}

async fn next_chunk(
    chunks: &mut Streaming<ReadResourceChunk>,
    service: &str,
    target: &Target,
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
            match next_chunk(&mut chunks, &service, &target).await? {
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
