//! Reads a target's descriptors through gRPC server reflection (v1, then
//! v1alpha for servers that only have the older one): lists its services,
//! asks for the file defining each, then for every dependency still
//! missing (the well-known types come from the built-in pool when the
//! target does not send them). The target is not trusted: services, files
//! and bytes read are capped, and every exchange has a deadline.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use http::uri::PathAndQuery;
use prost::Message;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorProto;
use tonic::client::Grpc;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::{GrpcError, GrpcResult};

/// Services read from one target; the rest are left out with a warning.
pub const MAX_SERVICES: usize = 256;
/// Descriptor files read from one target.
pub const MAX_FILES: usize = 1024;
/// Bytes of descriptors read from one target.
pub const MAX_DESCRIPTOR_BYTES: usize = 32 * 1024 * 1024;
/// Largest single reflection answer.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Deadline of each reflection exchange.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(10);

const V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
// v1alpha's messages are v1's, field for field: the same types serve both.
const V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

/// One reflection conversation with a target.
struct Reflection {
    channel: Channel,
    target: String,
    path: &'static str,
    bytes_read: usize,
}

/// Reads every service of the target (but reflection itself) into a pool;
/// also returns the names of the services the target lists.
pub async fn read_pool(
    channel: Channel,
    target: &str,
) -> GrpcResult<(DescriptorPool, HashSet<String>)> {
    let mut reflection = Reflection {
        channel,
        target: target.to_owned(),
        path: V1,
        bytes_read: 0,
    };
    let services = match reflection.list_services().await {
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            reflection.path = V1ALPHA;
            reflection
                .list_services()
                .await
                .map_err(|status| reflection.failed(&status))?
        }
        other => other.map_err(|status| reflection.failed(&status))?,
    };
    let mut services: Vec<String> = services
        .into_iter()
        .filter(|name| !name.starts_with("grpc.reflection."))
        .collect();
    if services.len() > MAX_SERVICES {
        tracing::warn!(target = %target, count = services.len(), limit = MAX_SERVICES, "the target lists too many services; the rest are left out");
        services.truncate(MAX_SERVICES);
    }
    let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
    for service in &services {
        let request = MessageRequest::FileContainingSymbol(service.clone());
        for file in reflection.files(request).await? {
            files.entry(file.name().to_owned()).or_insert(file);
        }
    }
    let builtin = DescriptorPool::global();
    loop {
        let missing: BTreeSet<String> = files
            .values()
            .flat_map(|file| file.dependency.iter())
            .filter(|name| !files.contains_key(*name))
            .cloned()
            .collect();
        if missing.is_empty() {
            break;
        }
        for name in missing {
            if files.len() >= MAX_FILES {
                return Err(GrpcError::Descriptors(format!(
                    "the target's services need more than {MAX_FILES} files"
                )));
            }
            let asked = reflection
                .files(MessageRequest::FileByFilename(name.clone()))
                .await;
            let found = match asked {
                Ok(found) => found,
                Err(error) => match builtin.get_file_by_name(&name) {
                    Some(file) => vec![file.file_descriptor_proto().clone()],
                    None => return Err(error),
                },
            };
            let before = files.len();
            for file in found {
                files.entry(file.name().to_owned()).or_insert(file);
            }
            if !files.contains_key(&name) && files.len() == before {
                return Err(reflection.answer_error(&format!("no file {name}")));
            }
            if !files.contains_key(&name) {
                return Err(reflection.answer_error(&format!("asked for {name}, got other files")));
            }
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files.into_values())
        .map_err(|error| GrpcError::Descriptors(error.to_string()))?;
    Ok((pool, services.into_iter().collect()))
}

/// Asks the target to list its services (v1, then v1alpha): the service
/// names, or the status it answered — for a target read from a descriptor
/// set, whether it answers at all.
pub async fn list_services(channel: Channel, target: &str) -> Result<Vec<String>, tonic::Status> {
    let mut reflection = Reflection {
        channel,
        target: target.to_owned(),
        path: V1,
        bytes_read: 0,
    };
    match reflection.list_services().await {
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            reflection.path = V1ALPHA;
            reflection.list_services().await
        }
        other => other,
    }
}

/// A status's code and message, and the errors underneath (a transport
/// error names its cause only there).
pub fn status_detail(status: &tonic::Status) -> String {
    let mut detail = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        let text = error.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = error.source();
    }
    detail
}

// === impl Reflection ===

impl Reflection {
    fn failed(&self, status: &tonic::Status) -> GrpcError {
        GrpcError::Reflection {
            target: self.target.clone(),
            detail: status_detail(status),
        }
    }

    fn answer_error(&self, detail: &str) -> GrpcError {
        GrpcError::Reflection {
            target: self.target.clone(),
            detail: detail.to_owned(),
        }
    }

    /// One request, one answer, on a stream of its own.
    async fn exchange(
        &mut self,
        request: MessageRequest,
    ) -> Result<MessageResponse, tonic::Status> {
        let mut grpc = Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_ANSWER_BYTES);
        let message = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        let mut request = tonic::Request::new(tokio_stream::once(message));
        request.set_timeout(EXCHANGE_DEADLINE);
        let codec =
            tonic_prost::ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default();
        let work = async {
            grpc.ready()
                .await
                .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
            let mut answers = grpc
                .streaming(request, PathAndQuery::from_static(self.path), codec)
                .await?
                .into_inner();
            answers
                .message()
                .await?
                .and_then(|answer| answer.message_response)
                .ok_or_else(|| tonic::Status::internal("the reflection stream ended unanswered"))
        };
        tokio::time::timeout(EXCHANGE_DEADLINE, work)
            .await
            .map_err(|_| tonic::Status::deadline_exceeded("reflection did not answer in time"))?
    }

    async fn list_services(&mut self) -> Result<Vec<String>, tonic::Status> {
        match self
            .exchange(MessageRequest::ListServices(String::new()))
            .await?
        {
            MessageResponse::ListServicesResponse(list) => Ok(list
                .service
                .into_iter()
                .map(|service| service.name)
                .collect()),
            MessageResponse::ErrorResponse(error) => Err(tonic::Status::new(
                tonic::Code::from_i32(error.error_code),
                error.error_message,
            )),
            _ => Err(tonic::Status::internal(
                "listing services answered something else",
            )),
        }
    }

    async fn files(&mut self, request: MessageRequest) -> GrpcResult<Vec<FileDescriptorProto>> {
        let answer = self
            .exchange(request)
            .await
            .map_err(|status| self.failed(&status))?;
        let encoded = match answer {
            MessageResponse::FileDescriptorResponse(files) => files.file_descriptor_proto,
            MessageResponse::ErrorResponse(error) => {
                return Err(self.answer_error(&format!(
                    "{:?}: {}",
                    tonic::Code::from_i32(error.error_code),
                    error.error_message
                )));
            }
            _ => return Err(self.answer_error("asked for files, answered something else")),
        };
        let mut files = Vec::with_capacity(encoded.len());
        for bytes in encoded {
            self.bytes_read += bytes.len();
            if self.bytes_read > MAX_DESCRIPTOR_BYTES {
                return Err(GrpcError::Descriptors(format!(
                    "the target's descriptors exceed {MAX_DESCRIPTOR_BYTES} bytes"
                )));
            }
            let file = FileDescriptorProto::decode(bytes.as_slice()).map_err(|error| {
                self.answer_error(&format!("a file descriptor does not decode: {error}"))
            })?;
            files.push(file);
        }
        Ok(files)
    }
}
