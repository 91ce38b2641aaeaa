//! What travels on the client side, below every runtime module: the
//! JSON-RPC envelope and its encoders (`jsonrpc`), the two protocol eras and
//! the parts of `params` the gateway reads (`protocol`), which names are
//! well formed (`names`), and the incremental encoder that turns a
//! resource's bytes into a JSON string (`content`).

pub mod content;
pub mod jsonrpc;
pub mod names;
pub mod protocol;

pub use self::content::ContentEncoder;
