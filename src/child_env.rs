//! Secrets a child of `micromcp up` needs — a bridge's server spec (with
//! shared headers and the server's environment), the variables its
//! `principalTokens.env` names, the search child's embeddings key — travel
//! through the child's stdin, never its environment: a same-user process
//! that kills a child and races its restart could read
//! `/proc/<pid>/environ` before the new process makes itself non-dumpable.
//! The environment only says where to read (`MICROMCP_ENV_FROM_STDIN=1`);
//! the child reads its stdin to the end before anything else ([`load`]).

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

/// Set (to `1`) in a child's environment when its values come on stdin.
pub const FROM_STDIN_ENV: &str = "MICROMCP_ENV_FROM_STDIN";

/// Most bytes read from stdin.
const MAX_STDIN_BYTES: u64 = 16 * 1024 * 1024;

static VALUES: OnceLock<HashMap<String, String>> = OnceLock::new();

/// Why the values on stdin could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChildEnvError {
    #[error("{FROM_STDIN_ENV}: cannot read stdin: {0}")]
    Read(#[from] std::io::Error),
    #[error("{FROM_STDIN_ENV}: stdin is not a JSON object of strings: {0}")]
    Parse(#[from] serde_json::Error),
}

/// Reads the values from stdin when the environment says so (once, at start).
pub fn load() -> Result<(), ChildEnvError> {
    if std::env::var_os(FROM_STDIN_ENV).is_none_or(|value| value != "1") {
        return Ok(());
    }
    let mut text = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES)
        .read_to_end(&mut text)?;
    let values: HashMap<String, String> = serde_json::from_slice(&text)?;
    let _ = VALUES.set(values);
    Ok(())
}

/// `name` as given on stdin, else from the environment.
pub fn var(name: &str) -> Option<String> {
    VALUES
        .get()
        .and_then(|values| values.get(name).cloned())
        .or_else(|| std::env::var(name).ok())
}

/// The stdin a child reads `values` from (a JSON object).
pub fn encode(values: &[(String, String)]) -> Vec<u8> {
    let map: HashMap<&str, &str> = values
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    serde_json::to_vec(&map).unwrap_or_default()
}
