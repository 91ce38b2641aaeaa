//! The service children `micromcp up` and `micromcp stdio` start: each
//! built-in service (fs, fetch, search) and one bridge per `mcp_servers`
//! entry becomes a supervised child on a Unix socket in a private directory,
//! and a `[[services]]` entry of the gateway config pointing at it. A
//! service the config already names is left to the operator.

use std::path::{Path, PathBuf};

use micromcp_gateway::config::{RawConfig, RawService};

use crate::supervise::ChildSpec;

/// The service entries of `up`'s children, apart from the config's own:
/// fs before them (it wins name collisions), the others after them.
#[derive(Clone, Default)]
pub struct ChildServices {
    first: Vec<RawService>,
    after: Vec<RawService>,
}

// === impl ChildServices ===

impl ChildServices {
    /// Whether a child serves `name`.
    pub fn names(&self, name: &str) -> bool {
        self.first
            .iter()
            .chain(&self.after)
            .any(|service| service.name == name)
    }

    /// `services` (the config's) with the children's entries laid around them.
    pub fn around(&self, services: &mut Vec<RawService>) {
        services.splice(0..0, self.first.iter().cloned());
        services.extend(self.after.iter().cloned());
    }

    /// The child entry named `name`.
    fn entry_mut(&mut self, name: &str) -> Option<&mut RawService> {
        self.first
            .iter_mut()
            .chain(self.after.iter_mut())
            .find(|service| service.name == name)
    }
}

/// Where a child's entry goes among the services.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    First,
    After,
}

/// Routes service `name` to a new socket in `sockets`, unless the config
/// or another child already names a service `name` (then the operator
/// runs it: no child).
fn claim_socket(
    raw: &RawConfig,
    children: &mut ChildServices,
    sockets: &SocketDir,
    (name, file): (&str, &str),
    namespace: Option<String>,
    place: Place,
) -> Option<PathBuf> {
    if raw.services.iter().any(|service| service.name == name) || children.names(name) {
        return None;
    }
    let socket = sockets.0.path().join(file);
    let entry = RawService {
        name: name.to_owned(),
        namespace,
        endpoint: Some(format!("unix:{}", socket.display())),
        ..RawService::default()
    };
    match place {
        Place::First => children.first.push(entry),
        Place::After => children.after.push(entry),
    }
    Some(socket)
}

/// A private directory for service sockets, removed on drop.
pub struct SocketDir(tempfile::TempDir);

impl SocketDir {
    /// Where it is.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Creates the socket directory.
pub fn socket_dir() -> anyhow::Result<SocketDir> {
    Ok(SocketDir(
        tempfile::Builder::new().prefix("micromcp-").tempdir()?,
    ))
}

/// Adds the fetch child service (unless the config names one) and returns its spec.
pub fn add_fetch_child(
    raw: &RawConfig,
    children: &mut ChildServices,
    sockets: &SocketDir,
) -> Option<ChildSpec> {
    let socket = claim_socket(
        raw,
        children,
        sockets,
        ("fetch", "fetch.sock"),
        None,
        Place::After,
    )?;
    let fetch = &raw.fetch;
    let mut args = vec!["fetch".into(), "--socket".into(), socket.into_os_string()];
    for domain in &fetch.allow_domains {
        args.push("--allow-domain".into());
        args.push(domain.into());
    }
    if fetch.allow_private_addresses {
        args.push("--allow-private-addresses".into());
    }
    if let Some(max_bytes) = fetch.max_bytes {
        args.push("--max-bytes".into());
        args.push(max_bytes.to_string().into());
    }
    if let Some(timeout_secs) = fetch.timeout_secs {
        args.push("--timeout-secs".into());
        args.push(timeout_secs.to_string().into());
    }
    Some(ChildSpec {
        name: "fetch".into(),
        args,
        env: Vec::new(),
    })
}

/// Adds the search child service (unless the config names one) and returns its spec.
pub fn add_search_child(
    raw: &RawConfig,
    children: &mut ChildServices,
    roots: &[PathBuf],
    (state_dir, sockets): (&Path, &SocketDir),
) -> Option<ChildSpec> {
    let socket = claim_socket(
        raw,
        children,
        sockets,
        ("search", "search.sock"),
        None,
        Place::After,
    )?;
    let search = raw.search.clone();
    let index_dir = search.index_dir.unwrap_or_else(|| state_dir.join("search"));
    let mut args = vec![
        "search".into(),
        "--socket".into(),
        socket.into_os_string(),
        "--index-dir".into(),
        index_dir.into_os_string(),
    ];
    if search.crawl.unwrap_or(true) {
        let roots = if roots.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            roots.to_vec()
        };
        for root in roots {
            args.push("--crawl-root".into());
            args.push(root.into_os_string());
        }
        args.push("--crawl-exclude".into());
        args.push(state_dir.as_os_str().to_owned());
        // The crawl mirrors the fs roots: its documents follow fs's reach.
        if raw.services.iter().any(|service| service.name == "fs") || children.names("fs") {
            args.push("--crawl-source".into());
            args.push("fs".into());
            if let Some(entry) = children.entry_mut("search") {
                entry.content_from.push("fs".into());
            }
        }
    }
    if let Some(url) = search.embeddings_url {
        args.push("--embeddings-url".into());
        args.push(url.into());
    }
    if let Some(model) = search.embeddings_model {
        args.push("--embeddings-model".into());
        args.push(model.into());
    }
    Some(ChildSpec {
        name: "search".into(),
        args,
        env: crate::supervise::from_parent([micromcp_search::EMBEDDINGS_KEY_ENV]),
    })
}

/// Adds one bridge child per `mcp_servers` entry.
pub fn add_bridge_children(
    raw: &mut RawConfig,
    children: &mut ChildServices,
    sockets: &SocketDir,
) -> anyhow::Result<Vec<ChildSpec>> {
    let entries = std::mem::take(&mut raw.mcp_servers);
    let mut specs = Vec::new();
    for (name, entry) in entries {
        if entry.disabled == Some(true) {
            continue;
        }
        crate::bridge_spec::target_of(entry.clone())
            .map_err(|error| anyhow::anyhow!("mcp_servers.{name}: {error}"))?;
        let socket_file = format!("bridge-{}.sock", specs.len());
        let Some(socket) = claim_socket(
            raw,
            children,
            sockets,
            (&name, &socket_file),
            entry.namespace.clone(),
            Place::After,
        ) else {
            anyhow::bail!("mcp_servers.{name}: a service with this name is already configured");
        };
        // The gateway exchanges each caller's token for this server's.
        if let Some(service) = children.entry_mut(&name) {
            service.token_exchange = entry.token_exchange.clone();
        }
        let spec_json = serde_json::to_string(&entry)?;
        specs.push(ChildSpec {
            name: name.clone(),
            args: vec![
                "bridge".into(),
                "--name".into(),
                name.into(),
                "--socket".into(),
                socket.into_os_string(),
            ],
            env: crate::bridge_spec::child_env(&entry, spec_json),
        });
    }
    Ok(specs)
}

/// Reads a desktop-client `{"mcpServers": {...}}` file into the config.
pub fn merge_mcp_servers_file(raw: &mut RawConfig, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    let file: micromcp_gateway::config::McpServersFile = serde_json::from_str(&text)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    for (name, entry) in file.mcp_servers {
        if raw.mcp_servers.insert(name.clone(), entry).is_some() {
            anyhow::bail!(
                "{}: server {name:?} is also defined in the config file",
                path.display()
            );
        }
    }
    Ok(())
}

/// Adds the fs child service (unless the config names one) and returns its spec.
pub fn add_fs_child(
    raw: &RawConfig,
    children: &mut ChildServices,
    (roots, excluded): (&[PathBuf], &[PathBuf]),
    sockets: &SocketDir,
) -> Option<ChildSpec> {
    // fs comes first in config order, so it wins any name collision.
    let socket = claim_socket(
        raw,
        children,
        sockets,
        ("fs", "fs.sock"),
        None,
        Place::First,
    )?;
    let mut args = vec!["fs".into(), "--socket".into(), socket.into_os_string()];
    let roots = if roots.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        roots.to_vec()
    };
    for root in roots {
        args.push("--root".into());
        args.push(root.into_os_string());
    }
    for path in excluded {
        args.push("--exclude".into());
        args.push(path.clone().into_os_string());
    }
    Some(ChildSpec {
        name: "fs".into(),
        args,
        env: Vec::new(),
    })
}
