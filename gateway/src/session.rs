//! Handshake-era (2025-11-25) sessions: the sealed session id that carries
//! a session's state between replicas (`sealed`), what one replica keeps
//! beside it — log level, in-flight requests, resumable stream logs
//! (`replica_state`), bounded in number per principal and in all
//! (`registry`) — the server-to-client requests waiting for the
//! client's answer (`pending_requests`), the key file the ids are
//! sealed with (`keyfile`) — and, sealed with a key derived from it, the
//! `requestState` of 2026-07-28 multi-round requests (`request_state`) and
//! the task ids of the tasks extension (`task_ids`), and the rounds that
//! may be used once (`single_use`); the tools a session found with
//! `find_tools`, kept for its `tools/list` (`found_tools`).

pub(crate) mod aead;
mod found_tools;
mod keyfile;
mod pending_requests;
mod registry;
mod replica_state;
mod request_state;
mod routed;
mod sealed;
mod single_use;
mod single_use_file;
mod task_ids;

pub use self::found_tools::{FoundTools, MAX_FOUND_TOOLS};
pub use self::keyfile::load_or_create_key;
pub use self::pending_requests::{ClientAnswer, PendingClientRequests};
pub use self::registry::{SessionRegistry, SessionsFull};
pub use self::replica_state::{GET_STREAM, SessionRuntime, StreamLog, StreamRead, Subscription};
pub use self::request_state::{OpenedRound, RequestStateCodec, RoundFor, arguments_digest};
pub use self::sealed::{SESSION_KEY_BYTES, SessionClaims, SessionCodec};
pub use self::single_use::{
    InProcessSingleUse, MAX_USED_ROUNDS, MAX_USED_ROUNDS_PER_PRINCIPAL, RoundId, RoundUse,
    SingleUseError, SingleUseStore,
};
pub use self::single_use_file::{FileSingleUse, journal_path};
pub use self::task_ids::TaskIdCodec;
