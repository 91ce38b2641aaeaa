//! What one client may hold of the front: client connections are counted
//! over every front thread, in total and per source address, and a
//! connection past either cap is answered at once with a clear 503 and
//! closed — before it costs a request's worth of work. Timeouts on headers,
//! idle keep-alive and bodies are applied where connections are served
//! (`front::http::connections`) with the values of `[limits]`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::config::LimitsConfig;

/// Connections held now, against the configured caps.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_source_opt: Option<usize>,
    total: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; its place is given back when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    source: IpAddr,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.max_connections` reached.
    Total(usize),
    /// `limits.max_connections_per_source` reached for this address.
    PerSource(usize),
}

// === impl ConnectionLimits ===

impl ConnectionLimits {
    /// Caps from `[limits]`, shared by every front thread.
    pub fn new(config: &LimitsConfig) -> Arc<Self> {
        Arc::new(Self {
            max_total: config.max_connections,
            max_per_source_opt: config.max_connections_per_source,
            total: AtomicUsize::new(0),
            per_source: Mutex::default(),
        })
    }

    /// Admits a connection from `source`, or says which cap it hit.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let held = self.total.fetch_add(1, Ordering::AcqRel);
        if held >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Total(self.max_total));
        }
        if let Some(max_per_source) = self.max_per_source_opt {
            let Ok(mut per_source) = self.per_source.lock() else {
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::PerSource(max_per_source));
            };
            let count = per_source.entry(source).or_insert(0);
            if *count >= max_per_source {
                drop(per_source);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::PerSource(max_per_source));
            }
            *count += 1;
        }
        Ok(ConnectionPermit {
            limits: self.clone(),
            source,
        })
    }

    /// Connections held now.
    pub fn held(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if self.limits.max_per_source_opt.is_some()
            && let Ok(mut per_source) = self.limits.per_source.lock()
            && let Some(count) = per_source.get_mut(&self.source)
        {
            *count -= 1;
            if *count == 0 {
                per_source.remove(&self.source);
            }
        }
        self.limits.total.fetch_sub(1, Ordering::AcqRel);
    }
}

// === impl Refusal ===

impl Refusal {
    /// What the client is told.
    pub fn message(self) -> String {
        match self {
            Self::Total(limit) => {
                format!(
                    "too many connections to the gateway (limits.max_connections = {limit}); retry later"
                )
            }
            Self::PerSource(limit) => format!(
                "too many connections from this address (limits.max_connections_per_source = {limit}); close some or retry later"
            ),
        }
    }
}

/// Answers a refused connection with a 503 (JSON-RPC transient error in the
/// body, `Retry-After`) and closes it; a client that does not take the
/// answer within a second is dropped.
pub async fn refuse(mut stream: TcpStream, refusal: Refusal) {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": crate::error::TRANSIENT,
            "message": refusal.message(),
            "data": {"category": "transient_error"},
        },
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_source: Option<usize>) -> Arc<ConnectionLimits> {
        ConnectionLimits::new(&LimitsConfig {
            max_connections: total,
            max_connections_per_source: per_source,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn caps_hold_and_dropped_permits_give_their_place_back() {
        let limits = limits(3, Some(2));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = limits.admit(a).expect("first");
        let _second = limits.admit(a).expect("second");
        assert_eq!(limits.admit(a).err(), Some(Refusal::PerSource(2)));
        let _third = limits.admit(b).expect("other source");
        assert_eq!(limits.admit(b).err(), Some(Refusal::Total(3)));
        assert_eq!(limits.held(), 3);
        drop(first);
        assert_eq!(limits.held(), 2);
        assert!(limits.admit(a).is_ok(), "a's place came back");
        let open = self::limits(1, None);
        let _only = open.admit(a).expect("only");
        assert_eq!(open.admit(b).err(), Some(Refusal::Total(1)));
    }
}
