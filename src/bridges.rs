//! MCP servers registered at run time under `micromcp up` (the admin API's
//! `{"name": …, "mcp_server": {…}}` entries, and registry imports): each
//! runs behind its own supervised `micromcp bridge` child on a Unix socket
//! in the private socket directory, exactly as a `[mcp_servers]` entry of
//! the config does. The set follows the registrations: a new entry starts
//! a bridge, a changed one restarts it, a removed one stops it. Entries
//! (with their credentials) reach the child through its environment, never
//! its command line. A command without its own `cwd` runs in an empty
//! directory of its own there, not the gateway's working directory.

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use micromcp_gateway::config::{RawMcpServer, RawService};
use tokio_util::sync::CancellationToken;

use crate::supervise::{ChildSpec, supervise};

/// The bridges of registered MCP servers.
pub struct RegisteredBridges {
    sockets: PathBuf,
    shutdown: CancellationToken,
    /// By name: the entry it runs (as JSON) and what stops it.
    running: Mutex<HashMap<String, (String, CancellationToken)>>,
}

impl RegisteredBridges {
    /// Bridges with sockets in `sockets`, all stopped at `shutdown`.
    pub fn new(sockets: &Path, shutdown: &CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            sockets: sockets.to_path_buf(),
            shutdown: shutdown.clone(),
            running: Mutex::default(),
        })
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.sockets.join(format!("reg-{name}.sock"))
    }

    /// The `[[services]]` entry of the bridge of `server` registered as
    /// `name` (whose validity the registration checked).
    pub fn service(&self, name: &str, server: &RawMcpServer) -> Result<RawService, String> {
        crate::bridge_spec::target_of(server.clone())
            .map_err(|error| format!("mcp_server: {error}"))?;
        Ok(RawService {
            name: name.to_owned(),
            namespace: server.namespace.clone(),
            endpoint: Some(format!("unix:{}", self.socket(name).display())),
            // The gateway exchanges each caller's token for this server's.
            token_exchange: server.token_exchange.clone(),
            ..RawService::default()
        })
    }

    /// Runs exactly the bridges of `wanted`.
    pub fn run(&self, wanted: &[(String, RawMcpServer)]) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted: HashMap<&str, (String, &RawMcpServer)> = wanted
            .iter()
            .filter_map(|(name, server)| {
                serde_json::to_string(server)
                    .ok()
                    .map(|entry| (name.as_str(), (entry, server)))
            })
            .collect();
        running.retain(|name, (entry, stop)| {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|(wanted_entry, _)| wanted_entry == entry);
            if !keep {
                tracing::info!(server = %name, "stopping the bridge of a registered MCP server");
                stop.cancel();
            }
            keep
        });
        for (name, (entry, server)) in wanted {
            if running.contains_key(name) {
                continue;
            }
            tracing::info!(server = %name, "starting the bridge of a registered MCP server");
            // A command entry without its own `cwd` runs in a private empty
            // directory, never the gateway's: a runner reads what lies in
            // its working directory (npm: a `.tgz` named there, `.npmrc`).
            let mut effective = server.clone();
            let mut child_entry = entry.clone();
            // A server run as another user gets its home instead (ours
            // is not that user's to enter).
            if effective.command.is_some() && effective.cwd.is_none() && effective.user.is_none() {
                let directory = self.sockets.join(format!("reg-{name}.cwd"));
                let _ = std::fs::remove_dir_all(&directory);
                if let Err(error) = std::fs::DirBuilder::new().mode(0o700).create(&directory) {
                    tracing::error!(server = %name, %error, "cannot make the server's empty working directory");
                    continue;
                }
                effective.cwd = Some(directory);
                match serde_json::to_string(&effective) {
                    Ok(with_cwd) => child_entry = with_cwd,
                    Err(_) => continue,
                }
            }
            let stop = self.shutdown.child_token();
            let spec = ChildSpec {
                name: name.to_owned(),
                args: vec![
                    "bridge".into(),
                    "--name".into(),
                    name.into(),
                    "--socket".into(),
                    self.socket(name).into_os_string(),
                ],
                env: crate::bridge_spec::child_env(&effective, child_entry),
            };
            drop(supervise(spec, stop.clone()));
            running.insert(name.to_owned(), (entry, stop));
        }
    }
}
