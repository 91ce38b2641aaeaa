//! Names of files and directories that hold credentials by convention
//! (`.env`, `.git`, `.ssh`, private keys, package-registry and cloud
//! credentials): the file services never serve, list or index them inside
//! a served root unless told to, so that `micromcp up` in a project
//! directory does not hand an agent the project's secrets.

use std::ffi::OsStr;
use std::path::{Component, Path};

/// Exact names (files or directories) never served.
const NAMES: &[&str] = &[
    ".env",
    ".git",
    ".git-credentials",
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".htpasswd",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
];

/// `.env.*` files meant to be shared (no values in them).
const SHARED_ENV_SUFFIXES: &[&str] = &["example", "sample", "template", "dist"];

/// Extensions of private keys and key stores.
const KEY_EXTENSIONS: &[&str] = &["pem", "key", "p12", "pfx", "jks", "keystore"];

/// True when `name` (one path component) holds credentials by convention.
pub fn is_secret_name(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    let lower = name.to_ascii_lowercase();
    if NAMES.contains(&lower.as_str()) {
        return true;
    }
    if let Some(suffix) = lower.strip_prefix(".env.") {
        return !SHARED_ENV_SUFFIXES.contains(&suffix);
    }
    Path::new(&lower)
        .extension()
        .and_then(OsStr::to_str)
        .is_some_and(|extension| KEY_EXTENSIONS.contains(&extension))
}

/// True when a component of `relative` (a path below a served root) is a
/// secret name: the file, or a directory it is in.
pub fn has_secret_component(relative: &Path) -> bool {
    relative.components().any(|component| match component {
        Component::Normal(name) => is_secret_name(name),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_secret_and_ordinary_files_are_not() {
        for secret in [
            ".env",
            ".ENV",
            ".env.local",
            ".env.production",
            ".git",
            ".ssh",
            "id_rsa",
            "server.pem",
            "tls.KEY",
            ".npmrc",
        ] {
            assert!(is_secret_name(OsStr::new(secret)), "{secret}");
        }
        for ordinary in [
            "README.md",
            ".env.example",
            ".envrc.md",
            "id_rsa.pub",
            "keys.txt",
            ".gitignore",
            "main.rs",
        ] {
            assert!(!is_secret_name(OsStr::new(ordinary)), "{ordinary}");
        }
        assert!(has_secret_component(Path::new("app/.git/config")));
        assert!(has_secret_component(Path::new("deploy/.env.prod")));
        assert!(!has_secret_component(Path::new("src/lib.rs")));
    }
}
