//! What one client may hold of the front: client connections are counted
//! over every front thread, in total and per source address, and a
//! connection past either cap is answered at once with a clear 503 and
//! closed — before it costs a request's worth of work; on a TLS listener
//! the 503 is sent inside TLS after the handshake (never plaintext), to at
//! most [`MAX_TLS_REFUSALS`] refused connections at once (others are
//! closed without an answer). Timeouts on headers,
//! idle keep-alive and bodies are applied where connections are served
//! (`front::http::connections`) with the values of `[limits]`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::config::LimitsConfig;
use crate::quota::{Exceeded, Quota};

/// Client connections held now, by source address.
pub type ConnectionLimits = Quota<IpAddr>;

/// The shared caps of `[limits]` for every front thread.
pub fn connection_limits(config: &LimitsConfig) -> Arc<ConnectionLimits> {
    Quota::new(config.max_connections, config.max_connections_per_source)
}

/// What a refused client is told.
pub fn refusal_message(exceeded: Exceeded) -> String {
    match exceeded {
        Exceeded::Total(limit) => {
            format!(
                "too many connections to the gateway (limits.max_connections = {limit}); retry later"
            )
        }
        Exceeded::PerKey(limit) => format!(
            "too many connections from this address (limits.max_connections_per_source = {limit}); close some or retry later"
        ),
    }
}

/// Refused TLS connections whose handshake may run at once (each costs a
/// handshake's work, which the caps exist to spare).
pub const MAX_TLS_REFUSALS: usize = 64;

/// TLS handshakes of refused connections running now.
static TLS_REFUSALS: AtomicUsize = AtomicUsize::new(0);

/// [`refuse`] on a TLS listener: the 503 goes inside TLS once the
/// handshake is done (within a second); a client that negotiated HTTP/2
/// has its connection closed (TLS close_notify) without an HTTP/1.1 text.
pub async fn refuse_tls(acceptor: TlsAcceptor, stream: TcpStream, exceeded: Exceeded) {
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            TLS_REFUSALS.fetch_sub(1, Ordering::Relaxed);
        }
    }
    if TLS_REFUSALS.fetch_add(1, Ordering::Relaxed) >= MAX_TLS_REFUSALS {
        TLS_REFUSALS.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let _running = Running;
    let Ok(Ok(mut tls)) =
        tokio::time::timeout(Duration::from_secs(1), acceptor.accept(stream)).await
    else {
        return;
    };
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
        return;
    }
    refuse(tls, exceeded).await;
}

/// Answers a refused connection with a 503 (JSON-RPC transient error in the
/// body, `Retry-After`) and closes it; a client that does not take the
/// answer within a second is dropped.
pub async fn refuse(mut stream: impl AsyncWrite + Unpin, exceeded: Exceeded) {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": crate::error::TRANSIENT,
            "message": refusal_message(exceeded),
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

    #[test]
    fn refusals_name_the_key_and_value() {
        let config = LimitsConfig {
            max_connections: 2,
            max_connections_per_source: Some(1),
            ..LimitsConfig::default()
        };
        let limits = connection_limits(&config);
        let source: IpAddr = [10, 0, 0, 1].into();
        let _held = limits.acquire(source).expect("first");
        let refused = limits.acquire(source).expect_err("per source");
        assert!(refusal_message(refused).contains("limits.max_connections_per_source = 1"));
        let _other = limits.acquire([10, 0, 0, 2].into()).expect("other source");
        let refused = limits.acquire([10, 0, 0, 3].into()).expect_err("total");
        assert!(refusal_message(refused).contains("limits.max_connections = 2"));
    }
}
