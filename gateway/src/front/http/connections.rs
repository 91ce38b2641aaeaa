//! Serving client connections on one listener: each accepted connection is
//! admitted against the shared caps (`front::limits`) or refused with a
//! 503 (inside TLS on a TLS listener), then served by hyper (HTTP/1.1 or HTTP/2) with a header read
//! timeout — which also closes idle keep-alive connections, and, checked
//! here before hyper sees the socket, connections that never send a byte —
//! and HTTP/2
//! keep-alive pings. On shutdown the listener closes and every connection
//! drains gracefully. Running out of file descriptors slows accepting down
//! instead of spinning. With `[gateway.tls]` each connection's TLS
//! handshake runs first (`tls`), within the same first-bytes bound, and the
//! client certificate it verified rides on every request of the connection
//! (a request extension read by authentication). Each connection's writes
//! go through `stalled` (a client that takes no bytes for a while is cut)
//! and its answers are counted in a ledger (`unwritten`), a request
//! extension too.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::paid_body::PaidBody;
use super::stalled::StalledWriter;
use super::unwritten;
use crate::config::LimitsConfig;
use crate::front::limits::{ConnectionLimits, refusal_message, refuse, refuse_tls};
use crate::unwritten::{ConnectionLedger, UnwrittenAnswers};

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accept failures logged so far (the first and every 1024th are).
static ACCEPT_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Serves `router` on `listener` until `shutdown`, then drains; over TLS
/// when `tls_opt` is given.
pub async fn serve_connections(
    router: Router,
    listener: TcpListener,
    limits: Arc<ConnectionLimits>,
    config: &LimitsConfig,
    tls_opt: Option<TlsAcceptor>,
    book: Arc<UnwrittenAnswers>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(256);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                let failures = ACCEPT_FAILURES.fetch_add(1, Ordering::Relaxed);
                if failures.is_multiple_of(1024) {
                    tracing::warn!(%error, failures = failures + 1, "accepting a connection failed; slowing down");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let permit = match limits.acquire(peer.ip()) {
            Ok(permit) => permit,
            Err(exceeded) => {
                tracing::debug!(peer = %peer, reason = %refusal_message(exceeded), "connection refused");
                match &tls_opt {
                    Some(acceptor) => tokio::spawn(refuse_tls(acceptor.clone(), stream, exceeded)),
                    None => tokio::spawn(refuse(stream, exceeded)),
                };
                continue;
            }
        };
        let (router, builder, watcher) = (router.clone(), builder.clone(), graceful.watcher());
        let first_byte_within = config.header_read_timeout;
        let stall_after = config.stalled_reader_timeout;
        let ledger = ConnectionLedger::new(book.clone());
        let tls_opt = tls_opt.clone();
        tokio::spawn(async move {
            // hyper reads the first bytes (HTTP/1 or HTTP/2?) with no
            // timeout of its own: a socket that never sends is closed here.
            let mut first = [0_u8; 1];
            let peeked = tokio::time::timeout(first_byte_within, stream.peek(&mut first)).await;
            if !matches!(peeked, Ok(Ok(1))) {
                return;
            }
            let router = with_ledger(router, ledger.clone());
            let ledger_watch = ledger.clone();
            let Some(acceptor) = tls_opt else {
                let service = TowerToHyperService::new(router);
                let stream = StalledWriter::new(stream, ledger, stall_after);
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                serve_until_stalled(watcher.watch(connection), &ledger_watch, stall_after).await;
                drop(permit);
                return;
            };
            let Some((stream, certificate_opt)) =
                super::tls::handshake(&acceptor, stream, first_byte_within).await
            else {
                return;
            };
            // The verified client certificate rides on each request.
            let with_certificate = router.map_request(move |mut request: http::Request<_>| {
                if let Some(certificate) = &certificate_opt {
                    request.extensions_mut().insert(certificate.clone());
                }
                request
            });
            let service = TowerToHyperService::new(with_certificate);
            let stream = StalledWriter::new(stream, ledger, stall_after);
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            serve_until_stalled(watcher.watch(connection), &ledger_watch, stall_after).await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// `router` with the connection's ledger on each request, and each answer
/// of known size charged to it.
fn with_ledger(
    router: Router,
    ledger: Arc<ConnectionLedger>,
) -> impl tower::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let charged = ledger.clone();
    router
        .map_request(move |mut request: http::Request<Incoming>| {
            if request.version() == http::Version::HTTP_2 {
                ledger.speaks_http2();
            }
            request.extensions_mut().insert(ledger.clone());
            request
        })
        .map_response(move |response: axum::response::Response| {
            if !unwritten::charge(&charged, &response) || !charged.is_http2() {
                return response;
            }
            let ledger = charged.clone();
            response.map(|body| axum::body::Body::new(PaidBody::new(body, ledger)))
        })
}

/// Serves `connection` until it ends, or until its HTTP/2 client has left
/// answers untaken for `stall_after` (then it is dropped: its socket
/// closed, its answers freed).
async fn serve_until_stalled<F: std::future::Future>(
    connection: F,
    ledger: &ConnectionLedger,
    stall_after: std::time::Duration,
) {
    tokio::select! {
        _ = connection => {}
        () = ledger.stalled(stall_after) => {
            tracing::debug!(
                stalled_secs = stall_after.as_secs(),
                "HTTP/2 client granted no credit for its answers; connection closed"
            );
        }
    }
}
