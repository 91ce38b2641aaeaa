//! Handshake-era (2025-11-25) sessions: the sealed session id that carries
//! a session's state between replicas (`sealed`), what one replica keeps
//! beside it — log level, in-flight requests, resumable stream logs
//! (`replica_state`) — the server-to-client requests waiting for the
//! client's answer (`pending_requests`), the key file the ids are
//! sealed with (`keyfile`) — and, sealed with a key derived from it, the
//! `requestState` of 2026-07-28 multi-round requests (`request_state`) and
//! the task ids of the tasks extension (`task_ids`).

mod aead;
mod keyfile;
mod pending_requests;
mod replica_state;
mod request_state;
mod sealed;
mod task_ids;

pub use self::keyfile::load_or_create_key;
pub use self::pending_requests::{ClientAnswer, PendingClientRequests};
pub use self::replica_state::{GET_STREAM, SessionRegistry, SessionRuntime, StreamLog, StreamRead};
pub use self::request_state::{RequestStateCodec, RoundFor, arguments_digest};
pub use self::sealed::{SESSION_KEY_BYTES, SessionClaims, SessionCodec};
pub use self::task_ids::TaskIdCodec;
