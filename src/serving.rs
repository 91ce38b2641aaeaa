//! Serving the gateway's HTTP front until shutdown, for `up` and
//! `gateway`: the start-up warnings (authentication off, audit target, open
//! files limit), the admin listener, and the address the front listens on.

use std::path::PathBuf;
use std::sync::Arc;

use micromcp_gateway::Gateway;
use micromcp_gateway::config::{AuditTarget, GatewayConfig};
use micromcp_gateway::live_config::LiveConfig;
use tokio_util::sync::CancellationToken;

pub fn warn_if_insecure(config: &GatewayConfig) {
    if matches!(
        config.auth,
        micromcp_gateway::config::AuthConfig::InsecureNoAuth { .. }
    ) {
        tracing::warn!(
            "AUTHENTICATION IS OFF (--insecure-no-auth): any local process can use this gateway"
        );
        eprintln!("WARNING: authentication is disabled (--insecure-no-auth); loopback only.");
    }
    match &config.audit.target {
        AuditTarget::Off => tracing::warn!(
            "audit log is off: set audit.path (a file, or \"-\" for standard output)"
        ),
        AuditTarget::Stdout => tracing::info!("audit records go to standard output"),
        AuditTarget::File { path, .. } => {
            tracing::info!(path = %path.display(), "audit records appended")
        }
    }
}

/// Says so when the open files limit is below what the connection cap needs.
fn warn_if_descriptors_short(config: &GatewayConfig) {
    let wanted = config.limits.max_connections as u64 + 256;
    if let Some(open_files) = crate::fd_limit::raise_open_files_limit()
        && open_files < wanted
    {
        tracing::warn!(
            open_files,
            max_connections = config.limits.max_connections,
            "the open files limit is below limits.max_connections + 256; clients past it wait in the accept queue"
        );
    }
}

/// Serves until shutdown; `up` records the admin listener's URL in
/// `address_file_opt` (removed when there is none).
pub async fn serve_http(
    gateway: Arc<Gateway>,
    live_opt: Option<Arc<LiveConfig>>,
    shutdown: CancellationToken,
    address_file_opt: Option<PathBuf>,
) -> anyhow::Result<()> {
    let listen = gateway.config.listen;
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        signal_shutdown.cancel();
    });
    warn_if_descriptors_short(&gateway.config);
    let admin_opt = crate::admin::start(&gateway, live_opt, &shutdown).await?;
    if let Some(path) = &address_file_opt {
        let _ = match admin_opt {
            Some(address) => write_private(path, format!("http://{address}\n").as_bytes()),
            None => std::fs::remove_file(path),
        };
    }
    let threads = gateway.config.threads;
    let front = micromcp_gateway::front::http::threads::start(&gateway, listen, threads, &shutdown)
        .map_err(|error| {
            anyhow::anyhow!(
                "{}",
                crate::listeners::taken_message(listen, &error, "--listen")
            )
        })?;
    let scheme = if gateway.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{}/mcp", front.address);
    let served = front.wait().await;
    // Every answered request's record was written before its answer;
    // force them to disk before exiting.
    gateway.audit.sync();
    served?;
    Ok(())
}

/// Writes `bytes` to a new `path` (whatever was there removed first) that
/// only this user may read and write: the commands that send the admin
/// token to the address in it trust no other.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}
