//! What `up` and `stdio` refuse at start, before anything runs: allowed
//! fetch domains that could never match, and a gateway secret inside a
//! root the fs service would serve. Each error names its flag or key.

use std::path::{Path, PathBuf};

use micromcp_gateway::config::RawConfig;

use crate::state_dir;

/// Refuses allowed fetch domains that could never match (a URL, a path):
/// each error names the flag or key.
pub fn check_fetch_domains(raw: &RawConfig, flags: &[String]) -> anyhow::Result<()> {
    let from_config = raw
        .fetch
        .allow_domains
        .iter()
        .enumerate()
        .map(|(index, pattern)| (format!("fetch.allow_domains[{index}]"), pattern));
    let from_flags = flags
        .iter()
        .map(|pattern| ("--fetch-allow".to_owned(), pattern));
    let errors: Vec<String> = from_config
        .chain(from_flags)
        .filter_map(|(key, pattern)| {
            micromcp_fetch::check_domain_pattern(pattern)
                .err()
                .map(|error| format!("  - {key}: {pattern:?}: {error}"))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("invalid configuration:\n{}", errors.join("\n"))
    }
}

/// Refuses a config that puts one of the gateway's secrets (token file, session
/// key, audit log, search index) inside a served root, outside `excluded`.
pub fn refuse_exposed_secrets(
    raw: &RawConfig,
    roots: &[PathBuf],
    excluded: &[PathBuf],
) -> anyhow::Result<()> {
    let mut secrets: Vec<(&str, &Path)> = Vec::new();
    if let Some(path) = &raw.auth.token_file {
        secrets.push(("auth.token_file", path));
    }
    if let Some(path) = &raw.gateway.session_key_file {
        secrets.push(("gateway.session_key_file", path));
    }
    if let Some(path) = raw
        .audit
        .path
        .as_deref()
        .filter(|path| path.as_os_str() != "-")
    {
        secrets.push(("audit.path", path));
    }
    if let Some(path) = &raw.search.index_dir {
        secrets.push(("search.index_dir", path)); // its store files hold every body
    }
    state_dir::refuse_exposed(roots, excluded, &secrets)
}
