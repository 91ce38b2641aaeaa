//! Changing the running gateway: reloading its config (SIGHUP, a changed
//! file, `POST /api/reload`) and registering or removing services at run
//! time (the admin API). Each change is validated whole — the config file
//! read again, the registered services appended to its `[[services]]` — and
//! refused with the errors, the running config untouched, when anything is
//! wrong; a reload that would remove every service is refused unless
//! `admin.allow_empty_reload` says it is meant, and one that would remove
//! the Cedar policy, every JWT issuer or all authentication in force is
//! refused (an emptied or
//! half-written file must not switch off policy or sign-in; a restart
//! does that on purpose). A kept registration skipped
//! at start (no longer valid) is left out of every later validation until
//! it is replaced or removed, so it never locks the admin API. A
//! registration is written to the registrations file before it is
//! applied and acknowledged, so a restart never loses an acknowledged one.
//! Changes are serialised; each blocks (file reads, view building): run
//! them off the request threads. With `[cluster]` the registrations are
//! also shared through Redis (`shared`): every replica applies a change
//! made through any of them.

mod shared;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::backends::SetChanges;
use crate::config::{
    GatewayConfig, RawConfig, RawMcpServer, RawService, Registered, Registration, RegistrationsFile,
};
use crate::error::GatewayError;
use crate::gateway::Gateway;

/// Where the running config comes from: the binary reads its file again
/// and applies what its command line and its children add.
pub trait ConfigSource: Send + Sync + 'static {
    /// The config as written now, with the command line's overrides and
    /// the services the binary runs itself; the keys that differ from the
    /// start and need a restart are added to `restart_required`.
    fn raw(&self, restart_required: &mut Vec<String>) -> Result<RawConfig, Vec<String>>;

    /// Validates `raw` as the start did (same token sources).
    fn validate(&self, raw: RawConfig) -> Result<GatewayConfig, Vec<String>>;

    /// The `[[services]]` entry of the bridge registered as `name` for
    /// `server` (nothing started yet: see [`ConfigSource::run_bridges`]).
    /// Refused where the binary cannot run bridges.
    fn bridge_service(&self, name: &str, server: &RawMcpServer) -> Result<RawService, String> {
        let _ = (name, server);
        Err("MCP servers are registered only under `micromcp up`, which runs their bridges".into())
    }

    /// Runs a bridge for each of `bridges` (name, entry) — keeping those
    /// already running with the same entry — and stops the others.
    fn run_bridges(&self, bridges: &[(String, RawMcpServer)]) {
        let _ = bridges;
    }
}

/// The bridges among `registrations`, by name.
pub fn bridges_of(registrations: &[Registration]) -> Vec<(String, RawMcpServer)> {
    registrations
        .iter()
        .filter_map(|registration| match registration.parsed() {
            Ok(Registered::McpServer(server)) => Some((registration.name.clone(), *server)),
            _ => None,
        })
        .collect()
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The config (or the registration) is invalid; nothing changed.
    #[error("invalid configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The service is named by the config file, or already registered.
    #[error("{0}")]
    Conflict(String),
    /// No registered service of that name.
    #[error("no service registered as {0:?}")]
    NotRegistered(String),
    /// Registrations need somewhere to be kept.
    #[error(
        "services cannot be registered at run time without a registrations file (the state directory of `micromcp up`, or admin.registrations_file)"
    )]
    NoRegistrationsFile,
    /// The registrations file could not be written; nothing changed.
    #[error("cannot keep the registration: {0}")]
    Storage(String),
    /// The new set of services could not be made; nothing changed.
    #[error("{0}")]
    Apply(GatewayError),
    /// The registrations shared through `[cluster]` cannot be written or
    /// read now; nothing changed.
    #[error("{0}")]
    Shared(String),
}

/// What a change did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Changed {
    /// Services added, replaced and removed.
    pub services: SetChanges,
    /// Keys whose new values wait for a restart (the gateway's own and the
    /// binary's).
    pub restart_required: Vec<String>,
}

/// The running gateway's changeable config.
pub struct LiveConfig {
    gateway: Arc<Gateway>,
    source: Box<dyn ConfigSource>,
    file_opt: Option<RegistrationsFile>,
    /// The registrations kept (and the lock every change takes).
    kept: Mutex<Kept>,
    /// The version of the shared registrations applied here (`[cluster]`).
    shared_version: AtomicU64,
}

/// The registrations file's list and those of it not in force.
struct Kept {
    /// Every registration kept, in the file's order.
    registrations: Vec<Registration>,
    /// Those skipped at start (no longer valid): left out of every change's
    /// validation until replaced (PUT) or removed (DELETE).
    skipped: Vec<Skipped>,
}

/// A kept registration not in force, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Skipped {
    pub name: String,
    pub why: String,
}

// === impl LiveConfig ===

impl LiveConfig {
    /// Changes `gateway`, which started from `source` with `registrations`
    /// (read from `file_opt`) but those `skipped`.
    pub fn new(
        gateway: Arc<Gateway>,
        source: Box<dyn ConfigSource>,
        file_opt: Option<RegistrationsFile>,
        registrations: Vec<Registration>,
        skipped: Vec<Skipped>,
    ) -> Arc<Self> {
        Arc::new(Self {
            gateway,
            source,
            file_opt,
            kept: Mutex::new(Kept {
                registrations,
                skipped,
            }),
            shared_version: AtomicU64::new(0),
        })
    }

    /// The names of the services registered at run time.
    pub fn registered(&self) -> Vec<String> {
        self.lock()
            .registrations
            .iter()
            .map(|registration| registration.name.clone())
            .collect()
    }

    /// The kept registrations not in force, and why.
    pub fn skipped(&self) -> Vec<Skipped> {
        self.lock().skipped.clone()
    }

    /// Reads the config again and applies it.
    pub fn reload(&self) -> Result<Changed, ChangeError> {
        let kept = self.lock();
        self.apply(&kept.registrations, &kept.skipped, None)
    }

    /// Registers the service of `entry` (a `[[services]]` table as JSON),
    /// replacing a registration of the same name when `replace`.
    pub fn register(&self, entry: Value, replace: bool) -> Result<Changed, ChangeError> {
        if self.file_opt.is_none() && self.gateway.cluster_opt.is_none() {
            return Err(ChangeError::NoRegistrationsFile);
        }
        let registration =
            Registration::from_entry(entry).map_err(|error| ChangeError::Invalid(vec![error]))?;
        if let Some(problem) = command_problem(&registration) {
            return Err(ChangeError::Invalid(vec![problem]));
        }
        let mut kept = self.lock();
        let mut next = kept.registrations.clone();
        // A replaced registration is validated as any new one.
        let mut skipped = kept.skipped.clone();
        skipped.retain(|skipped| skipped.name != registration.name);
        match next.iter().position(|kept| kept.name == registration.name) {
            Some(_) if !replace => {
                return Err(ChangeError::Conflict(format!(
                    "a service is already registered as {:?} (PUT /api/services/{} replaces it)",
                    registration.name, registration.name
                )));
            }
            Some(position) => next[position] = registration,
            None => next.push(registration),
        }
        let changed = self.apply(&next, &skipped, Some(&kept.registrations))?;
        self.source
            .run_bridges(&bridges_of(&in_force(&next, &skipped)));
        *kept = Kept {
            registrations: next,
            skipped,
        };
        Ok(changed)
    }

    /// Removes the registered service `name` (a service of the config file
    /// is a conflict).
    pub fn deregister(&self, name: &str) -> Result<Changed, ChangeError> {
        let mut kept = self.lock();
        let Some(position) = kept
            .registrations
            .iter()
            .position(|registration| registration.name == name)
        else {
            // Decided under the lock: a registration another change just
            // removed is gone (404), not a service of the config file.
            if self.gateway.backends.named(name).is_some() {
                return Err(ChangeError::Conflict(format!(
                    "{name:?} is a service of the config file: remove it there and reload"
                )));
            }
            return Err(ChangeError::NotRegistered(name.to_owned()));
        };
        let mut next = kept.registrations.clone();
        next.remove(position);
        let mut skipped = kept.skipped.clone();
        skipped.retain(|skipped| skipped.name != name);
        let changed = self.apply(&next, &skipped, Some(&kept.registrations))?;
        self.source
            .run_bridges(&bridges_of(&in_force(&next, &skipped)));
        *kept = Kept {
            registrations: next,
            skipped,
        };
        Ok(changed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Validates the config with `registrations` but those `skipped`, keeps
    /// them all (when they differ from `previous_opt`) and applies it.
    fn apply(
        &self,
        registrations: &[Registration],
        skipped: &[Skipped],
        previous_opt: Option<&[Registration]>,
    ) -> Result<Changed, ChangeError> {
        let mut restart_required = Vec::new();
        let applied = in_force(registrations, skipped);
        let config = config_with(&*self.source, &applied, &mut restart_required).map_err(
            |invalid| match (invalid, previous_opt) {
                (ChangeError::Invalid(errors), Some(_))
                    if errors.len() == 1 && errors[0].contains(CLASH) =>
                {
                    ChangeError::Conflict(errors[0].clone())
                }
                (other, _) => other,
            },
        )?;
        let running = self.gateway.backends.services().len();
        if previous_opt.is_none()
            && config.services.is_empty()
            && running > 0
            && !config.admin.allow_empty_reload
        {
            return Err(ChangeError::Invalid(vec![format!(
                "services: the config read again has no service at all and would remove the {running} running; \
                 set admin.allow_empty_reload = true if that is meant"
            )]));
        }
        if previous_opt.is_none() {
            let removed = self.security_removed(&config);
            if !removed.is_empty() {
                return Err(ChangeError::Invalid(removed));
            }
        }
        let reconfigured = match previous_opt {
            Some(previous) => {
                if self.file_opt.is_none() && self.gateway.cluster_opt.is_none() {
                    return Err(ChangeError::NoRegistrationsFile);
                }
                self.share(registrations)?;
                if let Some(file) = &self.file_opt {
                    file.save(registrations).map_err(|error| {
                        ChangeError::Storage(format!("{}: {error}", file.path().display()))
                    })?;
                }
                match self.gateway.reconfigure(&config) {
                    Ok(reconfigured) => reconfigured,
                    Err(error) => {
                        // Not applied: the file and the shared list go
                        // back to the running set.
                        if let Some(file) = &self.file_opt {
                            let _ = file.save(previous);
                        }
                        let _ = self.share(previous);
                        return Err(ChangeError::Apply(error));
                    }
                }
            }
            None => self
                .gateway
                .reconfigure(&config)
                .map_err(ChangeError::Apply)?,
        };
        restart_required.extend(
            reconfigured
                .restart_required
                .iter()
                .map(|key| (*key).to_owned()),
        );
        Ok(Changed {
            services: reconfigured.services,
            restart_required,
        })
    }
}

impl LiveConfig {
    /// What `next` would switch off of the sign-in and policy in force:
    /// a reload never does (an emptied or half-written file is the usual
    /// cause); a restart applies it on purpose.
    fn security_removed(&self, next: &GatewayConfig) -> Vec<String> {
        let mut removed = Vec::new();
        if self.gateway.policy().has_cedar() && next.policy.cedar.is_none() {
            removed.push(
                "policy: the config read again has no Cedar policy and would remove the one in force; \
                 a reload never switches policy off (an emptied or half-written file?) — restart the gateway to do that"
                    .to_owned(),
            );
        }
        let issuers = |auth: &crate::config::AuthConfig| match auth {
            crate::config::AuthConfig::Tokens {
                jwt_opt: Some(jwt), ..
            } => jwt.issuers.len(),
            _ => 0,
        };
        let running_auth = &self.gateway.auth().config;
        if matches!(running_auth, crate::config::AuthConfig::Tokens { .. })
            && matches!(next.auth, crate::config::AuthConfig::InsecureNoAuth { .. })
        {
            removed.push(
                "auth: the config read again has no token, issuer or certificate and would switch authentication off; \
                 a reload never does (an emptied or half-written file?) — restart the gateway to do that"
                    .to_owned(),
            );
            return removed;
        }
        let running = issuers(running_auth);
        if running > 0 && issuers(&next.auth) == 0 {
            removed.push(format!(
                "auth.issuers: the config read again has no issuer and would remove the {running} in force; \
                 a reload never switches sign-in off (an emptied or half-written file?) — restart the gateway to do that"
            ));
        }
        removed
    }
}

/// Why the command of a registered `mcp_server` cannot start, if it
/// cannot: a path that is not an executable file, or a name found on no
/// directory of the `PATH` its bridge gets (ours). Said at once (`422`),
/// not acknowledged with a bridge that never comes up.
fn command_problem(registration: &Registration) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let command = registration
        .entry
        .get("mcp_server")?
        .get("command")?
        .as_str()?;
    let executable = |path: &std::path::Path| {
        std::fs::metadata(path)
            .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        return (!executable(std::path::Path::new(command))).then(|| {
            format!(
                "mcp_server.command: {command:?} is not an executable file on the gateway's host"
            )
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|directory| executable(&directory.join(command)));
    (!found).then(|| {
        format!(
            "mcp_server.command: {command:?} is found on no directory of the PATH the gateway's bridges get ({}); install it or give its absolute path",
            path.to_string_lossy()
        )
    })
}

/// `registrations` but those `skipped`.
fn in_force(registrations: &[Registration], skipped: &[Skipped]) -> Vec<Registration> {
    registrations
        .iter()
        .filter(|registration| !skipped.iter().any(|skip| skip.name == registration.name))
        .cloned()
        .collect()
}

/// What a registration named as a configured service is told.
const CLASH: &str = "is a service of the config file; registered services take other names";

/// The config `source` gives now with `registrations` appended to its
/// services, validated whole (at start, and for every change).
pub fn config_with(
    source: &dyn ConfigSource,
    registrations: &[Registration],
    restart_required: &mut Vec<String>,
) -> Result<GatewayConfig, ChangeError> {
    let mut raw = source.raw(restart_required).map_err(ChangeError::Invalid)?;
    let configured = raw.services.len();
    let mut errors = Vec::new();
    for (index, registration) in registrations.iter().enumerate() {
        if raw.services[..configured]
            .iter()
            .any(|service| service.name == registration.name)
        {
            errors.push(format!(
                "registrations[{index}]: {:?} {CLASH} (remove it from one of them)",
                registration.name
            ));
            continue;
        }
        let service = registration.parsed().and_then(|parsed| match parsed {
            Registered::Service(service) => Ok(*service),
            Registered::McpServer(server) => source.bridge_service(&registration.name, &server),
        });
        match service {
            Ok(service) => raw.services.push(service),
            Err(error) => errors.push(format!(
                "registrations[{index}] ({}): {error}",
                registration.name
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ChangeError::Invalid(errors));
    }
    source.validate(raw).map_err(|errors| {
        ChangeError::Invalid(name_registrations(errors, configured, registrations))
    })
}

/// Errors about `services[N]` for N past the configured services name the
/// registration instead (`registrations[K] (NAME)`).
fn name_registrations(
    errors: Vec<String>,
    configured: usize,
    registrations: &[Registration],
) -> Vec<String> {
    errors
        .into_iter()
        .map(|error| {
            for (index, registration) in registrations.iter().enumerate().rev() {
                let key = format!("services[{}]", configured + index);
                if let Some(rest) = error.strip_prefix(&key) {
                    return format!("registrations[{index}] ({}){rest}", registration.name);
                }
            }
            error
        })
        .collect()
}
