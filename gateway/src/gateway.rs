//! `Gateway`: the shared state of one gateway process (validated config,
//! backends and merged catalog, session codec and runtimes, pending
//! server-to-client requests) and the per-request context the fronts build.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::Stream;
use std::pin::Pin;
use tokio::sync::mpsc;

use crate::audit::Audit;
use crate::auth::Principal;
use crate::backends::Backends;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::inputs::PendingInputs;
use crate::policy::Policy;
use crate::runtime::{SessionRegistry, SessionRuntime};
use crate::session::SessionCodec;

/// The gateway's name and version as clients see them.
pub const SERVER_NAME: &str = "micromcp";

/// One gateway process.
pub struct Gateway {
    pub config: GatewayConfig,
    pub backends: Arc<Backends>,
    pub sessions: SessionCodec,
    pub runtimes: SessionRegistry,
    /// Scopes and Cedar decisions, with per-principal catalog views.
    pub policy: Policy,
    /// One record per request.
    pub audit: Arc<Audit>,
    pub(crate) pending_inputs: PendingInputs,
    next_request: AtomicU64,
    pub(crate) server_info_json: String,
}

/// Which era a request is in, with what that era carries.
#[derive(Clone)]
pub enum EraState {
    /// 2026-07-28: everything comes with the request.
    Modern {
        client_capabilities: String,
        log_level_opt: Option<String>,
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
}

// === impl CallContext ===

impl CallContext {
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

// === impl Gateway ===

impl Gateway {
    /// Assembles a gateway; services are dialled lazily.
    pub fn new(config: GatewayConfig, session_key: &[u8; 32]) -> Result<Arc<Self>, GatewayError> {
        let backends = Backends::new(&config.services, &config.namespace_separator)?;
        let audit = Audit::open(&config.audit).map_err(GatewayError::Internal)?;
        let server_info_json = serde_json::json!({
            "name": SERVER_NAME,
            "title": "Micro-MCP gateway",
            "version": env!("CARGO_PKG_VERSION"),
        })
        .to_string();
        Ok(Arc::new(Self {
            sessions: SessionCodec::new(session_key, config.session_max_age),
            policy: Policy::new(&config),
            audit,
            config,
            backends,
            runtimes: SessionRegistry::default(),
            pending_inputs: PendingInputs::default(),
            next_request: AtomicU64::new(1),
            server_info_json,
        }))
    }

    /// Builds the catalog view of every configured principal that needs
    /// one (restricted scopes or Cedar policies), so requests find them
    /// ready instead of building them inline. Blocking: run it off the
    /// front threads (a view over 10k tools with Cedar takes ~50 ms).
    pub fn warm_policy_views(&self) {
        let catalog = self.backends.catalog();
        let principals: Vec<&Arc<Principal>> = match &self.config.auth {
            crate::config::AuthConfig::InsecureNoAuth { anonymous } => vec![anonymous],
            crate::config::AuthConfig::Tokens { tokens } => {
                tokens.iter().map(|entry| &entry.principal).collect()
            }
        };
        for principal in principals {
            let _ = self.policy.visible(principal, &catalog);
        }
    }

    /// A fresh gateway-side request id.
    pub fn next_request_id(&self) -> String {
        format!("r{}", self.next_request.fetch_add(1, Ordering::Relaxed))
    }

    /// Delivers a client's JSON-RPC response to a server-to-client request
    /// that a call of the same principal made.
    pub fn deliver_client_response(
        &self,
        id_text: &str,
        principal: &str,
        result: Option<&str>,
        error: Option<&str>,
    ) -> bool {
        self.pending_inputs
            .deliver(id_text, principal, result, error)
    }
}
