//! `BridgeService`: the micromcp.v1 face of the upstream server. A call
//! chooses its upstream session here and is forwarded by [`call`]
//! (progress routed back by token; cancellation of the gateway call
//! cancels the upstream request); results travel as raw JSON.
//! With `principalTokens`, tool calls and resource reads go through the
//! caller's own upstream session (`principal_sessions`).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use micromcp_proto::{
    CompleteRequest, CompleteResponse, ResourceHeader, complete_request::Reference,
};
use micromcp_sdk::{
    Caller, CatalogPublisher, McpService, ResourceContent, Round, ServiceError, ServiceResult,
    ToolCall, ToolEvents, ToolOutput, UpdateStream, UpstreamToken,
};
use rmcp::RoleClient;
use rmcp::model::{ClientRequest, GetPromptRequest, ServerResult};
use rmcp::service::{Peer, PeerRequestOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::convert::map_error;
use crate::principal_sessions::{InUse, PrincipalSessions};
use crate::upstream::Upstream;
use crate::{BridgeConfig, call, convert};

/// The bridge micro-service.
pub struct BridgeService {
    upstream: Arc<Upstream>,
    publisher: CatalogPublisher,
    name: String,
    /// Each principal's own session, with per-user credentials.
    sessions_opt: Option<Arc<PrincipalSessions>>,
}

/// The upstream session one request goes through.
enum Via {
    Shared(Arc<Peer<RoleClient>>),
    Principal(InUse),
}

// === impl Via ===

impl Via {
    fn peer(&self) -> &Peer<RoleClient> {
        match self {
            Self::Shared(peer) => peer,
            Self::Principal(session) => &session.peer,
        }
    }
}

/// Reads `uri` through `peer` (the shared session or the caller's).
async fn read_from(peer: &Peer<RoleClient>, uri: String) -> ServiceResult<ResourceContent> {
    let result = peer
        .read_resource(params(json!({"uri": uri}))?)
        .await
        .map_err(map_error)?;
    let value =
        serde_json::to_value(&result).map_err(|error| ServiceError::Internal(error.to_string()))?;
    let first = value["contents"]
        .get(0)
        .cloned()
        .ok_or_else(|| ServiceError::NotFound(format!("resource not found: {uri}")))?;
    let mime_type = first["mimeType"].as_str().unwrap_or_default().to_owned();
    let (is_text, content) = match (first["text"].as_str(), first["blob"].as_str()) {
        (Some(text), _) => (true, Bytes::from(text.to_owned())),
        (None, Some(blob)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(blob)
                .map_err(|error| {
                    ServiceError::Internal(format!("invalid base64 from upstream: {error}"))
                })?;
            (false, Bytes::from(decoded))
        }
        _ => {
            return Err(ServiceError::Internal(
                "upstream resource has neither text nor blob".into(),
            ));
        }
    };
    let header = ResourceHeader {
        uri: first["uri"].as_str().unwrap_or(&uri).to_owned(),
        mime_type,
        is_text,
        size: Some(content.len() as u64),
    };
    Ok(ResourceContent::from_bytes(header, content))
}

fn params<T: serde::de::DeserializeOwned>(value: Value) -> ServiceResult<T> {
    serde_json::from_value(value)
        .map_err(|error| ServiceError::InvalidArgument(format!("invalid request: {error}")))
}

impl BridgeService {
    /// Starts keeping the upstream connected (until `shutdown`).
    pub fn start(config: BridgeConfig, shutdown: CancellationToken) -> Self {
        let publisher = CatalogPublisher::pending();
        let name = config.name.clone();
        let sessions_opt = config
            .principal_tokens_opt
            .clone()
            .map(|tokens| PrincipalSessions::start(tokens, shutdown.child_token()));
        let upstream = Upstream::new(config, publisher.clone());
        tokio::spawn(upstream.clone().run(shutdown));
        Self {
            upstream,
            publisher,
            name,
            sessions_opt,
        }
    }

    /// The session a request of `principal` goes through: its own with
    /// per-user credentials, else the shared one.
    async fn via(&self, principal: &str, sent_opt: Option<&UpstreamToken>) -> ServiceResult<Via> {
        match &self.sessions_opt {
            // Boxed: opening a session (a whole handshake) would otherwise
            // make every call's future that large, copied at each move.
            Some(sessions) => Ok(Via::Principal(
                Box::pin(sessions.session(
                    &self.upstream,
                    principal,
                    sent_opt.map(|token| token.0.as_str()),
                ))
                .await?,
            )),
            None => Ok(Via::Shared(self.peer()?)),
        }
    }

    fn peer(&self) -> ServiceResult<Arc<Peer<RoleClient>>> {
        self.upstream.peer().ok_or_else(|| {
            ServiceError::Unavailable(format!(
                "upstream server {:?} is not connected (restarting)",
                self.name
            ))
        })
    }
}

impl McpService for BridgeService {
    fn catalog(&self) -> &CatalogPublisher {
        &self.publisher
    }

    async fn call_tool(&self, call: ToolCall, events: ToolEvents) -> ServiceResult<ToolOutput> {
        let via = self
            .via(&call.principal, call.upstream_token_opt.as_ref())
            .await?;
        let peer = via.peer();
        let (state, modern) = match &via {
            Via::Shared(_) => (&*self.upstream.state, self.upstream.is_modern()),
            Via::Principal(session) => (&*session.state, session.is_modern()),
        };
        if let (Some(level), Via::Shared(_)) = (events.log_level(), &via)
            && !modern
        {
            // Boxed: rare, and its future would size every call's.
            Box::pin(self.upstream.ensure_log_level(peer, level)).await;
        }
        let forward = call::Forward {
            peer,
            state,
            timeout: self.upstream.call_timeout(),
            name: call.name,
            arguments_json: &call.arguments_json,
        };
        call::forward(forward, events).await
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        read_from(&*self.peer()?, uri).await
    }

    async fn read_resource_for(
        &self,
        uri: String,
        caller: Caller,
    ) -> ServiceResult<ResourceContent> {
        let via = self
            .via(&caller.principal, caller.upstream_token_opt.as_ref())
            .await?;
        read_from(via.peer(), uri).await
    }

    async fn get_prompt_in(
        &self,
        name: String,
        arguments: HashMap<String, String>,
        round: Round,
    ) -> ServiceResult<Bytes> {
        let peer = self.peer()?;
        let mut request = json!({"name": name, "arguments": arguments});
        convert::add_round(&mut request, &round)?;
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(params(request)?));
        let mut options = PeerRequestOptions::with_timeout(self.upstream.call_timeout());
        options.meta = Some(convert::client_meta(&round, None));
        let response = peer
            .send_request_with_option(request, options)
            .await
            .map_err(map_error)?
            .await_response()
            .await
            .map_err(map_error)?;
        match response {
            ServerResult::GetPromptResult(result) => Ok(convert::result_json(&result)),
            ServerResult::InputRequiredResult(result) => Err(convert::input_required(&result)),
            other => Err(ServiceError::Internal(format!(
                "unexpected upstream answer: {}",
                serde_json::to_string(&other).unwrap_or_default()
            ))),
        }
    }

    async fn get_prompt(
        &self,
        name: String,
        arguments: HashMap<String, String>,
    ) -> ServiceResult<Bytes> {
        self.get_prompt_in(name, arguments, Round::default()).await
    }

    async fn watch_resource(&self, uri: String) -> ServiceResult<UpdateStream> {
        let peer = self.peer()?;
        if !self.upstream.watches_resources() {
            return Err(ServiceError::Unsupported(format!(
                "upstream server {:?} cannot watch resources ({uri})",
                self.name
            )));
        }
        let modern = self.upstream.is_modern();
        self.upstream.state.watches.follow(peer, uri, modern).await
    }

    async fn complete(&self, request: CompleteRequest) -> ServiceResult<CompleteResponse> {
        let peer = self.peer()?;
        let reference = match request.reference {
            Some(Reference::PromptName(name)) => json!({"type": "ref/prompt", "name": name}),
            Some(Reference::ResourceUri(uri)) => json!({"type": "ref/resource", "uri": uri}),
            None => return Ok(CompleteResponse::default()),
        };
        let result = peer
            .complete(params(json!({
                "ref": reference,
                "argument": {"name": request.argument_name, "value": request.argument_value},
                "context": {"arguments": request.context_arguments}
            }))?)
            .await
            .map_err(map_error)?;
        let value = serde_json::to_value(&result)
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        let completion = &value["completion"];
        Ok(CompleteResponse {
            values: completion["values"]
                .as_array()
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            total: completion["total"].as_u64(),
            has_more: completion["hasMore"].as_bool().unwrap_or(false),
        })
    }
}
