//! `serve`: runs an [`McpService`] on an already-bound TCP or Unix listener
//! (gRPC over HTTP/2; on TCP optionally behind TLS 1.3, `tls_incoming`) or
//! QUIC endpoint (the same gRPC over HTTP/3), with
//! `grpc.health.v1`, message size limits, a per-connection concurrency
//! limit and graceful shutdown: on the shutdown signal the server reports
//! NOT_SERVING to health checks, stops accepting, says GOAWAY, ends the long-lived watch streams and lets calls
//! in flight finish — for at most `drain_timeout`, after which it returns
//! whatever is still open.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use micromcp_proto::mcp_service_server::McpServiceServer;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::McpService;
use crate::adapter::GrpcAdapter;

/// Where a service listens.
#[derive(Debug)]
pub enum Listener {
    /// A bound TCP listener (tests bind `127.0.0.1:0`).
    Tcp(TcpListener),
    /// A bound Unix socket (what `micromcp up` uses for its children).
    Unix(UnixListener),
    /// A QUIC endpoint (`micromcp_proto::quic::server_endpoint`); its
    /// transport config already caps the calls in flight per connection.
    Quic(quinn::Endpoint),
    /// A bound TCP listener whose connections speak TLS 1.3 first
    /// (`micromcp_proto::quic::tcp_server_config`; mTLS with a client CA).
    TcpTls(TcpListener, Arc<rustls::ServerConfig>),
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("gRPC over QUIC: {0}")]
    Quic(String),
}

/// Limits applied by [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest request message accepted, in bytes.
    pub max_request_bytes: usize,
    /// Largest response message sent, in bytes.
    pub max_response_bytes: usize,
    /// Concurrent requests per connection.
    pub concurrency_per_connection: usize,
    /// How long calls in flight may go on after the shutdown signal.
    pub drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: 16 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            concurrency_per_connection: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `service` until `shutdown` resolves, then drains in-flight calls.
pub async fn serve<S: McpService>(
    service: Arc<S>,
    listener: Listener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<McpServiceServer<GrpcAdapter<S>>>()
        .await;
    let (stopping_sender, stopping) = watch::channel(false);
    let mut drain_clock = stopping_sender.subscribe();
    let draining_health = health_reporter.clone();
    let shutdown = async move {
        shutdown.await;
        // Health checks now say NOT_SERVING, so balancers stop sending here
        // while the calls in flight drain.
        draining_health
            .set_not_serving::<McpServiceServer<GrpcAdapter<S>>>()
            .await;
        draining_health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = stopping_sender.send(true);
    };
    let drain_deadline = async move {
        if drain_clock.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(options.drain_timeout).await;
    };
    let mcp_service = McpServiceServer::new(GrpcAdapter::new(service, stopping))
        .max_decoding_message_size(options.max_request_bytes)
        .max_encoding_message_size(options.max_response_bytes);
    let served = serve_on(listener, &options, health_service, mcp_service, shutdown);
    tokio::select! {
        served = served => served,
        () = drain_deadline => {
            tracing::warn!(
                drain_timeout_secs = options.drain_timeout.as_secs_f64(),
                "calls still in flight at the drain deadline were cut"
            );
            Ok(())
        }
    }
}

/// Serves on one listener until `shutdown`, then drains.
async fn serve_on<S: McpService, H: Health>(
    listener: Listener,
    options: &ServeOptions,
    health_service: HealthServer<H>,
    mcp_service: McpServiceServer<GrpcAdapter<S>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    match listener {
        Listener::Tcp(tcp_listener) => {
            let incoming = TcpIncoming::from(tcp_listener).with_nodelay(Some(true));
            grpc_router(options, health_service, mcp_service)
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
                .map_err(ServeError::from)
        }
        Listener::TcpTls(tcp_listener, config) => {
            let incoming = crate::tls_incoming::incoming(tcp_listener, config);
            grpc_router(options, health_service, mcp_service)
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
                .map_err(ServeError::from)
        }
        Listener::Unix(unix_listener) => {
            let incoming = UnixListenerStream::new(unix_listener);
            grpc_router(options, health_service, mcp_service)
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
                .map_err(ServeError::from)
        }
        Listener::Quic(endpoint) => {
            let routes = Routes::new(health_service).add_service(mcp_service);
            let acceptor = tonic_h3::quinn::H3QuinnAcceptor::new(endpoint.clone());
            let served = tonic_h3::server::H3Router::new(routes)
                .serve_with_shutdown(acceptor, shutdown)
                .await;
            // HTTP/3 here has no graceful drain: open connections close now
            // and calls still in flight on them fail as transient.
            endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
            endpoint.wait_idle().await;
            served.map_err(|error| ServeError::Quic(error.to_string()))
        }
    }
}

/// The HTTP/2 server for TCP and Unix listeners.
fn grpc_router<S: McpService, H: Health>(
    options: &ServeOptions,
    health: HealthServer<H>,
    mcp: McpServiceServer<GrpcAdapter<S>>,
) -> Router {
    Server::builder()
        .concurrency_limit_per_connection(options.concurrency_per_connection)
        .tcp_nodelay(true)
        .add_service(health)
        .add_service(mcp)
}
