//! One tool call made as a gRPC call: the JSON arguments become a dynamic
//! request message (canonical JSON mapping, unknown fields refused), the
//! call carries the configured deadline and forwarded metadata, and the
//! answer comes back as `structuredContent` plus its text. A server-
//! streaming method reports each message as progress and answers with the
//! last. A gRPC error becomes a tool error naming the status code and the
//! target's message.

use std::time::Duration;

use http::uri::PathAndQuery;
use micromcp_sdk::{ToolCall, ToolEvents, ToolOutput};
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};
use serde_json::{Value, json};
use tonic::client::Grpc;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;

use crate::codec::DynamicCodec;
use crate::methods::MethodTool;
use crate::settings::ForwardedMetadata;

/// Largest message read from the target.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Longest text of one progress report.
const MAX_PROGRESS_TEXT: usize = 8 * 1024;

/// What a call needs besides the method and its arguments.
pub struct CallPlan<'a> {
    pub channel: Channel,
    pub deadline: Duration,
    pub forward: &'a [ForwardedMetadata],
}

/// Calls `method` with `call`'s arguments.
pub async fn call_method(
    plan: CallPlan<'_>,
    method: &MethodTool,
    call: &ToolCall,
    events: &ToolEvents,
) -> ToolOutput {
    let request_message = match request_of(method, &call.arguments_json) {
        Ok(message) => message,
        Err(error) => return ToolOutput::error(error),
    };
    let mut request = tonic::Request::new(request_message);
    *request.metadata_mut() = metadata_for(call, plan.forward);
    request.set_timeout(plan.deadline);
    let deadline_ms = plan.deadline.as_millis();
    let started = tokio::time::Instant::now();
    let work = exchange(plan.channel, method, request, events);
    let outcome = tokio::time::timeout(plan.deadline, work).await;
    // tonic ends a call past its `grpc-timeout` as CANCELLED ("Timeout
    // expired"): past the deadline, whoever noticed first, say so.
    let late = started.elapsed() >= plan.deadline;
    match outcome {
        Ok(Ok(last_opt)) => answer(last_opt),
        Ok(Err(status))
            if !(late
                && matches!(
                    status.code(),
                    tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
                )) =>
        {
            status_error(&status)
        }
        Ok(Err(_)) | Err(_) => ToolOutput::error(format!(
            "gRPC status DEADLINE_EXCEEDED (4): {} took longer than its deadline of {deadline_ms} ms",
            method.full_name
        )),
    }
}

/// The request message of `method` from a call's JSON arguments, or why
/// not — naming the field at fault (`book.published: …`), and an unknown
/// field by its name.
fn request_of(method: &MethodTool, arguments_json: &[u8]) -> Result<DynamicMessage, String> {
    let mut json = serde_json::Deserializer::from_slice(arguments_json);
    let mut track = serde_path_to_error::Track::new();
    let parsed = DynamicMessage::deserialize_with_options(
        method.input.clone(),
        serde_path_to_error::Deserializer::new(&mut json, &mut track),
        &DeserializeOptions::new(),
    );
    let failed = |at: String, error: &dyn std::fmt::Display| {
        let name = method.input.full_name();
        if at.is_empty() || at == "." {
            format!("the arguments are not a valid {name}: {error}")
        } else {
            format!("the arguments are not a valid {name}: {at}: {error}")
        }
    };
    let message = parsed.map_err(|error| failed(track.path().to_string(), &error))?;
    json.end().map_err(|error| failed(String::new(), &error))?;
    Ok(message)
}

/// Sends the request; the answer (the last message, for a stream).
async fn exchange(
    channel: Channel,
    method: &MethodTool,
    request: tonic::Request<DynamicMessage>,
    events: &ToolEvents,
) -> Result<Option<Value>, tonic::Status> {
    let mut grpc = Grpc::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES);
    grpc.ready().await.map_err(|error| {
        tonic::Status::unavailable(format!("the target is unreachable: {error}"))
    })?;
    let path = PathAndQuery::try_from(method.path.as_str())
        .map_err(|error| tonic::Status::internal(format!("method path: {error}")))?;
    let codec = DynamicCodec::new(method.output.clone());
    if !method.server_streaming {
        let response = grpc.unary(request, path, codec).await?;
        return Ok(Some(to_json(&response.into_inner())));
    }
    let mut stream = grpc
        .server_streaming(request, path, codec)
        .await?
        .into_inner();
    let mut last_opt = None;
    let mut count = 0_u64;
    while let Some(message) = stream.message().await? {
        count += 1;
        let value = to_json(&message);
        let mut text = value.to_string();
        if text.len() > MAX_PROGRESS_TEXT {
            let mut cut = MAX_PROGRESS_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        events.progress(count as f64, None, &text).await;
        last_opt = Some(value);
    }
    Ok(last_opt)
}

/// A message in the canonical JSON mapping, default values included — at
/// most [`MAX_ANSWER_JSON_BYTES`] of it: empty entries of a message with
/// many fields turn a few wire bytes each into kilobytes of defaults, so a
/// target's answer could otherwise become gigabytes of JSON.
fn to_json(message: &DynamicMessage) -> Value {
    let options = SerializeOptions::new().skip_default_fields(false);
    let mut written = BoundedWriter::default();
    let mut serializer = serde_json::Serializer::new(&mut written);
    if let Err(error) = message.serialize_with_options(&mut serializer, &options) {
        return if written.over {
            json!({"error": format!("the answer's JSON form is larger than {MAX_ANSWER_JSON_BYTES} bytes")})
        } else {
            json!({"error": format!("the answer has no JSON form: {error}")})
        };
    }
    serde_json::from_slice(&written.bytes)
        .unwrap_or_else(|error| json!({"error": format!("the answer has no JSON form: {error}")}))
}

/// Largest JSON form of one answer (or one streamed message).
const MAX_ANSWER_JSON_BYTES: usize = 16 * 1024 * 1024;

/// Collects bytes up to [`MAX_ANSWER_JSON_BYTES`], then fails every write.
#[derive(Default)]
struct BoundedWriter {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buffer.len() > MAX_ANSWER_JSON_BYTES {
            self.over = true;
            return Err(std::io::Error::other("answer too large"));
        }
        self.bytes.extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn answer(last_opt: Option<Value>) -> ToolOutput {
    match last_opt {
        // structuredContent is an object: a well-known type answered as a
        // bare JSON value goes under "value".
        Some(Value::Object(object)) => ToolOutput::structured(Value::Object(object)),
        Some(other) => ToolOutput::structured(json!({"value": other})),
        None => ToolOutput::text("the stream ended without a message"),
    }
}

/// A gRPC failure as a tool error the model can read.
fn status_error(status: &tonic::Status) -> ToolOutput {
    let code = status.code();
    let name = format!("{code:?}");
    let mut upper = String::new();
    for (index, character) in name.char_indices() {
        if character.is_uppercase() && index > 0 {
            upper.push('_');
        }
        upper.push(character.to_ascii_uppercase());
    }
    ToolOutput::error(format!(
        "gRPC status {upper} ({}): {}",
        code as i32,
        status.message()
    ))
}

/// The metadata `forward` lets through, from what the gateway sent.
fn metadata_for(call: &ToolCall, forward: &[ForwardedMetadata]) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    for entry in forward {
        let (name, value_opt) = match entry {
            ForwardedMetadata::RequestId => ("x-request-id", Some(call.request_id.clone())),
            ForwardedMetadata::Principal => ("x-micromcp-principal", Some(call.principal.clone())),
            ForwardedMetadata::Authorization => (
                "authorization",
                call.upstream_token_opt
                    .as_ref()
                    .map(|token| format!("Bearer {}", token.0)),
            ),
        };
        if let Some(value) = value_opt
            && let Ok(value) = MetadataValue::try_from(value.as_str())
        {
            metadata.insert(name, value);
        }
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_name_the_code() {
        let output = status_error(&tonic::Status::not_found("no such book"));
        let value: Value = serde_json::from_slice(&output.into_raw_json()).expect("json");
        assert_eq!(value["isError"], true);
        assert_eq!(
            value["content"][0]["text"],
            "gRPC status NOT_FOUND (5): no such book"
        );
        let output = status_error(&tonic::Status::deadline_exceeded("slow"));
        let value: Value = serde_json::from_slice(&output.into_raw_json()).expect("json");
        assert_eq!(
            value["content"][0]["text"],
            "gRPC status DEADLINE_EXCEEDED (4): slow"
        );
    }

    #[test]
    fn only_listed_metadata_is_forwarded() {
        let call = ToolCall {
            name: "x".into(),
            arguments_json: bytes::Bytes::from_static(b"{}"),
            request_id: "req-1".into(),
            principal: "alice".into(),
            readable_sources_opt: None,
            upstream_token_opt: Some(micromcp_sdk::UpstreamToken("secret".into())),
        };
        let none = metadata_for(&call, &[]);
        assert!(none.is_empty());
        let some = metadata_for(&call, &[ForwardedMetadata::RequestId]);
        assert_eq!(some.len(), 1);
        assert_eq!(
            some.get("x-request-id").and_then(|v| v.to_str().ok()),
            Some("req-1")
        );
        let token = metadata_for(&call, &[ForwardedMetadata::Authorization]);
        assert_eq!(
            token.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer secret")
        );
    }
}
