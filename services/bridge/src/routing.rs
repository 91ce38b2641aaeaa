//! Which gateway call an upstream event belongs to: progress by the
//! progress token rmcp put on the request; logs to every call in flight;
//! upstream requests (sampling, elicitation, roots) to the most recent call
//! whose client declared that capability (stdio upstreams do not say which
//! request they are working for).

use std::sync::Mutex;

use micromcp_sdk::ToolEvents;
use rmcp::model::{NumberOrString, ProgressToken};

/// Calls in flight, by progress-token key, in start order.
#[derive(Default)]
pub struct CallRegistry {
    calls: Mutex<Vec<(String, ToolEvents)>>,
}

/// Removes its call from the registry when dropped.
pub struct Registration<'a> {
    registry: &'a CallRegistry,
    key: String,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.registry.calls.lock() {
            calls.retain(|(key, _)| *key != self.key);
        }
    }
}

impl CallRegistry {
    /// Registers a call under its progress-token key.
    pub fn register(&self, key: String, events: ToolEvents) -> Registration<'_> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((key.clone(), events));
        }
        Registration {
            registry: self,
            key,
        }
    }

    /// The call whose progress token is `key`.
    pub fn by_token(&self, key: &str) -> Option<ToolEvents> {
        self.calls
            .lock()
            .ok()?
            .iter()
            .find(|(existing, _)| existing == key)
            .map(|(_, events)| events.clone())
    }

    /// Every call in flight.
    pub fn all(&self) -> Vec<ToolEvents> {
        self.calls
            .lock()
            .map(|calls| calls.iter().map(|(_, events)| events.clone()).collect())
            .unwrap_or_default()
    }

    /// The most recent call whose client declared `capability`.
    pub fn latest_with(&self, capability: &str) -> Option<ToolEvents> {
        self.calls
            .lock()
            .ok()?
            .iter()
            .rev()
            .find(|(_, events)| events.client_supports(capability))
            .map(|(_, events)| events.clone())
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
