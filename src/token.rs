//! The bearer token of `micromcp up`: taken from `MICROMCP_TOKEN`, else read
//! from (or generated into) a 0600 file under the state directory (read
//! only when it is this uid's own, never through a link).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use micromcp_gateway::config::owned_file;

/// Where the token came from, for the start-up message.
pub enum TokenSource {
    Environment,
    File { created: bool },
}

/// Shortest token not warned about.
const SHORT_TOKEN_CHARS: usize = 32;

/// Warns when a token given in the environment is short enough to guess.
pub fn warn_if_short(token: &str) {
    if token.chars().count() < SHORT_TOKEN_CHARS {
        tracing::warn!(
            length = token.chars().count(),
            "MICROMCP_TOKEN is shorter than {SHORT_TOKEN_CHARS} characters: use a long random token (e.g. `openssl rand -hex 24`)"
        );
    }
}

/// The token and its source.
pub fn load_or_create(path: &Path) -> anyhow::Result<(String, TokenSource)> {
    if let Ok(token) = std::env::var("MICROMCP_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok((token.trim().to_owned(), TokenSource::Environment));
    }
    if let Some(token) = owned_file::read_to_string(path)?
        && !token.trim().is_empty()
    {
        return Ok((
            token.trim().to_owned(),
            TokenSource::File { created: false },
        ));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
    }
    let token = format!("mmcp_{}", hex::encode(rand::random::<[u8; 24]>()));
    if std::fs::symlink_metadata(path).is_ok() {
        // An empty file of our own: replaced, never written through.
        std::fs::remove_file(path)?;
    }
    let mut file = owned_file::create_new(path)?;
    file.write_all(token.as_bytes())?;
    Ok((token, TokenSource::File { created: true }))
}
