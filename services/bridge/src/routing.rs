//! Which gateway call an upstream event belongs to: progress by the
//! progress token rmcp put on the request; logs to every call in flight;
//! upstream requests (sampling, elicitation, roots) to the most recent call
//! whose client declared that capability (stdio upstreams do not say which
//! request they are working for).
//!
//! Progress and logs are claimed for their calls as the transport reads
//! them ([`RoutedTransport`]), before rmcp hands them to the handler on a
//! task of their own and before any later message (the call's answer) is
//! read: each call queues them in the order they were read, the handler's
//! task delivers the queue, and the call delivers what is left before it
//! answers ([`Registration::settled`]) — nothing lost, reordered or waited
//! for with a guessed delay.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use micromcp_sdk::ToolEvents;
use rmcp::RoleClient;
use rmcp::model::{
    GetExtensions, JsonRpcMessage, NumberOrString, ProgressToken, ServerNotification,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;

/// One call in flight: its progress-token key and its event queue.
struct Entry {
    key: String,
    queue: Arc<CallQueue>,
}

/// Calls in flight, by progress-token key, in start order.
#[derive(Default)]
pub struct CallRegistry {
    calls: Mutex<Vec<Entry>>,
}

/// A progress or log notification claimed for a call.
#[derive(Clone)]
enum Event {
    Progress {
        progress: f64,
        total_opt: Option<f64>,
        message: String,
    },
    Log {
        level: String,
        logger: String,
        data: Value,
    },
}

/// A call's events and the notifications claimed for it, undelivered, in
/// the order they were read; delivered one flush at a time.
struct CallQueue {
    events: ToolEvents,
    queued: Mutex<VecDeque<Event>>,
    delivering: tokio::sync::Mutex<()>,
}

impl CallQueue {
    /// Queues an event behind those not yet delivered.
    fn push(&self, event: Event) {
        self.queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(event);
    }

    /// Delivers everything queued, in order (after a flush under way).
    async fn flush(&self) {
        let _delivering = self.delivering.lock().await;
        loop {
            let next_opt = self
                .queued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop_front();
            match next_opt {
                None => return,
                Some(Event::Progress {
                    progress,
                    total_opt,
                    message,
                }) => self.events.progress(progress, total_opt, &message).await,
                Some(Event::Log {
                    level,
                    logger,
                    data,
                }) => self.events.log(&level, &logger, &data).await,
            }
        }
    }
}

/// Removes its call from the registry when dropped.
pub struct Registration<'a> {
    registry: &'a CallRegistry,
    key: String,
    queue: Arc<CallQueue>,
}

impl Registration<'_> {
    /// Delivers every notification claimed for this call so far (at once
    /// when none is outstanding).
    pub async fn settled(&self) {
        self.queue.flush().await;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.registry.calls.lock() {
            calls.retain(|entry| entry.key != self.key);
        }
    }
}

/// The calls a notification was queued for: the handler delivers them.
#[derive(Clone)]
pub struct Delivery(Vec<Arc<CallQueue>>);

impl Delivery {
    /// Delivers the queues of the calls the notification went to.
    pub async fn deliver(&self) {
        for queue in &self.0 {
            queue.flush().await;
        }
    }
}

impl CallRegistry {
    /// Registers a call under its progress-token key.
    pub fn register(&self, key: String, events: ToolEvents) -> Registration<'_> {
        let queue = Arc::new(CallQueue {
            events,
            queued: Mutex::default(),
            delivering: tokio::sync::Mutex::default(),
        });
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Entry {
                key: key.clone(),
                queue: queue.clone(),
            });
        }
        Registration {
            registry: self,
            key,
            queue,
        }
    }

    /// The most recent call whose client declared `capability`.
    pub fn latest_with(&self, capability: &str) -> Option<ToolEvents> {
        self.calls
            .lock()
            .ok()?
            .iter()
            .rev()
            .find(|entry| entry.queue.events.client_supports(capability))
            .map(|entry| entry.queue.events.clone())
    }

    /// Queues a progress notification for the call with its token, and a
    /// log for every call in flight; `None` for anything else, or when no
    /// call is there to take it. (Logging is deprecated by 2026-07-28;
    /// 2025-11-25 clients still get it.)
    #[allow(deprecated)]
    pub fn claim(&self, notification: &ServerNotification) -> Option<Delivery> {
        let calls = self.calls.lock().ok()?;
        let (targets, event): (Vec<Arc<CallQueue>>, Event) = match notification {
            ServerNotification::ProgressNotification(progress) => {
                let key = token_key(&progress.params.progress_token);
                let targets = calls
                    .iter()
                    .filter(|entry| entry.key == key)
                    .map(|entry| entry.queue.clone())
                    .collect();
                let params = &progress.params;
                let event = Event::Progress {
                    progress: params.progress,
                    total_opt: params.total,
                    message: params.message.clone().unwrap_or_default(),
                };
                (targets, event)
            }
            ServerNotification::LoggingMessageNotification(log) => {
                let targets = calls.iter().map(|entry| entry.queue.clone()).collect();
                let level = serde_json::to_value(log.params.level)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "info".into());
                let event = Event::Log {
                    level,
                    logger: log.params.logger.clone().unwrap_or_default(),
                    data: log.params.data.clone(),
                };
                (targets, event)
            }
            _ => return None,
        };
        drop(calls);
        let (last, others) = targets.split_last()?;
        for queue in others {
            queue.push(event.clone());
        }
        last.push(event);
        Some(Delivery(targets))
    }
}

/// A map key for a progress token: a number as itself, a string quoted
/// (so the number 1 and the string "1" stay apart), without a serialiser.
pub fn token_key(token: &ProgressToken) -> String {
    match &token.0 {
        NumberOrString::Number(number) => number.to_string(),
        NumberOrString::String(text) => format!("\"{text}\""),
    }
}

/// Any upstream transport, its progress and logs claimed for their calls
/// as they are read (the claim rides to the handler in the notification's
/// extensions).
pub struct RoutedTransport<T> {
    inner: T,
    calls: Arc<CallRegistry>,
}

impl<T> RoutedTransport<T> {
    /// Wraps `inner`; claims go to the calls in `calls`.
    pub fn new(inner: T, calls: Arc<CallRegistry>) -> Self {
        Self { inner, calls }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for RoutedTransport<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let mut message = self.inner.receive().await?;
        if let JsonRpcMessage::Notification(notification) = &mut message
            && let Some(delivery) = self.calls.claim(&notification.notification)
        {
            notification.notification.extensions_mut().insert(delivery);
        }
        Some(message)
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
