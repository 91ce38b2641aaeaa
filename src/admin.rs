//! Starts the gateway's admin listener (`/metrics`, `/healthz`, `/readyz`):
//! reads its token (`admin.token_file` or `MICROMCP_ADMIN_TOKEN`), refuses
//! an address beyond loopback without one (naming `admin.listen`), installs
//! the metrics recorder and serves until shutdown. A failure to listen on
//! the default address is warned about (another gateway on this machine may
//! hold it); on a configured one it stops the start.

use std::sync::Arc;

use micromcp_gateway::Gateway;
use micromcp_gateway::front::admin;
use micromcp_gateway::live_config::LiveConfig;
use tokio_util::sync::CancellationToken;

/// Starts the admin listener of `gateway`, if configured.
pub async fn start(
    gateway: &Arc<Gateway>,
    live_opt: Option<Arc<LiveConfig>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let config = &gateway.config.admin;
    let Some(listen) = config.listen else {
        return Ok(());
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
            tracing::warn!(%listen, %error, "admin listener not started (set admin.listen or --admin-listen to choose its address)");
            return Ok(());
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
    Ok(())
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
