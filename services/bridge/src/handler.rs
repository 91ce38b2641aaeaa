//! `BridgeHandler`: the rmcp client handler of the upstream connection. It
//! declares sampling, elicitation and roots (answered by the gateway's
//! clients through the call in flight), routes progress and logs to calls,
//! and asks for a catalog refresh on every `list_changed`. Sampling, roots
//! and logging are deprecated by 2026-07-28 but still in use; relaying them
//! is this module's job, hence `allow(deprecated)`.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::model::{
    ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, ErrorData, ListRootsResult, LoggingMessageNotificationParam,
    ProgressNotificationParam, ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, RoleClient};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::routing::{CallRegistry, Delivery};
use crate::watches::Watches;

/// State shared between the handler and the service.
#[derive(Default)]
pub struct BridgeState {
    pub calls: Arc<CallRegistry>,
    /// Signalled when the upstream says a list changed.
    pub catalog_changed: Notify,
    /// The upstream resource subscriptions the gateway's watches follow.
    pub watches: Arc<Watches>,
}

/// The upstream connection's client handler.
#[derive(Clone)]
pub struct BridgeHandler {
    pub state: Arc<BridgeState>,
    info: ClientConfig,
}

impl BridgeHandler {
    pub fn new(state: Arc<BridgeState>) -> Self {
        let info: ClientConfig = serde_json::from_value(json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"sampling": {}, "elicitation": {}, "roots": {}},
            "clientInfo": {"name": "micromcp-bridge", "version": env!("CARGO_PKG_VERSION")}
        }))
        .unwrap_or_default();
        Self { state, info }
    }

    /// Relays an upstream request to the gateway client behind the latest
    /// call that can answer it.
    async fn relay<T: DeserializeOwned>(
        &self,
        capability: &str,
        method: &str,
        params: Value,
    ) -> Result<T, ErrorData> {
        let events = self.state.calls.latest_with(capability).ok_or_else(|| {
            ErrorData::invalid_request(
                format!("no client that supports {capability} is waiting on this server"),
                None,
            )
        })?;
        let answer = events
            .request_input(method, &params)
            .await
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
        serde_json::from_value(answer).map_err(|error| {
            ErrorData::internal_error(format!("invalid {method} answer: {error}"), None)
        })
    }
}

impl ClientHandler for BridgeHandler {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let params = serde_json::to_value(params)
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
        self.relay("sampling", "sampling/createMessage", params)
            .await
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let params = serde_json::to_value(request)
            .map_err(|error| ErrorData::internal_error(error.to_string(), None))?;
        self.relay("elicitation", "elicitation/create", params)
            .await
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        if self.state.calls.latest_with("roots").is_none() {
            return Ok(ListRootsResult::default());
        }
        self.relay("roots", "roots/list", json!({})).await
    }

    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        // Queued for its call as it was read (see `routing`); a token no
        // call holds goes nowhere.
        if let Some(delivery) = context.extensions.get::<Delivery>() {
            delivery.deliver().await;
        }
    }

    async fn on_logging_message(
        &self,
        _params: LoggingMessageNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        if let Some(delivery) = context.extensions.get::<Delivery>() {
            delivery.deliver().await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.state.watches.updated(&params.uri);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.state.catalog_changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.state.catalog_changed.notify_one();
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.state.catalog_changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}
