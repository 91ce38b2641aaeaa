//! The tokens of `micromcp up` (bearer and admin): each taken from its
//! environment variable (`MICROMCP_TOKEN`, `MICROMCP_ADMIN_TOKEN`), else read
//! from (or generated into) a 0600 file under the state directory (read
//! only when it is this uid's own, never through a link).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use micromcp_gateway::config::{RawConfig, owned_file};

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

/// The bearer token's environment variable.
pub const TOKEN_ENV: &str = "MICROMCP_TOKEN";
/// The admin token's environment variable.
pub const ADMIN_TOKEN_ENV: &str = "MICROMCP_ADMIN_TOKEN";

/// The token of `env` (a variable above) or `path`, and its source.
pub fn load_or_create(path: &Path, env: &str) -> anyhow::Result<(String, TokenSource)> {
    if let Ok(token) = std::env::var(env)
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

/// `up`'s admin token, unless `admin.token_file` names one or the admin
/// listener is off: `MICROMCP_ADMIN_TOKEN`, else `path` (generated there
/// on the first start). Says where it is; never prints the token.
pub fn announce_admin_token(raw: &RawConfig, path: &Path) -> anyhow::Result<()> {
    if raw.admin.token_file.is_some() || raw.admin.listen.as_deref() == Some("off") {
        return Ok(());
    }
    let (_, source) = load_or_create(path, ADMIN_TOKEN_ENV)?;
    match source {
        TokenSource::Environment => println!("admin token: from {ADMIN_TOKEN_ENV}"),
        TokenSource::File { created } => println!(
            "admin token{}: in {} (the admin page and `micromcp tools` use it)",
            if created { " (generated)" } else { "" },
            path.display()
        ),
    }
    Ok(())
}
