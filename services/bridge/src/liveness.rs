//! Liveness of an HTTP upstream connection: a `ping` every few seconds. A
//! server that lost our session without saying so the way the specification
//! asks (some answer 400 instead of 404, so no client can re-establish the
//! session by itself), or that stopped answering, is reported after two
//! missed pings in a row, and the bridge reconnects with a fresh session.
//! Calls still in flight on the dead connection then fail as transient errors
//! instead of hanging until their timeout. Stdio children are not pinged: a
//! busy single-threaded server may rightly answer late, and a dead one is
//! seen by its exit.

use std::time::Duration;

use rmcp::RoleClient;
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::service::{Peer, ServiceError};

/// How often the upstream is pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(4);
/// Missed pings in a row that mark the connection dead.
const MISSES_ALLOWED: u32 = 2;
/// Longest a ping may go unanswered.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Returns (only) when the upstream stops answering; the reason says why.
pub async fn watch(peer: Peer<RoleClient>) -> String {
    let mut misses = 0;
    loop {
        tokio::time::sleep(PING_INTERVAL).await;
        let ping = peer.send_request(ClientRequest::PingRequest(PingRequest::default()));
        let miss = match tokio::time::timeout(PING_TIMEOUT, ping).await {
            // An error answer is still an answer: the session is alive.
            Ok(Ok(_) | Err(ServiceError::McpError(_))) => None,
            Ok(Err(error)) => Some(format!("ping failed: {error}")),
            Err(_) => Some(format!("no answer to ping within {PING_TIMEOUT:?}")),
        };
        match miss {
            None => misses = 0,
            Some(reason) => {
                misses += 1;
                if misses >= MISSES_ALLOWED {
                    return format!("{reason} ({misses} times in a row)");
                }
            }
        }
    }
}
