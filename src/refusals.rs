//! What `up` and `stdio` refuse at start, before anything runs: allowed
//! fetch domains that could never match (a gateway secret inside a served
//! root is `state_dir`'s to refuse). Each error names its flag or key.

use micromcp_gateway::config::RawConfig;

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
