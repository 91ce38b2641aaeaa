//! Running one micro-service as its own process: bind the TCP address or
//! Unix socket given on the command line, serve until SIGTERM/Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use micromcp_sdk::{Listener, McpService, ServeOptions};

/// Where a service process listens.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct ServiceListen {
    /// TCP address, e.g. 127.0.0.1:7001.
    #[arg(long, value_parser = crate::parse_addr)]
    listen: Option<SocketAddr>,
    /// Unix socket path.
    #[arg(long)]
    socket: Option<PathBuf>,
}

/// Binds and serves `service` until a shutdown signal.
pub async fn serve<S: McpService>(
    service: S,
    listen: ServiceListen,
    name: &str,
) -> anyhow::Result<()> {
    let listener = match (listen.listen, listen.socket) {
        (Some(address), _) => {
            let listener = tokio::net::TcpListener::bind(address).await?;
            tracing::info!(service = name, address = %listener.local_addr()?, "serving over TCP");
            Listener::Tcp(listener)
        }
        (None, Some(path)) => {
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path)?;
            tracing::info!(service = name, socket = %path.display(), "serving over a Unix socket");
            Listener::Unix(listener)
        }
        (None, None) => anyhow::bail!("give --listen or --socket"),
    };
    micromcp_sdk::serve(
        Arc::new(service),
        listener,
        ServeOptions::default(),
        crate::shutdown::signal(),
    )
    .await?;
    tracing::info!(service = name, "stopped");
    Ok(())
}
