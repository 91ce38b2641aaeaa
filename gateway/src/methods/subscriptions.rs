//! `resources/subscribe` and `resources/unsubscribe` (2025-11-25 sessions):
//! each subscription is a `WatchResource` stream to the owning service,
//! held by the session's runtime; every update becomes a
//! `notifications/resources/updated` on the session's GET stream (recorded,
//! so a client that reconnects with `Last-Event-ID` still gets it). Each
//! holds a place in the principal's watch quota (shared with
//! `subscriptions/listen`, `limits.max_watches_per_principal`). Ending the
//! session, unsubscribing, or the session going without a GET stream for
//! `limits.watch_without_stream_secs` cancels the stream.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{outbound, route};
use crate::backends::{Target, from_status};
use crate::context::{CallContext, EraState};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::session::{GET_STREAM, SessionRuntime, Subscription};
use crate::wire::jsonrpc::encode_notification;
use crate::wire::protocol::ParamsHead;

fn legacy_runtime(context: &CallContext) -> Result<&Arc<SessionRuntime>, GatewayError> {
    match &context.era {
        EraState::Legacy { runtime, .. } => Ok(runtime),
        EraState::Modern { .. } => Err(GatewayError::MethodNotFound(
            "resources/subscribe (protocol 2026-07-28 replaces it with subscriptions/listen)"
                .into(),
        )),
    }
}

pub(crate) async fn subscribe(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    head: ParamsHead<'_>,
) -> Result<(), GatewayError> {
    let runtime = legacy_runtime(context)?.clone();
    let uri = head.required_uri()?;
    let route = route::resource(gateway, context, uri)?;
    let service = route.service_name();
    if !route.watches() {
        return Err(GatewayError::MethodNotFound(format!(
            "resources/subscribe: service {service:?} cannot watch resources"
        )));
    }
    // A subscription replaced gives its place back first.
    let replaced = runtime
        .subscriptions
        .lock()
        .ok()
        .and_then(|mut subscriptions| subscriptions.remove(uri));
    if let Some(replaced) = replaced {
        replaced.token.cancel();
    }
    let place = gateway.watch_place(&context.principal.id).await?;
    let mut client = route.client()?;
    let request = outbound::watch_request(gateway, context, route.readable_sources(), uri);
    let mut updates = client
        .watch_resource(request)
        .await
        .map_err(|status| {
            let target = Target::Resource {
                modern: false,
                uri: uri.into(),
            };
            from_status(service, &target, &status)
        })?
        .into_inner();
    let token = CancellationToken::new();
    let subscription = Subscription {
        token: token.clone(),
        place,
    };
    let previous = runtime
        .subscriptions
        .lock()
        .ok()
        .and_then(|mut subscriptions| subscriptions.insert(uri.to_owned(), subscription));
    if let Some(previous) = previous {
        previous.token.cancel();
    }
    runtime.end_watches_if_unheard(gateway.config.limits.watch_without_stream, true);
    let notification = encode_notification(
        "notifications/resources/updated",
        serde_json::json!({"uri": uri}).to_string().as_bytes(),
    );
    let watched_service = service.to_owned();
    tokio::spawn(async move {
        let Some(log) = runtime.stream(GET_STREAM) else {
            return;
        };
        drop(runtime);
        loop {
            tokio::select! {
                update = updates.message() => match update {
                    Ok(Some(_)) => {
                        log.push(notification.clone());
                    }
                    Ok(None) | Err(_) => {
                        tracing::debug!(service = %watched_service, "resource watch ended");
                        return;
                    }
                },
                () = token.cancelled() => return,
            }
        }
    });
    Ok(())
}

pub(crate) fn unsubscribe(context: &CallContext, head: ParamsHead<'_>) -> Result<(), GatewayError> {
    let runtime = legacy_runtime(context)?;
    let uri = head.required_uri()?;
    let removed = runtime
        .subscriptions
        .lock()
        .ok()
        .and_then(|mut subscriptions| subscriptions.remove(uri));
    if let Some(removed) = removed {
        removed.token.cancel();
    }
    Ok(())
}
