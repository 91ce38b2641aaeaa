//! `subscriptions/listen` (2026-07-28, SEP-2575): one long-lived response
//! stream per request carrying the notifications the client opted in to.
//! The first message is `notifications/subscriptions/acknowledged` with the
//! subset the gateway honours: list changes of its own merged catalog
//! (tools, prompts, resources — whichever service changed), and updates of
//! the `resourceSubscriptions` URIs the principal may read and whose service
//! can watch them (a `WatchResource` stream each, authorized by the route
//! like a read). Every message carries `_meta.subscriptionId` = the
//! request's id; nothing un-requested is sent. The stream lasts until the
//! client closes it (which ends the watches); each principal holds at most
//! `gateway::MAX_LISTENS_PER_PRINCIPAL` at once, and each watched URI takes
//! a place in the principal's watch quota (`limits.max_watches_per_principal`,
//! shared with `resources/subscribe`): past it the listen is refused.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::SelectAll;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc};

use super::{outbound, route};
use crate::catalog::ListKind;
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::quota::Exceeded;
use crate::wire::jsonrpc::encode_notification;

/// `_meta` key tying a message to its listen stream.
const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// Resource URIs one listen may follow.
const MAX_RESOURCE_SUBSCRIPTIONS: usize = 64;

/// `params.notifications`: what the client opts in to.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    tools_list_changed: bool,
    #[serde(default)]
    prompts_list_changed: bool,
    #[serde(default)]
    resources_list_changed: bool,
    #[serde(default)]
    resource_subscriptions: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct ListenParams {
    notifications: Filter,
}

/// A stream of updates of one watched URI (each item: that URI).
type Updates = futures::stream::BoxStream<'static, String>;

pub(crate) async fn listen(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    params: Option<&RawValue>,
) -> Result<Reply, GatewayError> {
    if !context.is_modern() {
        return Err(GatewayError::MethodNotFound(
            "subscriptions/listen is part of protocol 2026-07-28; a 2025-11-25 session gets list changes on its GET stream and uses resources/subscribe".into(),
        ));
    }
    let raw = params.ok_or_else(|| GatewayError::InvalidParams("missing params".into()))?;
    let ListenParams { notifications } = serde_json::from_str(raw.get()).map_err(|error| {
        GatewayError::InvalidParams(format!("invalid subscriptions/listen params: {error}"))
    })?;
    let requested_uris = notifications.resource_subscriptions.clone();
    if let Some(uris) = &requested_uris
        && uris.len() > MAX_RESOURCE_SUBSCRIPTIONS
    {
        return Err(GatewayError::InvalidParams(format!(
            "params.notifications.resourceSubscriptions has {} URIs; at most {MAX_RESOURCE_SUBSCRIPTIONS}",
            uris.len()
        )));
    }
    let permit = gateway
        .listens
        .acquire(context.principal.id.clone())
        .map_err(|exceeded| {
            GatewayError::InvalidRequest(match exceeded {
                Exceeded::PerKey(limit) => format!(
                    "this principal already holds {limit} subscriptions/listen streams; close one first"
                ),
                Exceeded::Total(limit) => {
                    format!("the gateway holds {limit} subscriptions/listen streams; retry later")
                }
            })
        })?;
    // Subscribed before the acknowledgement, so no change falls between.
    let changes = gateway.backends.subscribe();
    let mut watches = SelectAll::new();
    let mut honoured_uris = Vec::new();
    // Each watched URI holds a place in the principal's watch quota
    // (shared with resources/subscribe) while the stream lasts.
    let mut places = Vec::new();
    for uri in requested_uris.iter().flatten().collect::<BTreeSet<_>>() {
        let place = gateway.watch_place(&context.principal.id).await?;
        if let Some(updates) = watch(gateway, context, uri).await {
            watches.push(updates);
            honoured_uris.push(uri.clone());
            places.push(place);
        }
    }
    let mut acknowledged = serde_json::Map::new();
    for (requested, field) in [
        (notifications.tools_list_changed, "toolsListChanged"),
        (notifications.prompts_list_changed, "promptsListChanged"),
        (notifications.resources_list_changed, "resourcesListChanged"),
    ] {
        if requested {
            acknowledged.insert(field.into(), true.into());
        }
    }
    if requested_uris.is_some() {
        acknowledged.insert("resourceSubscriptions".into(), json!(honoured_uris));
    }
    let tag = Tag(id_text.to_owned());
    let ack = tag.notification(
        "notifications/subscriptions/acknowledged",
        json!({"notifications": acknowledged}),
    );
    let (to_client, messages) = mpsc::channel(16);
    tokio::spawn(async move {
        let _held = (permit, places);
        if to_client.send(ack).await.is_err() {
            return;
        }
        forward(notifications, changes, watches, &tag, &to_client).await;
    });
    Ok(Reply::Events(messages))
}

/// The request id that tags every message of one listen stream.
struct Tag(String);

impl Tag {
    /// A notification with `params` and `_meta.subscriptionId`.
    fn notification(&self, method: &str, params: serde_json::Value) -> Vec<u8> {
        let mut params = params;
        let id: serde_json::Value =
            serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null);
        if let Some(object) = params.as_object_mut() {
            object.insert("_meta".into(), json!({META_SUBSCRIPTION_ID: id}));
        }
        encode_notification(method, params.to_string().as_bytes())
    }
}

/// Sends the opted-in notifications until the client goes.
async fn forward(
    filter: Filter,
    mut changes: broadcast::Receiver<ListKind>,
    mut watches: SelectAll<Updates>,
    tag: &Tag,
    to_client: &mpsc::Sender<Vec<u8>>,
) {
    loop {
        let message = tokio::select! {
            change = changes.recv() => match change {
                Ok(kind) => list_changed(&filter, kind).map(|method| tag.notification(method, json!({}))),
                // Missed changes: say every list the client follows changed.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for kind in [ListKind::Tools, ListKind::Prompts, ListKind::Resources] {
                        if let Some(method) = list_changed(&filter, kind)
                            && to_client.send(tag.notification(method, json!({}))).await.is_err()
                        {
                            return;
                        }
                    }
                    None
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some(uri) = watches.next(), if !watches.is_empty() => {
                Some(tag.notification("notifications/resources/updated", json!({"uri": uri})))
            }
            () = to_client.closed() => return,
        };
        if let Some(message) = message
            && to_client.send(message).await.is_err()
        {
            return;
        }
    }
}

/// The list-changed method for `kind` when the client opted in to it.
fn list_changed(filter: &Filter, kind: ListKind) -> Option<&'static str> {
    match kind {
        ListKind::Tools if filter.tools_list_changed => Some("notifications/tools/list_changed"),
        ListKind::Prompts if filter.prompts_list_changed => {
            Some("notifications/prompts/list_changed")
        }
        ListKind::Resources | ListKind::ResourceTemplates if filter.resources_list_changed => {
            Some("notifications/resources/list_changed")
        }
        _ => None,
    }
}

/// Updates of `uri`, when the principal may read it and its service can
/// watch it (else `None`: left out of the acknowledgement).
async fn watch(gateway: &Arc<Gateway>, context: &CallContext, uri: &str) -> Option<Updates> {
    let route = route::resource(gateway, context, uri).ok()?;
    if !route.watches() {
        return None;
    }
    let mut client = route.client().ok()?;
    let request = outbound::watch_request(gateway, context, route.readable_sources(), uri);
    let updates = client.watch_resource(request).await.ok()?.into_inner();
    let uri = uri.to_owned();
    Some(
        updates
            .take_while(|update| std::future::ready(update.is_ok()))
            .map(move |_| uri.clone())
            .boxed(),
    )
}
