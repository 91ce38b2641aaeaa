//! Where `up` and `gateway` get their config, at start and on every reload:
//! the config file read again, the command line's flags laid over it, and
//! (for `up`) the services it runs as children appended, then validated
//! with the token found at start; registered MCP servers get their bridges
//! here too (`up` runs them). `[fetch]`, `[search]` and
//! `[mcp_servers]` shape those children, so a change to them waits for a
//! restart and is reported so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use micromcp_gateway::config::{
    GatewayConfig, RawConfig, RawMcpServer, RawService, Registration, RegistrationsFile,
};
use micromcp_gateway::live_config::{self, ChangeError, ConfigSource, Skipped};

use crate::bridges::RegisteredBridges;
use crate::children::ChildServices;

/// Lays the command line's flags over a config as read.
pub type Overrides = Box<dyn Fn(&mut RawConfig) + Send + Sync>;

/// A config file (or the defaults, without one) as a command sees it.
pub struct FileSource {
    /// The file, when there is one.
    pub path_opt: Option<PathBuf>,
    /// `path_opt` may be missing: then the defaults (`up` without a config
    /// watches `./micromcp.toml`, so that one written later is loaded).
    pub missing_is_default: bool,
    pub overrides: Overrides,
    /// The services of the children `up` started, laid around the
    /// config's services at every load.
    pub child_services: ChildServices,
    /// The bearer token found at start (environment or token file).
    pub token_opt: Option<String>,
    /// The sections that shape `up`'s children, as they were at start.
    pub children_sections_opt: Option<ChildrenSections>,
    /// Where registered MCP servers run (`up` only).
    pub bridges_opt: Option<Arc<RegisteredBridges>>,
    /// Where the translators of `kind = "grpc"` entries listen (`up` only).
    pub grpc_sockets_opt: Option<PathBuf>,
}

/// `[fetch]`, `[search]` and `[mcp_servers]` as written (compared, not used).
#[derive(PartialEq, Eq)]
pub struct ChildrenSections {
    fetch: String,
    search: String,
    mcp_servers: String,
    grpc_services: String,
}

impl ChildrenSections {
    pub fn of(raw: &RawConfig) -> Self {
        Self {
            fetch: format!("{:?}", raw.fetch),
            search: format!("{:?}", raw.search),
            mcp_servers: format!("{:?}", raw.mcp_servers),
            grpc_services: format!(
                "{:?}",
                raw.services
                    .iter()
                    .filter(|service| service.kind.is_some())
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// The sections that differ from `self` in `now`.
    fn changed(&self, now: &Self) -> Vec<String> {
        [
            ("fetch", self.fetch != now.fetch),
            ("search", self.search != now.search),
            ("mcp_servers", self.mcp_servers != now.mcp_servers),
            (
                "services (kind = \"grpc\")",
                self.grpc_services != now.grpc_services,
            ),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| key.to_owned())
        .collect()
    }
}

/// The config file `up` and `check` read when none is named.
pub const DEFAULT_CONFIG: &str = "micromcp.toml";

/// The config file a command uses: the one named, or `./micromcp.toml`
/// when it exists.
pub fn config_path(named_opt: Option<&Path>) -> Option<PathBuf> {
    match named_opt {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let default = Path::new(DEFAULT_CONFIG);
            default.exists().then(|| default.to_path_buf())
        }
    }
}

/// Reads `path_opt` (the defaults without one).
pub fn read(path_opt: Option<&Path>) -> anyhow::Result<RawConfig> {
    let Some(path) = path_opt else {
        return Ok(RawConfig::default());
    };
    let text = read_capped(path).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    micromcp_gateway::config::parse_toml(&text)
        .map_err(|errors| anyhow::anyhow!("{}: {}", path.display(), errors.join("; ")))
}

/// Largest config file read (at start and on every reload, which run off
/// the async threads): a larger one is refused naming the limit.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// The file's text, refused when over [`MAX_CONFIG_BYTES`] (checked while
/// reading too, so a file that grows meanwhile is not read whole).
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the config file is over the {MAX_CONFIG_BYTES}-byte (4 MiB) limit"),
        )
    };
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

impl ConfigSource for FileSource {
    fn raw(&self, restart_required: &mut Vec<String>) -> Result<RawConfig, Vec<String>> {
        let path_opt = self
            .path_opt
            .as_deref()
            .filter(|path| !self.missing_is_default || path.exists());
        let mut raw = read(path_opt).map_err(|error| vec![error.to_string()])?;
        if let Some(at_start) = &self.children_sections_opt {
            restart_required.extend(at_start.changed(&ChildrenSections::of(&raw)));
        }
        (self.overrides)(&mut raw);
        // Bridges were started from these at start; they are not services.
        raw.mcp_servers.clear();
        // Translators were started from these at start.
        if let Some(sockets) = &self.grpc_sockets_opt {
            crate::grpc_children::route_grpc_entries(&mut raw, sockets);
        }
        self.child_services.around(&mut raw.services);
        Ok(raw)
    }

    fn validate(&self, raw: RawConfig) -> Result<GatewayConfig, Vec<String>> {
        raw.validate(self.token_opt.as_deref())
    }

    fn bridge_service(&self, name: &str, server: &RawMcpServer) -> Result<RawService, String> {
        match &self.bridges_opt {
            Some(bridges) => bridges.service(name, server),
            None => Err(
                "MCP servers are registered only under `micromcp up`, which runs their bridges"
                    .into(),
            ),
        }
    }

    fn run_bridges(&self, bridges: &[(String, RawMcpServer)]) {
        if let Some(running) = &self.bridges_opt {
            running.run(bridges);
        }
    }
}

/// What a start begins with.
pub struct Initial {
    pub config: GatewayConfig,
    /// Every registration kept (the live config's list).
    pub registrations: Vec<Registration>,
    /// Those in `config` (without the ones skipped, named in a warning).
    pub applied: Vec<Registration>,
    /// The ones skipped, and why (left out of later changes' validation).
    pub skipped: Vec<Skipped>,
}

/// The config to start with: `source`'s with the registered services of
/// the registrations file named in `raw` appended. A kept registration
/// that no longer fits (the config file now names a service so, its entry
/// is refused) is skipped with a warning naming it and why — nothing kept
/// stops a start — and stays in the file, where a DELETE removes it.
pub fn initial_config(source: &FileSource, raw: &RawConfig) -> anyhow::Result<Initial> {
    let registrations = match &raw.admin.registrations_file {
        Some(path) => {
            let file = RegistrationsFile::new(path.clone());
            let removed = file.remove_staged();
            if removed > 0 {
                tracing::info!(
                    removed,
                    file = %path.display(),
                    "removed copies of the registrations file left by an interrupted save"
                );
            }
            let loaded = file
                .load_at_start()
                .map_err(|error| anyhow::anyhow!("admin.registrations_file: {error}"))?;
            for warning in &loaded.warnings {
                tracing::warn!(%warning, "a kept registration could not be read");
            }
            loaded.registrations
        }
        None => Vec::new(),
    };
    let mut applied = registrations.clone();
    let mut skipped_all = Vec::new();
    let config = loop {
        let errors = match live_config::config_with(source, &applied, &mut Vec::new()) {
            Ok(config) => break config,
            Err(ChangeError::Invalid(errors)) => errors,
            Err(other) => anyhow::bail!("{other}"),
        };
        let mut skipped: Vec<usize> = errors
            .iter()
            .filter_map(|error| registration_index(error))
            .collect();
        if skipped.is_empty() {
            return Err(invalid(&errors));
        }
        for error in errors
            .iter()
            .filter(|error| registration_index(error).is_some())
        {
            tracing::warn!(
                %error,
                "a kept registration is skipped (it stays in the registrations file: fix the clash, or DELETE /api/services/NAME)"
            );
        }
        skipped.sort_unstable();
        skipped.dedup();
        for index in skipped.into_iter().rev() {
            if index < applied.len() {
                let registration = applied.remove(index);
                let why = errors
                    .iter()
                    .filter(|error| registration_index(error) == Some(index))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                skipped_all.push(Skipped {
                    name: registration.name,
                    why,
                });
            }
        }
    };
    Ok(Initial {
        config,
        registrations,
        applied,
        skipped: skipped_all,
    })
}

/// `N` of an error about `registrations[N]`.
fn registration_index(error: &str) -> Option<usize> {
    let rest = error.strip_prefix("registrations[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// The config file `path_opt` names (else ./micromcp.toml when it exists).
pub fn read_config(path_opt: Option<&Path>) -> anyhow::Result<RawConfig> {
    read(config_path(path_opt).as_deref())
}

/// `raw` validated, its errors as one message.
pub fn validate(raw: RawConfig, token_opt: Option<&str>) -> anyhow::Result<GatewayConfig> {
    raw.validate(token_opt).map_err(|errors| invalid(&errors))
}

/// The config's errors as one message, one line each.
pub fn invalid(errors: &[String]) -> anyhow::Error {
    let listed: Vec<String> = errors.iter().map(|error| format!("  - {error}")).collect();
    anyhow::anyhow!("invalid configuration:\n{}", listed.join("\n"))
}

/// `--listen`, `--admin-listen` and `--insecure-no-auth` over a config.
pub fn flags_overrides(
    listen: Option<SocketAddr>,
    admin_listen: Option<String>,
    insecure_no_auth: bool,
) -> Overrides {
    Box::new(move |raw: &mut RawConfig| {
        if let Some(listen) = listen {
            raw.gateway.listen = Some(listen.to_string());
        }
        if let Some(admin_listen) = &admin_listen {
            raw.admin.listen = Some(admin_listen.clone());
        }
        if insecure_no_auth {
            raw.auth.insecure_no_auth = true;
        }
    })
}
