//! Resolves on the first SIGINT (Ctrl-C) or SIGTERM.

use tokio::signal::unix::{SignalKind, signal as unix_signal};

/// Waits for Ctrl-C or SIGTERM.
pub async fn signal() {
    let Ok(mut terminate) = unix_signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
