//! The addresses `micromcp up` will listen on, tried before it writes or
//! starts anything: a taken one stops the start at once with one line that
//! says which flag chooses another, not after tokens were made, the state
//! directory created and the children started.

use std::net::SocketAddr;

use micromcp_gateway::config::RawConfig;

/// Fails when the gateway's address (or a configured admin address) is taken.
pub fn refuse_taken(raw: &RawConfig) -> anyhow::Result<()> {
    let listen_text = raw.gateway.listen.as_deref().unwrap_or("127.0.0.1:8080");
    if let Ok(listen) = listen_text.parse::<SocketAddr>() {
        try_bind(listen)
            .map_err(|error| anyhow::anyhow!("{}", taken_message(listen, &error, "--listen")))?;
    }
    if let Some(admin) = raw
        .admin
        .listen
        .as_deref()
        .and_then(|text| text.parse::<SocketAddr>().ok())
    {
        try_bind(admin).map_err(|error| {
            anyhow::anyhow!(
                "admin.listen: {}",
                taken_message(admin, &error, "--admin-listen")
            )
        })?;
    }
    Ok(())
}

/// The one line for a listen failure, naming the flag that chooses another address.
pub fn taken_message(address: SocketAddr, error: &std::io::Error, flag: &str) -> String {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "cannot listen on {address}: address in use: another process listens on {address}; choose another address with {flag} (e.g. {flag} 127.0.0.1:0 for any free port)"
        )
    } else {
        format!("cannot listen on {address}: {error}; choose another address with {flag}")
    }
}

/// Binds `address` and lets it go (port 0 is always free).
fn try_bind(address: SocketAddr) -> std::io::Result<()> {
    if address.port() == 0 {
        return Ok(());
    }
    drop(std::net::TcpListener::bind(address)?);
    Ok(())
}

/// Parses a listen address for clap.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|error| format!("{text:?}: {error}"))
}
