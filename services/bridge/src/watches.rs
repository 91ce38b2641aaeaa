//! Resource watches of the upstream server: one upstream subscription per
//! URI however many gateway watches follow it — `resources/subscribe` on a
//! 2025-11-25 connection (its `notifications/resources/updated` arrive
//! through the client handler), a `subscriptions/listen` stream naming the
//! URI on a 2026-07-28 one. The last follower gone, the upstream
//! subscription ends (`resources/unsubscribe`, or the listen is dropped);
//! after a reconnect every URI still followed is subscribed again.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use futures::Stream;
use micromcp_sdk::{ServiceError, ServiceResult, UpdateStream};
use rmcp::RoleClient;
use rmcp::model::{
    ServerNotification, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::Peer;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

/// Upstream subscriptions by URI.
#[derive(Default)]
pub struct Watches {
    by_uri: Mutex<HashMap<String, Watched>>,
}

struct Watched {
    updates: broadcast::Sender<()>,
    followers: usize,
    /// The listen stream's task (2026-07-28 upstreams).
    listen_opt: Option<AbortHandle>,
}

/// One gateway watch; ends its part of the upstream subscription when dropped.
struct Follower {
    watches: Arc<Watches>,
    peer: Arc<Peer<RoleClient>>,
    uri: String,
    modern: bool,
    updates: tokio_stream::wrappers::BroadcastStream<()>,
}

impl Watches {
    /// Follows `uri` on the upstream: its updates, one item each.
    pub async fn follow(
        self: &Arc<Self>,
        peer: Arc<Peer<RoleClient>>,
        uri: String,
        modern: bool,
    ) -> ServiceResult<UpdateStream> {
        let existing = {
            let mut by_uri = self.by_uri.lock().unwrap_or_else(PoisonError::into_inner);
            by_uri.get_mut(&uri).map(|watched| {
                watched.followers += 1;
                watched.updates.subscribe()
            })
        };
        let receiver = match existing {
            Some(receiver) => receiver,
            None => {
                let (updates, receiver) = broadcast::channel(16);
                let listen_opt = subscribe(&peer, &uri, modern, updates.clone()).await?;
                let mut by_uri = self.by_uri.lock().unwrap_or_else(PoisonError::into_inner);
                match by_uri.get_mut(&uri) {
                    // Another follower subscribed meanwhile: share its subscription.
                    Some(watched) => {
                        watched.followers += 1;
                        if let Some(listen) = listen_opt {
                            listen.abort();
                        }
                        watched.updates.subscribe()
                    }
                    None => {
                        by_uri.insert(
                            uri.clone(),
                            Watched {
                                updates,
                                followers: 1,
                                listen_opt,
                            },
                        );
                        receiver
                    }
                }
            }
        };
        Ok(Box::pin(Follower {
            watches: self.clone(),
            peer,
            uri,
            modern,
            updates: tokio_stream::wrappers::BroadcastStream::new(receiver),
        }))
    }

    /// An update of `uri` from the upstream (2025-11-25 notifications).
    pub fn updated(&self, uri: &str) {
        let by_uri = self.by_uri.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(watched) = by_uri.get(uri) {
            let _ = watched.updates.send(());
        }
    }

    /// Subscribes every followed URI again on a new connection.
    pub async fn resubscribe(&self, peer: &Peer<RoleClient>, modern: bool) {
        let uris: Vec<(String, broadcast::Sender<()>)> = {
            let by_uri = self.by_uri.lock().unwrap_or_else(PoisonError::into_inner);
            by_uri
                .iter()
                .map(|(uri, watched)| (uri.clone(), watched.updates.clone()))
                .collect()
        };
        for (uri, updates) in uris {
            match subscribe(peer, &uri, modern, updates).await {
                Ok(listen_opt) => {
                    let mut by_uri = self.by_uri.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(watched) = by_uri.get_mut(&uri)
                        && let Some(previous) =
                            std::mem::replace(&mut watched.listen_opt, listen_opt)
                    {
                        previous.abort();
                    }
                }
                Err(error) => {
                    tracing::warn!(%uri, %error, "cannot subscribe to the upstream resource again")
                }
            }
        }
    }

    fn unfollow(&self, peer: &Arc<Peer<RoleClient>>, uri: &str, modern: bool) {
        let mut by_uri = self.by_uri.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(watched) = by_uri.get_mut(uri) else {
            return;
        };
        watched.followers -= 1;
        if watched.followers > 0 {
            return;
        }
        let ended = by_uri.remove(uri);
        drop(by_uri);
        if let Some(listen) = ended.and_then(|watched| watched.listen_opt) {
            listen.abort();
        }
        if !modern {
            let (peer, uri) = (peer.clone(), uri.to_owned());
            tokio::spawn(async move {
                #[allow(deprecated)]
                let _ = peer.unsubscribe(UnsubscribeRequestParams::new(uri)).await;
            });
        }
    }
}

/// Opens the upstream subscription of `uri`; the listen task on a
/// 2026-07-28 connection.
async fn subscribe(
    peer: &Peer<RoleClient>,
    uri: &str,
    modern: bool,
    updates: broadcast::Sender<()>,
) -> ServiceResult<Option<AbortHandle>> {
    if !modern {
        #[allow(deprecated)]
        peer.subscribe(SubscribeRequestParams::new(uri))
            .await
            .map_err(|error| {
                ServiceError::Unavailable(format!("the upstream refused to watch {uri}: {error}"))
            })?;
        return Ok(None);
    }
    let filter = SubscriptionFilter::builder()
        .resource_subscriptions([uri.to_owned()])
        .build();
    let mut subscription = peer.listen(filter).await.map_err(|error| {
        ServiceError::Unavailable(format!("the upstream refused to watch {uri}: {error}"))
    })?;
    let task = tokio::spawn(async move {
        while let Ok(Some(notification)) = subscription.next().await {
            if matches!(
                notification,
                ServerNotification::ResourceUpdatedNotification(_)
            ) {
                let _ = updates.send(());
            }
        }
    });
    Ok(Some(task.abort_handle()))
}

impl Stream for Follower {
    type Item = ServiceResult<()>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        // A follower that fell behind still learns that the resource changed.
        Pin::new(&mut self.updates)
            .poll_next(context)
            .map(|update| update.map(|_| Ok(())))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.watches.unfollow(&self.peer, &self.uri, self.modern);
    }
}
