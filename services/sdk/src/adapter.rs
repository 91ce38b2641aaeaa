//! `GrpcAdapter`: turns an [`McpService`] into the generated tonic server
//! trait — reads request context from gRPC metadata, drives the bidirectional
//! `CallTool` stream, and aborts the service's work when the gateway cancels.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use micromcp_proto::mcp_service_server::McpService as GrpcMcpService;
use micromcp_proto::{
    CallToolClientMessage, CallToolServerMessage, Catalog, CatalogUpdate, CompleteRequest,
    CompleteResponse, GetCatalogRequest, GetPromptRequest, GetPromptResponse, ReadResourceChunk,
    ReadResourceRequest, ResourceUpdated, TaskRequest, TaskResponse, ToolResult,
    WatchCatalogRequest, WatchResourceRequest, call_tool_client_message, call_tool_server_message,
    read_resource_chunk,
};
use tokio::sync::{mpsc, watch};

use crate::call_stream::CallStream;
use crate::tasks::{self, TaskSupport, Tasks};
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status, Streaming};

use crate::{
    Caller, McpService, Round, ServiceError, ServiceResult, ToolCall, ToolEvents, ToolOutput,
    UpstreamToken, telemetry,
};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Serves an [`McpService`] as `micromcp.v1.McpService`.
pub(crate) struct GrpcAdapter<S> {
    service: Arc<S>,
    /// Tasks its tools' calls became (the tasks extension).
    tasks: Arc<Tasks>,
    /// Turns true when the server starts draining.
    stopping: watch::Receiver<bool>,
}

impl<S> GrpcAdapter<S> {
    pub(crate) fn new(service: Arc<S>, stopping: watch::Receiver<bool>) -> Self {
        Self {
            service,
            tasks: Arc::default(),
            stopping,
        }
    }

    /// `stream`, ended when the server starts draining: watches live as
    /// long as their client, so a drain would otherwise never finish.
    fn until_stopping<T: Send + 'static>(
        &self,
        stream: impl Stream<Item = Result<T, Status>> + Send + 'static,
    ) -> BoxStream<T> {
        let mut stopping = self.stopping.clone();
        Box::pin(stream.take_until(async move {
            if stopping.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
        }))
    }
}

/// The W3C traceparent the gateway sent with the call, if any.
fn traceparent<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get(micromcp_proto::TRACEPARENT_METADATA)
        .and_then(|value| value.to_str().ok())
}

/// Sends a call's outcome as its last message: the result, an
/// `input_required` round, or the error (nothing when `request_input`
/// already sent the round).
async fn send_outcome(
    outbound: &mpsc::Sender<Result<CallToolServerMessage, Status>>,
    events: &ToolEvents,
    outcome: ServiceResult<ToolOutput>,
) {
    if events.asked_for_input() {
        return;
    }
    let message = match outcome {
        Ok(output) => Ok(CallToolServerMessage {
            message: Some(call_tool_server_message::Message::Result(ToolResult {
                result_json: output.into_raw_json(),
            })),
        }),
        Err(ServiceError::InputRequired(required)) => Ok(CallToolServerMessage {
            message: Some(call_tool_server_message::Message::InputRequired(*required)),
        }),
        Err(error) => Err(Status::from(error)),
    };
    let _ = outbound.send(message).await;
}

/// The client capabilities the gateway sent (raw JSON object; empty = none).
fn capabilities(json: &[u8]) -> Result<serde_json::Value, Status> {
    if json.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(json)
        .map_err(|_| Status::invalid_argument("client capabilities are not JSON"))
}

/// The caller's upstream credential the gateway sent, if any.
fn upstream_token<T>(request: &Request<T>) -> Option<UpstreamToken> {
    request
        .metadata()
        .get(micromcp_proto::UPSTREAM_TOKEN_METADATA)
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty())
        .map(|token| UpstreamToken(token.to_owned()))
}

fn metadata_str<T>(request: &Request<T>, key: &str) -> String {
    request
        .metadata()
        .get(key)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The services whose content the caller may read, when the gateway sent
/// that limit.
fn readable_sources<T>(request: &Request<T>) -> Option<Vec<String>> {
    let value = request
        .metadata()
        .get(micromcp_proto::READABLE_SOURCES_METADATA)?;
    // An unreadable value limits to nothing rather than to everything.
    let text = value.to_str().unwrap_or_default();
    Some(
        text.split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Delivers the client's answers to input requests until the request
/// stream ends.
async fn relay_answers(mut inbound: Streaming<CallToolClientMessage>, answers: ToolEvents) {
    while let Ok(Some(message)) = inbound.message().await {
        if let Some(call_tool_client_message::Message::InputResponse(answer)) = message.message {
            answers.deliver_input(answer);
        }
    }
}

#[tonic::async_trait]
impl<S: McpService> GrpcMcpService for GrpcAdapter<S> {
    async fn get_catalog(
        &self,
        _request: Request<GetCatalogRequest>,
    ) -> Result<Response<Catalog>, Status> {
        Ok(Response::new((*self.service.catalog().current()).clone()))
    }

    type WatchCatalogStream = BoxStream<CatalogUpdate>;

    async fn watch_catalog(
        &self,
        _request: Request<WatchCatalogRequest>,
    ) -> Result<Response<Self::WatchCatalogStream>, Status> {
        // Revision 0 is a pending publisher's placeholder: not a catalog yet.
        let updates = WatchStream::new(self.service.catalog().subscribe())
            .filter(|(revision, _)| std::future::ready(*revision > 0))
            .map(|(revision, catalog)| {
                Ok(CatalogUpdate {
                    revision,
                    catalog: Some((*catalog).clone()),
                })
            });
        Ok(Response::new(self.until_stopping(updates)))
    }

    type CallToolStream = BoxStream<CallToolServerMessage>;

    async fn call_tool(
        &self,
        request: Request<Streaming<CallToolClientMessage>>,
    ) -> Result<Response<Self::CallToolStream>, Status> {
        let request_id = metadata_str(&request, micromcp_proto::REQUEST_ID_METADATA);
        let principal = metadata_str(&request, micromcp_proto::PRINCIPAL_METADATA);
        let readable_sources_opt = readable_sources(&request);
        let upstream_token_opt = upstream_token(&request);
        let span = telemetry::call_span("tools/call", traceparent(&request));
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("call stream closed before the call"))?;
        let Some(call_tool_client_message::Message::Start(start)) = first.message else {
            return Err(Status::invalid_argument(
                "the first message must be the call",
            ));
        };
        let client_capabilities = capabilities(&start.client_capabilities_json)?;
        let arguments_json = if start.arguments_json.is_empty() {
            bytes::Bytes::from_static(b"{}")
        } else {
            start.arguments_json
        };
        let call = ToolCall {
            name: start.name,
            arguments_json,
            request_id,
            principal,
            readable_sources_opt,
            upstream_token_opt,
        };
        // A tool that may answer with a task, for a request that declared
        // the tasks extension: if it does not finish at once, it becomes one.
        let task_capable = !start.input_relay
            && tasks::declares_tasks(&client_capabilities)
            && self
                .service
                .catalog()
                .current()
                .tools
                .iter()
                .find(|tool| tool.name == call.name)
                .is_some_and(|tool| tasks::task_support(tool) != TaskSupport::Forbidden);
        let (task_sender, task_receiver) = watch::channel(None);
        let (outbound, receiver) = mpsc::channel(32);
        // A call that may become a task reports its events on a side
        // channel, relayed only if it finishes at once: a task outlives
        // the call's stream, which must end with the CreateTaskResult.
        let (side_sender, mut side_receiver) = mpsc::channel(32);
        let events = ToolEvents::new(
            if task_capable {
                side_sender
            } else {
                outbound.clone()
            },
            start.progress_requested,
            Round::new(client_capabilities, start.input_round.map(|round| *round)),
            &start.log_level,
            start.input_relay,
        )
        .in_task(task_capable.then_some(task_receiver));
        let service = self.service.clone();
        let store = self.tasks.clone();
        let work = Box::pin(async move {
            if task_capable {
                let principal = call.principal.clone();
                let asking = events.clone();
                let mut work: futures::future::BoxFuture<'static, _> =
                    Box::pin(async move { service.call_tool(call, asking).await });
                if let std::task::Poll::Ready(outcome) = futures::poll!(work.as_mut()) {
                    while let Ok(event) = side_receiver.try_recv() {
                        let _ = outbound.send(event).await;
                    }
                    send_outcome(&outbound, &events, outcome).await;
                    return;
                }
                drop(side_receiver);
                let message = store.create(&principal).map(|created| {
                    let _ = task_sender.send(Some(created.clone()));
                    created.run(work);
                    CallToolServerMessage {
                        message: Some(call_tool_server_message::Message::Result(ToolResult {
                            result_json: created.create_result(),
                        })),
                    }
                });
                let _ = outbound.send(message.map_err(Status::from)).await;
                return;
            }
            let outcome = if start.input_relay {
                // Relay the client's input answers while the call runs (the
                // gateway keeps the request stream open for them).
                let relay = tokio::spawn(relay_answers(inbound, events.clone()));
                let work = Box::pin(service.call_tool(call, events.clone()));
                let outcome = telemetry::timed("tools/call", span, work).await;
                relay.abort();
                outcome
            } else {
                // The gateway ended the request stream after the call.
                drop(inbound);
                // Boxed once: a service's future can be large, and it would
                // otherwise be copied at each move on the way to its poll.
                let work = Box::pin(service.call_tool(call, events.clone()));
                telemetry::timed("tools/call", span, work).await
            };
            send_outcome(&outbound, &events, outcome).await;
        });
        // The work runs as tonic reads the response: no task of its own.
        Ok(Response::new(Box::pin(CallStream::new(work, receiver))))
    }

    type ReadResourceStream = BoxStream<ReadResourceChunk>;

    async fn read_resource(
        &self,
        request: Request<ReadResourceRequest>,
    ) -> Result<Response<Self::ReadResourceStream>, Status> {
        let caller = Caller {
            principal: metadata_str(&request, micromcp_proto::PRINCIPAL_METADATA),
            request_id: metadata_str(&request, micromcp_proto::REQUEST_ID_METADATA),
            readable_sources_opt: readable_sources(&request),
            upstream_token_opt: upstream_token(&request),
        };
        let span = telemetry::call_span("resources/read", traceparent(&request));
        let uri = request.into_inner().uri;
        let content = telemetry::timed(
            "resources/read",
            span,
            self.service.read_resource_for(uri, caller),
        )
        .await?;
        let header = futures::stream::once(async move {
            Ok(ReadResourceChunk {
                chunk: Some(read_resource_chunk::Chunk::Header(content.header)),
            })
        });
        let data = content.chunks.map(|chunk| {
            chunk
                .map(|data| ReadResourceChunk {
                    chunk: Some(read_resource_chunk::Chunk::Data(data)),
                })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(header.chain(data))))
    }

    type WatchResourceStream = BoxStream<ResourceUpdated>;

    async fn watch_resource(
        &self,
        request: Request<WatchResourceRequest>,
    ) -> Result<Response<Self::WatchResourceStream>, Status> {
        let uri = request.into_inner().uri;
        let updates = self.service.watch_resource(uri.clone()).await?;
        let messages = updates.map(move |update| {
            update
                .map(|()| ResourceUpdated { uri: uri.clone() })
                .map_err(Status::from)
        });
        Ok(Response::new(self.until_stopping(messages)))
    }

    async fn get_prompt(
        &self,
        request: Request<GetPromptRequest>,
    ) -> Result<Response<GetPromptResponse>, Status> {
        let span = telemetry::call_span("prompts/get", traceparent(&request));
        let GetPromptRequest {
            name,
            arguments,
            client_capabilities_json,
            input_round,
        } = request.into_inner();
        let round = Round::new(capabilities(&client_capabilities_json)?, input_round);
        let outcome = telemetry::timed(
            "prompts/get",
            span,
            self.service.get_prompt_in(name, arguments, round),
        )
        .await;
        match outcome {
            Ok(result_json) => Ok(Response::new(GetPromptResponse {
                result_json,
                input_required: None,
            })),
            Err(ServiceError::InputRequired(required)) => Ok(Response::new(GetPromptResponse {
                result_json: bytes::Bytes::new(),
                input_required: Some(*required),
            })),
            Err(error) => Err(Status::from(error)),
        }
    }

    async fn task(&self, request: Request<TaskRequest>) -> Result<Response<TaskResponse>, Status> {
        let principal = metadata_str(&request, micromcp_proto::PRINCIPAL_METADATA);
        let TaskRequest {
            method,
            task_id,
            input_responses_json,
        } = request.into_inner();
        let result = match method.as_str() {
            "tasks/get" => self.tasks.get(&task_id, &principal)?,
            "tasks/update" => {
                let answers = input_responses_json.into_iter().collect();
                self.tasks.update(&task_id, &principal, answers)?;
                serde_json::json!({})
            }
            "tasks/cancel" => {
                self.tasks.cancel(&task_id, &principal)?;
                serde_json::json!({})
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "not a tasks method: {other}"
                )));
            }
        };
        Ok(Response::new(TaskResponse {
            result_json: bytes::Bytes::from(result.to_string()),
        }))
    }

    async fn complete(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        let span = telemetry::call_span("completion/complete", traceparent(&request));
        let mut response = telemetry::timed(
            "completion/complete",
            span,
            self.service.complete(request.into_inner()),
        )
        .await?;
        response.values.truncate(100);
        Ok(Response::new(response))
    }
}
