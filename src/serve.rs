//! Running one micro-service as its own process: bind the TCP address, Unix
//! socket and/or QUIC address given on the command line (one service behind
//! all of them), serve until SIGTERM/Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use micromcp_proto::quic::{ServerTls, server_endpoint, tcp_server_config};
use micromcp_sdk::{Listener, McpService, ServeOptions};
use tokio_util::sync::CancellationToken;

/// Where a service process listens (at least one of them; checked when
/// binding).
#[derive(clap::Args)]
pub struct ServiceListen {
    /// TCP address for gRPC over HTTP/2, e.g. 127.0.0.1:7001.
    #[arg(long, value_parser = crate::listeners::parse_addr)]
    listen: Option<SocketAddr>,
    /// Unix socket path for gRPC over HTTP/2.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// UDP address for gRPC over HTTP/3 (QUIC), e.g. 127.0.0.1:7443; needs
    /// --tls-cert and --tls-key.
    #[arg(long, value_parser = crate::listeners::parse_addr, requires_all = ["tls_cert", "tls_key"])]
    quic: Option<SocketAddr>,
    /// TCP address for gRPC over HTTP/2 behind TLS 1.3 (gateway endpoint
    /// `https://…`), e.g. 10.0.0.5:7002; needs --tls-cert and --tls-key.
    #[arg(long, value_parser = crate::listeners::parse_addr, requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    #[command(flatten)]
    tls: QuicTlsArgs,
    /// After SIGTERM, how long calls in flight may go on before they are cut.
    #[arg(long, default_value_t = 10)]
    drain_timeout_secs: u64,
    /// TCP address for this service's Prometheus `/metrics` (off unless
    /// given); beyond loopback it needs MICROMCP_METRICS_TOKEN.
    #[arg(long, value_parser = crate::listeners::parse_addr)]
    metrics_listen: Option<SocketAddr>,
}

/// The TLS listeners' (QUIC, --tls-listen) certificate, key and optional
/// client CA (mTLS).
#[derive(clap::Args)]
pub struct QuicTlsArgs {
    /// PEM certificate chain presented on the QUIC and TLS listeners.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// PEM CA: clients of the QUIC and TLS listeners must present a
    /// certificate issued by it (mTLS).
    #[arg(long)]
    tls_client_ca: Option<PathBuf>,
}

/// Serves the service's `/metrics` on `address` until `stop`.
async fn start_metrics(
    address: SocketAddr,
    name: &str,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let token_opt = std::env::var("MICROMCP_METRICS_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty());
    anyhow::ensure!(
        token_opt.is_some() || micromcp_telemetry::access::may_serve_without_token(address),
        "--metrics-listen {address} is beyond loopback; set MICROMCP_METRICS_TOKEN"
    );
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--metrics-listen {address}"))?;
    tracing::info!(service = name, address = %listener.local_addr()?, "serving /metrics");
    let stop = stop.clone();
    tokio::spawn(micromcp_sdk::serve_metrics(
        listener,
        token_opt,
        stop.cancelled_owned(),
    ));
    Ok(())
}

/// Binds every requested listener and serves `service` on all of them until
/// a shutdown signal.
pub async fn serve<S: McpService>(
    service: S,
    listen: ServiceListen,
    name: &str,
) -> anyhow::Result<()> {
    let options = ServeOptions {
        drain_timeout: std::time::Duration::from_secs(listen.drain_timeout_secs),
        ..ServeOptions::default()
    };
    let mut listeners = Vec::new();
    if let Some(address) = listen.listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("--listen {address}"))?;
        tracing::info!(service = name, address = %listener.local_addr()?, "serving gRPC over TCP");
        listeners.push(Listener::Tcp(listener));
    }
    if let Some(path) = listen.socket {
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("--socket {}", path.display()))?;
        tracing::info!(service = name, socket = %path.display(), "serving gRPC over a Unix socket");
        listeners.push(Listener::Unix(listener));
    }
    anyhow::ensure!(
        (listen.tls.tls_cert.is_none()
            && listen.tls.tls_key.is_none()
            && listen.tls.tls_client_ca.is_none())
            || listen.quic.is_some()
            || listen.tls_listen.is_some(),
        "--tls-cert, --tls-key and --tls-client-ca are for --quic or --tls-listen"
    );
    let tls_opt = match (listen.tls.tls_cert, listen.tls.tls_key) {
        (Some(cert_file), Some(key_file)) => Some(ServerTls {
            cert_file,
            key_file,
            client_ca_file: listen.tls.tls_client_ca,
        }),
        _ => None,
    };
    if let (Some(address), Some(tls)) = (listen.tls_listen, &tls_opt) {
        let config = tcp_server_config(tls).context("--tls-listen")?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("--tls-listen {address}"))?;
        tracing::info!(
            service = name,
            address = %listener.local_addr()?,
            mtls = tls.client_ca_file.is_some(),
            "serving gRPC over TLS on TCP"
        );
        listeners.push(Listener::TcpTls(listener, config));
    }
    if let (Some(address), Some(tls)) = (listen.quic, tls_opt) {
        let concurrency = u32::try_from(options.concurrency_per_connection).unwrap_or(u32::MAX);
        let endpoint = server_endpoint(address, &tls, concurrency).context("--quic")?;
        tracing::info!(
            service = name,
            address = %endpoint.local_addr()?,
            mtls = tls.client_ca_file.is_some(),
            "serving gRPC over QUIC (HTTP/3)"
        );
        listeners.push(Listener::Quic(endpoint));
    }
    anyhow::ensure!(
        !listeners.is_empty(),
        "give --listen, --socket, --tls-listen or --quic"
    );
    let stop = CancellationToken::new();
    if let Some(address) = listen.metrics_listen {
        start_metrics(address, name, &stop).await?;
    }
    let service = Arc::new(service);
    let mut served = tokio::task::JoinSet::new();
    for listener in listeners {
        let (service, stop, options) = (service.clone(), stop.clone(), options.clone());
        served.spawn(async move {
            micromcp_sdk::serve(service, listener, options, stop.cancelled_owned()).await
        });
    }
    let outcome = tokio::select! {
        () = crate::shutdown::signal() => Ok(()),
        Some(ended) = served.join_next() => match ended {
            Ok(result) => result.map_err(anyhow::Error::from),
            Err(error) => Err(anyhow::Error::from(error)),
        },
    };
    stop.cancel();
    while let Some(ended) = served.join_next().await {
        if let Ok(Err(error)) = ended {
            tracing::warn!(service = name, %error, "listener stopped with an error");
        }
    }
    tracing::info!(service = name, "stopped");
    outcome
}
