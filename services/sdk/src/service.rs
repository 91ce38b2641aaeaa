//! The `McpService` trait a micro-service implements, the call and resource
//! types it sees, and `CatalogPublisher`, through which a service announces
//! catalog changes to the gateway (streamed on `WatchCatalog`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use micromcp_proto::{Catalog, CompleteRequest, CompleteResponse, ResourceHeader};
use tokio::sync::watch;

use crate::{Round, ServiceError, ServiceResult, ToolEvents, ToolOutput};

/// One tool call as the service sees it.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// Un-prefixed tool name.
    pub name: String,
    /// The `arguments` object as the client sent it (raw JSON, `{}` when absent).
    pub arguments_json: Bytes,
    /// The gateway's request id, for logs.
    pub request_id: String,
    /// The authenticated caller, as the gateway saw it.
    pub principal: String,
    /// Services whose content the caller may read, when the gateway limits
    /// it (`None`: no limit was sent).
    pub readable_sources_opt: Option<Vec<String>>,
    /// The caller's own credential for this service's upstream, when the
    /// gateway exchanged one for it (token exchange; `None` otherwise).
    pub upstream_token_opt: Option<UpstreamToken>,
}

/// A caller's credential for a service's upstream, as the gateway sent it
/// (`x-upstream-token`). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamToken(pub String);

impl std::fmt::Debug for UpstreamToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("UpstreamToken(…)")
    }
}

/// Who a resource read is for, as the gateway says.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The authenticated caller.
    pub principal: String,
    /// The gateway's request id, for logs.
    pub request_id: String,
    /// Services whose content the caller may read (`None`: no limit sent).
    pub readable_sources_opt: Option<Vec<String>>,
    /// The caller's own credential for the upstream (see [`ToolCall`]).
    pub upstream_token_opt: Option<UpstreamToken>,
}

impl ToolCall {
    /// Parses the arguments into `T`, mapping failures to `InvalidArgument`
    /// (the client gets JSON-RPC -32602 naming what did not parse):
    ///
    /// ```
    /// # use micromcp_sdk::{ServiceError, ToolCall};
    /// # let call = |arguments: &'static str| ToolCall { name: "count".into(), arguments_json: arguments.into(),
    /// #     request_id: "r1".into(), principal: "alice".into(), readable_sources_opt: None, upstream_token_opt: None };
    /// #[derive(serde::Deserialize)]
    /// struct Count { to: u32 }
    ///
    /// let counted: Count = call(r#"{"to": 3}"#).parse_arguments().unwrap();
    /// assert_eq!(counted.to, 3);
    /// let Err(refused) = call(r#"{"to": "three"}"#).parse_arguments::<Count>() else { panic!("parsed") };
    /// assert!(matches!(refused, ServiceError::InvalidArgument(message) if message.starts_with("invalid arguments")));
    /// ```
    pub fn parse_arguments<T: serde::de::DeserializeOwned>(&self) -> ServiceResult<T> {
        serde_json::from_slice(&self.arguments_json)
            .map_err(|error| ServiceError::InvalidArgument(format!("invalid arguments: {error}")))
    }
}

/// Change notifications for one watched resource (one item per change).
pub type UpdateStream = Pin<Box<dyn Stream<Item = ServiceResult<()>> + Send>>;

/// A resource being read: its header, then its bytes as a stream of chunks.
pub struct ResourceContent {
    /// What is being read.
    pub header: ResourceHeader,
    /// The content, in order; each chunk at most `MAX_RESOURCE_CHUNK_BYTES`.
    pub chunks: Pin<Box<dyn Stream<Item = ServiceResult<Bytes>> + Send>>,
}

impl ResourceContent {
    /// Content that is already in memory, cut into chunks of at most
    /// `MAX_RESOURCE_CHUNK_BYTES`:
    ///
    /// ```
    /// use bytes::Bytes;
    /// use futures::StreamExt;
    /// use micromcp_sdk::ResourceContent;
    /// use micromcp_sdk::proto::ResourceHeader;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let header = ResourceHeader { uri: "note://big".into(), mime_type: "text/plain".into(), is_text: true, size: None };
    /// let content = ResourceContent::from_bytes(header, Bytes::from(vec![b'a'; 100_000]));
    /// let sizes: Vec<usize> = content.chunks.map(|chunk| chunk.unwrap().len()).collect().await;
    /// assert_eq!(sizes, [65_536, 34_464]);
    /// # }
    /// ```
    pub fn from_bytes(header: ResourceHeader, content: Bytes) -> Self {
        let chunk_size = micromcp_proto::MAX_RESOURCE_CHUNK_BYTES;
        let chunks: Vec<ServiceResult<Bytes>> = (0..content.len())
            .step_by(chunk_size)
            .map(|start| Ok(content.slice(start..(start + chunk_size).min(content.len()))))
            .collect();
        Self {
            header,
            chunks: Box::pin(futures::stream::iter(chunks)),
        }
    }
}

/// What a micro-service implements.
pub trait McpService: Send + Sync + 'static {
    /// The catalog publisher; the SDK streams its updates on `WatchCatalog`.
    fn catalog(&self) -> &CatalogPublisher;

    /// Runs a tool. Progress, logs and input requests go through `events`.
    fn call_tool(
        &self,
        call: ToolCall,
        events: ToolEvents,
    ) -> impl Future<Output = ServiceResult<ToolOutput>> + Send;

    /// Opens a resource for reading.
    fn read_resource(
        &self,
        uri: String,
    ) -> impl Future<Output = ServiceResult<ResourceContent>> + Send;

    /// Opens a resource for `caller`; services holding content of other
    /// services override this to apply `caller.readable_sources_opt`. The
    /// default ignores the caller.
    fn read_resource_for(
        &self,
        uri: String,
        caller: Caller,
    ) -> impl Future<Output = ServiceResult<ResourceContent>> + Send {
        let _ = caller;
        self.read_resource(uri)
    }

    /// Renders a prompt; returns a raw MCP `GetPromptResult` JSON object.
    fn get_prompt(
        &self,
        name: String,
        arguments: HashMap<String, String>,
    ) -> impl Future<Output = ServiceResult<Bytes>> + Send {
        let _ = arguments;
        async move { Err(ServiceError::NotFound(format!("unknown prompt: {name}"))) }
    }

    /// Renders a prompt in a request that may take several rounds
    /// (2026-07-28): `round` holds the client's declared capabilities and,
    /// on a retry, its answers; return [`crate::input_required`] to ask for
    /// input. The default ignores the round and calls `get_prompt`.
    fn get_prompt_in(
        &self,
        name: String,
        arguments: HashMap<String, String>,
        round: Round,
    ) -> impl Future<Output = ServiceResult<Bytes>> + Send {
        let _ = round;
        self.get_prompt(name, arguments)
    }

    /// Follows a resource: the stream yields once per change. The default
    /// refuses (set `Catalog.supports_subscriptions` when overriding it).
    fn watch_resource(
        &self,
        uri: String,
    ) -> impl Future<Output = ServiceResult<UpdateStream>> + Send {
        async move {
            Err(ServiceError::Unsupported(format!(
                "this service cannot watch resources ({uri})"
            )))
        }
    }

    /// Completes an argument; the default offers nothing.
    fn complete(
        &self,
        request: CompleteRequest,
    ) -> impl Future<Output = ServiceResult<CompleteResponse>> + Send {
        let _ = request;
        async { Ok(CompleteResponse::default()) }
    }
}

/// Calls a tool of `service` in-process (no gRPC, no gateway; no client
/// events) and returns the `CallToolResult` as JSON: for tests and embedding.
pub async fn call_tool_json<S: McpService>(
    service: &S,
    name: &str,
    arguments: &serde_json::Value,
) -> ServiceResult<serde_json::Value> {
    let call = ToolCall {
        name: name.to_owned(),
        arguments_json: Bytes::from(arguments.to_string()),
        request_id: "in-process".into(),
        principal: "in-process".into(),
        readable_sources_opt: None,
        upstream_token_opt: None,
    };
    let output = service.call_tool(call, ToolEvents::detached()).await?;
    serde_json::from_slice(&output.into_raw_json())
        .map_err(|error| ServiceError::Internal(format!("tool result is not JSON: {error}")))
}

/// Holds a service's current catalog and notifies watchers when it changes.
#[derive(Debug, Clone)]
pub struct CatalogPublisher {
    sender: Arc<watch::Sender<(u64, Arc<Catalog>)>>,
}

// === impl CatalogPublisher ===

impl CatalogPublisher {
    /// Starts at revision 1 with `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        let (sender, _) = watch::channel((1, Arc::new(catalog)));
        Self {
            sender: Arc::new(sender),
        }
    }

    /// A publisher with no catalog yet (revision 0): watchers get nothing
    /// until the first [`publish`](Self::publish), so the gateway does not
    /// take an empty placeholder for the service's real catalog.
    pub fn pending() -> Self {
        let (sender, _) = watch::channel((0, Arc::new(Catalog::default())));
        Self {
            sender: Arc::new(sender),
        }
    }

    /// The current catalog.
    pub fn current(&self) -> Arc<Catalog> {
        self.sender.borrow().1.clone()
    }

    /// Replaces the catalog; every watcher receives the new revision (the
    /// gateway then tells its clients `list_changed`):
    ///
    /// ```
    /// use micromcp_sdk::CatalogPublisher;
    /// use micromcp_sdk::proto::{Catalog, Resource};
    ///
    /// let publisher = CatalogPublisher::new(Catalog::default());
    /// let watcher = publisher.subscribe();
    /// publisher.publish(Catalog {
    ///     resources: vec![Resource { uri: "note://groceries".into(), name: "groceries".into(), ..Resource::default() }],
    ///     ..Catalog::default()
    /// });
    /// let (revision, catalog) = watcher.borrow().clone();
    /// assert_eq!((revision, catalog.resources.len()), (2, 1));
    /// ```
    pub fn publish(&self, catalog: Catalog) {
        self.sender.send_modify(|(revision, current)| {
            *revision += 1;
            *current = Arc::new(catalog);
        });
    }

    /// A receiver of `(revision, catalog)` pairs.
    pub fn subscribe(&self) -> watch::Receiver<(u64, Arc<Catalog>)> {
        self.sender.subscribe()
    }
}
