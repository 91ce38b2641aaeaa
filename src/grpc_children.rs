//! `[[services]] kind = "grpc"` under `micromcp up` and `micromcp stdio`:
//! each entry becomes a supervised `micromcp grpc-service` child on a Unix
//! socket in the private socket directory, and the entry itself an
//! ordinary service routed to that socket. The translator holds the reach
//! to the target (address, TLS files); the gateway keeps only the socket.
//! The entry's keys are checked here, before anything starts, with errors
//! that name them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use micromcp_gateway::config::{RawConfig, RawService};
use micromcp_grpc::{ForwardedMetadata, GrpcSettings};
use micromcp_proto::quic::ClientTls;

use crate::children::SocketDir;
use crate::supervise::ChildSpec;

/// Deadline of a call when `deadline_ms` is not set.
const DEFAULT_DEADLINE_MS: u64 = 30_000;
/// Reflection is read again this often when `refresh_secs` is not set.
const DEFAULT_REFRESH_SECS: u64 = 60;

/// Turns every `kind = "grpc"` entry of `raw` into a translator child.
pub fn add_grpc_children(
    raw: &mut RawConfig,
    sockets: &SocketDir,
) -> anyhow::Result<Vec<ChildSpec>> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for (index, service) in raw.services.iter().enumerate() {
        if service.kind.as_deref() != Some("grpc") {
            continue;
        }
        let key = format!("services[{index}]");
        match socket_of(sockets.path(), service, &key).and_then(|socket| {
            let (mut args, _) = child_args(service, &key)?;
            args.splice(
                0..0,
                [
                    "grpc-service".into(),
                    "--name".into(),
                    service.name.clone().into(),
                    "--socket".into(),
                    socket.into_os_string(),
                ],
            );
            Ok(args)
        }) {
            Ok(args) => specs.push(ChildSpec {
                name: service.name.clone(),
                args,
                env: Vec::new(),
            }),
            Err(error) => errors.push(error),
        }
    }
    anyhow::ensure!(errors.is_empty(), "{}", errors.join("\n"));
    route_grpc_entries(raw, sockets.path());
    Ok(specs)
}

/// A `kind = "grpc"` entry as `micromcp check` sees it.
pub struct GrpcEntry {
    /// The entry's `name`.
    pub name: String,
    /// Its `namespace` (`None`: the name).
    pub namespace_opt: Option<String>,
    /// What its translator would serve.
    pub settings: GrpcSettings,
}

/// Takes the `kind = "grpc"` entries out of `raw` (for `micromcp check`,
/// which validates the rest as `gateway` would), or the errors `up` would
/// stop on.
pub fn take_grpc_entries(raw: &mut RawConfig) -> Result<Vec<GrpcEntry>, Vec<String>> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut kept = Vec::new();
    for (index, service) in std::mem::take(&mut raw.services).into_iter().enumerate() {
        if service.kind.as_deref() != Some("grpc") {
            kept.push(service);
            continue;
        }
        let key = format!("services[{index}]");
        match socket_of(Path::new("."), &service, &key).and_then(|_| child_args(&service, &key)) {
            Ok((_, settings)) => entries.push(GrpcEntry {
                name: service.name,
                namespace_opt: service.namespace,
                settings,
            }),
            Err(error) => errors.push(error),
        }
    }
    raw.services = kept;
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// For `micromcp check`: contacts each `kind = "grpc"` target (each within
/// its deadline, all at once) and prints the tools its translator would
/// offer — named as clients see them, `separator` after the namespace — or
/// why it cannot; false when one cannot be read.
pub async fn print_probes(entries: &[GrpcEntry], separator: &str) -> bool {
    if entries.is_empty() {
        return true;
    }
    let probes: Vec<_> = entries
        .iter()
        .map(|entry| {
            let settings = entry.settings.clone();
            tokio::spawn(async move { micromcp_grpc::probe(&settings).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(probes.len());
    for probe in probes {
        answers.push(probe.await.map_err(|error| error.to_string()));
    }
    println!("grpc targets (read as their translators would):");
    let mut all_read = true;
    for (entry, answer) in entries.iter().zip(answers) {
        let name = &entry.name;
        let target = &entry.settings.target;
        let source = match &entry.settings.descriptor_set_opt {
            Some(path) => format!("descriptor_set {}", path.display()),
            None => "server reflection".to_owned(),
        };
        match answer.and_then(|read| read.map_err(|error| error.to_string())) {
            Ok(tools) => {
                let namespace = entry.namespace_opt.as_deref().unwrap_or(name);
                let prefix = if namespace.is_empty() {
                    String::new()
                } else {
                    format!("{namespace}{separator}")
                };
                let named: Vec<String> =
                    tools.iter().map(|tool| format!("{prefix}{tool}")).collect();
                println!(
                    "  {name} ({target}, {source}): {} tools: {}",
                    named.len(),
                    named.join(", ")
                );
            }
            Err(error) => {
                all_read = false;
                println!("  {name} ({target}, {source}): cannot be read: {error}");
            }
        }
    }
    all_read
}

/// Routes every `kind = "grpc"` entry to its translator's socket in
/// `sockets` (at start, and on each reload of the config file).
pub fn route_grpc_entries(raw: &mut RawConfig, sockets: &Path) {
    for (index, service) in raw.services.iter_mut().enumerate() {
        if service.kind.as_deref() != Some("grpc") {
            continue;
        }
        if let Ok(socket) = socket_of(sockets, service, &format!("services[{index}]")) {
            *service = RawService {
                endpoint: Some(format!("unix:{}", socket.display())),
                ..served_entry(service)
            };
        }
    }
}

/// The translator's socket: named after the service, whose name is
/// checked first (it becomes part of a path).
fn socket_of(sockets: &Path, service: &RawService, key: &str) -> Result<PathBuf, String> {
    let name = &service.name;
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '_' | '-'))
    {
        return Err(format!(
            "{key}.name: {name:?} must be 1-64 chars of A-Za-z0-9_-"
        ));
    }
    Ok(sockets.join(format!("grpc-{name}.sock")))
}

/// The entry the gateway sees: the service's own keys (name, namespace,
/// limits, approvals), none of the target's.
fn served_entry(service: &RawService) -> RawService {
    RawService {
        name: service.name.clone(),
        namespace: service.namespace.clone(),
        content_from: service.content_from.clone(),
        backends: service.backends.clone(),
        rate_limits: service.rate_limits.clone(),
        accept_tool_changes: service.accept_tool_changes,
        require_approval: service.require_approval.clone(),
        token_exchange: service.token_exchange.clone(),
        ..RawService::default()
    }
}

/// The translator's flags for `service`, and its settings (checked).
fn child_args(service: &RawService, key: &str) -> Result<(Vec<OsString>, GrpcSettings), String> {
    if service.endpoint.is_some() || !service.endpoints.is_empty() {
        return Err(format!(
            "{key}.endpoint: a kind = \"grpc\" entry is reached through its translator; give target instead"
        ));
    }
    let target_text = service
        .target
        .as_deref()
        .ok_or_else(|| format!("{key}.target: required for kind = \"grpc\""))?;
    let target: http::Uri = target_text
        .parse()
        .map_err(|error| format!("{key}.target: {target_text:?}: {error}"))?;
    let forward_metadata = service
        .forward_metadata
        .iter()
        .map(|name| ForwardedMetadata::parse(name).map_err(|error| format!("{key}.{error}")))
        .collect::<Result<Vec<_>, _>>()?;
    let methods = service.methods.clone().unwrap_or_default();
    let deadline_ms = service.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS);
    let refresh_secs = service.refresh_secs.unwrap_or(DEFAULT_REFRESH_SECS);
    let settings = GrpcSettings {
        tls_opt: service.tls_ca.clone().map(|ca_file| ClientTls {
            ca_file,
            server_name: service
                .tls_server_name
                .clone()
                .unwrap_or_else(|| target.host().unwrap_or_default().to_owned()),
            identity: service
                .tls_client_cert
                .clone()
                .zip(service.tls_client_key.clone()),
        }),
        target,
        descriptor_set_opt: service.descriptor_set.clone(),
        allow: methods.allow.clone(),
        deny: methods.deny.clone(),
        deadline: Duration::from_millis(deadline_ms),
        forward_metadata,
        refresh_opt: (refresh_secs > 0).then(|| Duration::from_secs(refresh_secs)),
    };
    settings
        .validate()
        .map_err(|error| format!("{key}.{error}"))?;
    if service.tls_client_cert.is_some() != service.tls_client_key.is_some() {
        return Err(format!(
            "{key}.tls_client_cert: give it with tls_client_key, or neither"
        ));
    }
    let mut args: Vec<OsString> = vec![
        "--target".into(),
        target_text.into(),
        "--deadline-ms".into(),
        deadline_ms.to_string().into(),
        "--refresh-secs".into(),
        refresh_secs.to_string().into(),
    ];
    let mut flag = |name: &str, value: OsString| {
        args.push(name.into());
        args.push(value);
    };
    for pattern in &methods.allow {
        flag("--allow", pattern.into());
    }
    for pattern in &methods.deny {
        flag("--deny", pattern.into());
    }
    for name in &service.forward_metadata {
        flag("--forward-metadata", name.into());
    }
    if let Some(path) = &service.descriptor_set {
        flag("--descriptor-set", path.clone().into_os_string());
    }
    if let Some(path) = &service.tls_ca {
        flag("--tls-ca", path.clone().into_os_string());
    }
    if let Some(name) = &service.tls_server_name {
        flag("--tls-server-name", name.into());
    }
    if let (Some(cert), Some(key_file)) = (&service.tls_client_cert, &service.tls_client_key) {
        flag("--tls-client-cert", cert.clone().into_os_string());
        flag("--tls-client-key", key_file.clone().into_os_string());
    }
    Ok((args, settings))
}
