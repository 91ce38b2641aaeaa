//! Per-user credentials for an HTTP upstream (`principalTokens`, or
//! `tokenExchange` where the gateway sends the token it exchanged for the
//! caller): each calling principal's tool calls and resource reads go to
//! the upstream in an MCP session of that principal's own, opened with
//! that principal's token — never with another's, never with the client's
//! token to the gateway (the bridge never sees it), and never with the
//! entry's shared credentials. A principal without a token is refused; a
//! new token (an exchanged one renewed) opens a new session and the old
//! one closes once its calls end. The
//! shared session (shared credentials, if any) still keeps the catalog,
//! resource watches, prompts and completions. Sessions open on first use,
//! are opened again when their connection ends, and close after
//! [`IDLE_CLOSE`] without calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use micromcp_sdk::{ServiceError, ServiceResult};
use rmcp::RoleClient;
use rmcp::model::ProtocolVersion;
use rmcp::service::Peer;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::config::{PrincipalTokens, UpstreamTarget};
use crate::connect;
use crate::handler::{BridgeHandler, BridgeState};
use crate::upstream::Upstream;

/// A principal's session closes after this long without calls.
pub const IDLE_CLOSE: Duration = Duration::from_secs(300);
/// How often idle sessions are looked for.
const IDLE_SWEEP: Duration = Duration::from_secs(30);

/// One principal's upstream session.
pub struct PrincipalSession {
    pub peer: Peer<RoleClient>,
    /// Its own routing of progress, logs and upstream requests to calls.
    pub state: Arc<BridgeState>,
    modern: bool,
    in_flight: AtomicUsize,
    last_used: Mutex<Instant>,
    stop: CancellationToken,
    /// Digest of the token it was opened with.
    token_digest: [u8; 32],
    /// Replaced by a session with a newer token: closes when idle.
    retired: std::sync::atomic::AtomicBool,
}

/// A call's use of a session: keeps it from closing as idle.
pub struct InUse(Arc<PrincipalSession>);

/// The sessions of every principal that called lately.
pub struct PrincipalSessions {
    tokens: PrincipalTokens,
    /// Per principal: its session, opened under the slot's lock (so only
    /// that principal waits while it connects).
    slots: Mutex<HashMap<String, Slot>>,
}

/// One principal's place: its session once opened.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<PrincipalSession>>>>;

// === impl PrincipalSession ===

impl PrincipalSession {
    /// True when the session speaks 2026-07-28.
    pub fn is_modern(&self) -> bool {
        self.modern
    }

    fn usable(&self) -> bool {
        !self.stop.is_cancelled() && !self.peer.is_transport_closed()
    }

    fn idle(&self, now: Instant) -> bool {
        let last_used = *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.in_flight.load(Ordering::Acquire) == 0 && now.duration_since(last_used) >= IDLE_CLOSE
    }

    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

// === impl InUse ===

impl InUse {
    fn new(session: Arc<PrincipalSession>) -> Self {
        session.in_flight.fetch_add(1, Ordering::AcqRel);
        session.touch();
        Self(session)
    }
}

impl std::ops::Deref for InUse {
    type Target = PrincipalSession;

    fn deref(&self) -> &PrincipalSession {
        &self.0
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.touch();
        let left = self.0.in_flight.fetch_sub(1, Ordering::AcqRel) - 1;
        if left == 0 && self.0.retired.load(Ordering::Acquire) {
            self.0.stop.cancel();
        }
    }
}

// === impl PrincipalSessions ===

impl PrincipalSessions {
    /// The sessions of `tokens`' principals; idle ones close until `shutdown`.
    pub fn start(tokens: PrincipalTokens, shutdown: CancellationToken) -> Arc<Self> {
        let sessions = Arc::new(Self {
            tokens,
            slots: Mutex::default(),
        });
        let sweeper = Arc::downgrade(&sessions);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(IDLE_SWEEP) => {}
                    () = shutdown.cancelled() => break,
                }
                let Some(sessions) = sweeper.upgrade() else {
                    return;
                };
                sessions.close_idle(Instant::now());
            }
            if let Some(sessions) = sweeper.upgrade() {
                sessions.close_all();
            }
        });
        sessions
    }

    /// `principal`'s session, opened (again) if needed; refused when the
    /// principal has no token for this upstream.
    pub async fn session(
        &self,
        upstream: &Upstream,
        principal: &str,
        sent_opt: Option<&str>,
    ) -> ServiceResult<InUse> {
        let Some(token) = self.tokens.get(principal, sent_opt) else {
            let source = match self.tokens {
                PrincipalTokens::Configured(_) => "principalTokens",
                PrincipalTokens::FromGateway => "tokenExchange: the gateway sent none",
            };
            return Err(ServiceError::PermissionDenied(format!(
                "principal {principal:?} has no credential for upstream server {:?} ({source})",
                upstream.name()
            )));
        };
        let token_digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(principal.to_owned()).or_default().clone()
        };
        let mut current = slot.lock().await;
        if let Some(session) = current.as_ref().filter(|session| session.usable()) {
            if session.token_digest == token_digest {
                return Ok(InUse::new(session.clone()));
            }
            session.retired.store(true, Ordering::Release);
            if session.in_flight.load(Ordering::Acquire) == 0 {
                session.stop.cancel();
            }
        }
        let session = open(upstream, token, token_digest).await?;
        tracing::debug!(bridge = %upstream.name(), %principal, "opened a principal's upstream session");
        *current = Some(session.clone());
        Ok(InUse::new(session))
    }

    fn close_idle(&self, now: Instant) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.values() {
            // A slot being connected to is busy, not idle.
            if let Ok(mut current) = slot.try_lock()
                && current
                    .as_ref()
                    .is_some_and(|session| session.idle(now) || !session.usable())
                && let Some(session) = current.take()
            {
                session.stop.cancel();
            }
        }
    }

    fn close_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.values() {
            if let Ok(mut current) = slot.try_lock()
                && let Some(session) = current.take()
            {
                session.stop.cancel();
            }
        }
    }
}

/// Opens a session of the upstream with `token` in place of the shared
/// credentials.
async fn open(
    upstream: &Upstream,
    token: &str,
    token_digest: [u8; 32],
) -> ServiceResult<Arc<PrincipalSession>> {
    let target = match &upstream.config().target {
        UpstreamTarget::Url {
            url,
            transport,
            headers,
            ..
        } => UpstreamTarget::Url {
            url: url.clone(),
            transport: *transport,
            headers: headers.clone(),
            token_opt: Some(token.to_owned()),
        },
        UpstreamTarget::Command { .. } => {
            return Err(ServiceError::Internal(
                "principalTokens needs an HTTP upstream".into(),
            ));
        }
    };
    let state = Arc::new(BridgeState::default());
    let handler = BridgeHandler::new(state.clone());
    let running = connect::open(
        upstream.name(),
        &target,
        handler,
        upstream.lifecycle(),
        upstream.url_verdict(),
    )
    .await
    .map_err(|error| {
        ServiceError::Unavailable(format!(
            "cannot open the caller's session with upstream server {:?}: {error}",
            upstream.name()
        ))
    })?;
    let peer = running.peer().clone();
    let modern = peer
        .peer_info()
        .is_some_and(|info| info.protocol_version == ProtocolVersion::V_2026_07_28);
    let stop = CancellationToken::new();
    let session = Arc::new(PrincipalSession {
        peer,
        state,
        modern,
        in_flight: AtomicUsize::new(0),
        last_used: Mutex::new(Instant::now()),
        stop: stop.clone(),
        token_digest,
        retired: std::sync::atomic::AtomicBool::new(false),
    });
    let cancel = running.cancellation_token();
    tokio::spawn(async move {
        tokio::select! {
            _ = running.waiting() => {}
            () = stop.cancelled() => cancel.cancel(),
        }
        stop.cancel();
    });
    Ok(session)
}
