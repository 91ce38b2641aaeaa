//! The per-request context every layer above it reads: who is asking
//! ([`Principal`]), in which era ([`EraState`]: what a 2026-07-28 request
//! carries in `_meta`, or a 2025-11-25 session's capabilities and
//! replica-local state), what the client declared among the capabilities
//! the gateway acts on ([`Declared`], read once when the context is built),
//! the gateway's request id — and [`Reply`], how a
//! handled request is answered. Fronts build a context with
//! [`CallContext::modern`] or [`CallContext::legacy`]; a handshake-era
//! `tools/call` with `[cluster]` carries its session's shared revocation
//! check still to make ([`PendingRevocation`]), so that the check rides
//! with the call's rate limits in one round trip to the store.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;

pub mod declared;

pub use declared::Declared;

use crate::catalog::param_headers::HeaderText;
use crate::error::GatewayError;
use crate::principal::Principal;
use crate::session::{SessionClaims, SessionRuntime};
use crate::wire::protocol::MetaHead;

/// Which era a request is in, with what that era carries.
#[derive(Clone)]
pub enum EraState {
    /// 2026-07-28: everything comes with the request.
    Modern {
        client_capabilities: String,
        log_level_opt: Option<String>,
        /// The request's `Mcp-Param-*` headers (name after the prefix,
        /// lowercased), over HTTP; `None` on stdio.
        param_headers_opt: Option<Vec<(String, HeaderText)>>,
    },
    /// A handshake-era session.
    Legacy {
        client_capabilities: String,
        runtime: Arc<SessionRuntime>,
    },
}

/// Who is asking, in which era.
#[derive(Clone)]
pub struct CallContext {
    pub principal: Arc<Principal>,
    pub era: EraState,
    /// The gateway's own id for this request (logs, backends).
    pub request_id: String,
    /// What the owning service passes upstream as this caller's credential
    /// (a token exchanged for it; see `auth::exchange`), if anything.
    pub upstream_token_opt: Option<Arc<str>>,
    /// The session's shared revocation check, when it was left to be made
    /// with the call's rate limits (`Gateway::admit_call`) or before any
    /// other effect (`Gateway::confirm_session`).
    pub revocation_opt: Option<Arc<PendingRevocation>>,
    /// The client capabilities the gateway acts on, read once from
    /// [`Self::client_capabilities`] when the context is built.
    pub declared: Declared,
}

/// A handshake-era session opened here (sealed, not expired, not ended on
/// this replica) whose shared revocation check is not made yet; taken once.
pub struct PendingRevocation {
    pub session_id: String,
    pub claims: SessionClaims,
    pending: AtomicBool,
}

// === impl PendingRevocation ===

impl PendingRevocation {
    pub fn new(session_id: &str, claims: SessionClaims) -> Arc<Self> {
        Arc::new(Self {
            session_id: session_id.to_owned(),
            claims,
            pending: AtomicBool::new(true),
        })
    }

    /// True the first time only: whoever gets it makes the check.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
    }
}

// === impl CallContext ===

impl CallContext {
    /// A 2026-07-28 request: the client's capabilities and log level come
    /// from its `_meta`.
    pub fn modern(
        principal: Arc<Principal>,
        meta_opt: Option<&MetaHead<'_>>,
        request_id: String,
    ) -> Self {
        let client_capabilities = meta_opt
            .and_then(|meta| meta.client_capabilities)
            .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned());
        Self {
            principal,
            declared: Declared::parse(&client_capabilities),
            era: EraState::Modern {
                client_capabilities,
                log_level_opt: meta_opt.and_then(|meta| meta.log_level.clone()),
                param_headers_opt: None,
            },
            request_id,
            upstream_token_opt: None,
            revocation_opt: None,
        }
    }

    /// A request in a handshake-era session.
    pub fn legacy(
        principal: Arc<Principal>,
        client_capabilities: String,
        runtime: Arc<SessionRuntime>,
        request_id: String,
    ) -> Self {
        Self {
            principal,
            declared: Declared::parse(&client_capabilities),
            era: EraState::Legacy {
                client_capabilities,
                runtime,
            },
            request_id,
            upstream_token_opt: None,
            revocation_opt: None,
        }
    }

    /// The same context with its session's revocation check left to make.
    pub fn with_pending_revocation(mut self, pending: Arc<PendingRevocation>) -> Self {
        self.revocation_opt = Some(pending);
        self
    }

    /// The same context with the `Mcp-Param-*` headers of an HTTP request.
    pub fn with_param_headers(mut self, headers: Vec<(String, HeaderText)>) -> Self {
        if let EraState::Modern {
            param_headers_opt, ..
        } = &mut self.era
        {
            *param_headers_opt = Some(headers);
        }
        self
    }

    /// The `Mcp-Param-*` headers of a 2026-07-28 HTTP request (`None`:
    /// another transport or era, where there is nothing to check).
    pub fn param_headers(&self) -> Option<&[(String, HeaderText)]> {
        match &self.era {
            EraState::Modern {
                param_headers_opt, ..
            } => param_headers_opt.as_deref(),
            EraState::Legacy { .. } => None,
        }
    }

    /// True for 2026-07-28 requests.
    pub fn is_modern(&self) -> bool {
        matches!(self.era, EraState::Modern { .. })
    }

    /// The client's capabilities (raw JSON object).
    pub fn client_capabilities(&self) -> &str {
        match &self.era {
            EraState::Modern {
                client_capabilities,
                ..
            }
            | EraState::Legacy {
                client_capabilities,
                ..
            } => client_capabilities,
        }
    }

    /// The minimum log level the client wants, if any.
    pub fn log_level(&self) -> Option<String> {
        match &self.era {
            EraState::Modern { log_level_opt, .. } => log_level_opt.clone(),
            EraState::Legacy { runtime, .. } => runtime.log_level(),
        }
    }
}

/// How a request is answered.
pub enum Reply {
    /// One complete JSON-RPC message.
    Json(Vec<u8>),
    /// Messages (notifications, server requests) ending with the response.
    Events(mpsc::Receiver<Vec<u8>>),
    /// One complete JSON-RPC message held as consecutive pieces (lists:
    /// the items are a shared slice of the pre-rendered catalog).
    Pieces(Vec<Bytes>),
    /// One JSON-RPC message produced in pieces (large resources).
    Body(Pin<Box<dyn Stream<Item = Result<Bytes, GatewayError>> + Send>>),
}
