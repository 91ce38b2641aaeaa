//! Starts the gateway's admin listener (`/metrics`, `/healthz`, `/readyz`):
//! reads its token (`admin.token_file` or `MICROMCP_ADMIN_TOKEN`), refuses
//! an address beyond loopback without one (naming `admin.listen`), installs
//! the metrics recorder and serves until shutdown. When the default address
//! is taken (another gateway on this machine may hold it) the listener takes
//! a free port of the same host instead, said in a warning; a failure on a
//! configured one stops the start. Its address is returned (`up` records it
//! for `micromcp tools` and `registry add`).

use std::net::SocketAddr;
use std::sync::Arc;

use micromcp_gateway::Gateway;
use micromcp_gateway::front::admin;
use micromcp_gateway::live_config::LiveConfig;
use tokio_util::sync::CancellationToken;

/// Starts the admin listener of `gateway`, if configured; its address.
pub async fn start(
    gateway: &Arc<Gateway>,
    live_opt: Option<Arc<LiveConfig>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<SocketAddr>> {
    let config = &gateway.config.admin;
    let Some(listen) = config.listen else {
        return Ok(None);
    };
    let token_opt = admin_token(config.token_file.as_deref())?;
    if token_opt.is_none() && !admin::may_serve_without_token(listen) {
        anyhow::bail!(
            "invalid configuration:\n  - admin.listen: {listen} is beyond loopback; set admin.token_file or MICROMCP_ADMIN_TOKEN"
        );
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) if !config.listen_configured => {
            tracing::warn!(%listen, %error, "the default admin address is taken; the admin listener takes a free port instead (set admin.listen or --admin-listen to choose its address)");
            tokio::net::TcpListener::bind(SocketAddr::new(listen.ip(), 0))
                .await
                .map_err(|error| anyhow::anyhow!("admin listener: {error}"))?
        }
        Err(error) => anyhow::bail!("admin.listen: cannot listen on {listen}: {error}"),
    };
    micromcp_gateway::telemetry::install().map_err(anyhow::Error::msg)?;
    let address = listener.local_addr()?;
    println!("admin on http://{address}/");
    tokio::spawn(admin::serve(
        gateway.clone(),
        live_opt,
        listener,
        token_opt,
        shutdown.clone(),
    ));
    Ok(Some(address))
}

fn admin_token(file_opt: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    if let Some(path) = file_opt {
        let text = std::fs::read_to_string(path)
            .map_err(|error| anyhow::anyhow!("admin.token_file: {}: {error}", path.display()))?;
        let token = text.trim().to_owned();
        if token.is_empty() {
            anyhow::bail!("admin.token_file: {} is empty", path.display());
        }
        return Ok(Some(token));
    }
    Ok(std::env::var("MICROMCP_ADMIN_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty()))
}
