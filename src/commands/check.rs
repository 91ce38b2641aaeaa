//! `micromcp check [--config FILE]` (default `./micromcp.toml`, as `up`;
//! without one, the defaults): validates a gateway config as `gateway`
//! would (every error named by its key), then prints what it resolves to —
//! listen address, authentication (a bearer token asked for only when the
//! config has no other way in), the admin listener, each service with
//! its endpoints and namespace, and the services `up` would run beside
//! them — and, unless `--offline`, connects to every
//! service and prints its catalog (or why it could not be reached, and the
//! collisions the merge would refuse), and reads every `kind = "grpc"`
//! target as its translator would, within the entry's deadline: the tools
//! it would offer after allow/deny, or why it cannot (unreachable, silent,
//! server reflection off without `descriptor_set`, TLS on one side only).
//! Exit status: 0 when the config is valid and every service and gRPC
//! target answered, 1 when the config is invalid, 2 when a service or a
//! gRPC target did not answer or the catalogs collide.

use std::path::PathBuf;
use std::time::Duration;

use micromcp_gateway::Gateway;
use micromcp_gateway::catalog::ListKind;
use micromcp_gateway::config::{AuditTarget, GatewayConfig, RawConfig};
use tokio_util::sync::CancellationToken;

use crate::config_source;

/// Flags of `micromcp check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The config file to check (default: ./micromcp.toml when it exists,
    /// as `micromcp up`; else the defaults). The bearer token, when the
    /// config needs one: MICROMCP_TOKEN.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Validate only; do not connect to the services or the gRPC targets.
    #[arg(long)]
    offline: bool,
    /// How long to wait for every service's catalog, in seconds.
    #[arg(long, default_value_t = 10)]
    wait_secs: u64,
}

/// Runs the check; `Ok(code)` is the exit status.
pub async fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let path_opt = config_source::config_path(args.config.as_deref());
    let shown = path_opt.as_ref().map_or_else(
        || "no ./micromcp.toml here; the defaults".to_owned(),
        |path| path.display().to_string(),
    );
    let mut raw = config_source::read(path_opt.as_deref())?;
    // `kind = "grpc"` entries become translator children under `up`.
    let grpc_children = match crate::grpc_children::take_grpc_entries(&mut raw) {
        Ok(names) => names,
        Err(errors) => {
            eprintln!("{shown}: invalid configuration:");
            for error in errors {
                eprintln!("  - {error}");
            }
            return Ok(1);
        }
    };
    let children = up_children(&raw, &grpc_children);
    let up_children: Vec<String> = children
        .iter()
        .map(|(name, kind)| format!("{name}{kind}"))
        .collect();
    // Scopes, policies and rates may name the services `up` runs itself:
    // validated with them standing in, as `up` validates.
    let stand_ins: Vec<String> = children.into_iter().map(|(name, _)| name).collect();
    add_stand_ins(&mut raw, &stand_ins);
    let token = std::env::var("MICROMCP_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    let mut assumed = false;
    let mut validated = raw.validate(token.as_deref());
    // Without a token now, and none configured (a file, hashes, JWT
    // issuers...): validate as if MICROMCP_TOKEN will be set at start.
    if validated.is_err() && token.is_none() {
        let mut again = config_source::read(path_opt.as_deref())?;
        let _ = crate::grpc_children::take_grpc_entries(&mut again);
        add_stand_ins(&mut again, &stand_ins);
        if again.auth.token_file.is_none() {
            assumed = true;
            validated = again.validate(Some("set-at-start"));
        }
    }
    let config = match validated {
        Ok(mut config) => {
            config
                .services
                .retain(|service| !stand_ins.contains(&service.name));
            config
        }
        Err(errors) => {
            eprintln!("{shown}: invalid configuration:");
            for error in errors {
                eprintln!("  - {error}");
            }
            return Ok(1);
        }
    };
    println!("{shown}: valid");
    print_resolved(&config, assumed);
    println!(
        "under `micromcp up`: {} services ({} configured, and {} it runs itself: {})",
        config.services.len() + up_children.len(),
        config.services.len(),
        up_children.len(),
        up_children.join(", ")
    );
    if args.offline {
        return Ok(0);
    }
    let separator = config.namespace_separator.clone();
    let grpc_read = crate::grpc_children::print_probes(&grpc_children, &separator).await;
    let code = print_catalogs(config, Duration::from_secs(args.wait_secs)).await?;
    Ok(if grpc_read { code } else { 2 })
}

/// The services `up` runs itself beside a config's, each with what it
/// is: fs, fetch and search unless it names them, a bridge per enabled
/// `[mcp_servers]` entry, a translator per `kind = "grpc"` entry.
fn up_children(
    raw: &RawConfig,
    grpc_children: &[crate::grpc_children::GrpcEntry],
) -> Vec<(String, &'static str)> {
    let named = |name: &str| raw.services.iter().any(|service| service.name == name);
    ["fs", "fetch", "search"]
        .into_iter()
        .filter(|name| !named(name))
        .map(|name| (name.to_owned(), ""))
        .chain(
            raw.mcp_servers
                .iter()
                .filter(|(_, server)| server.disabled != Some(true))
                .map(|(name, _)| (name.clone(), " (bridge)")),
        )
        .chain(
            grpc_children
                .iter()
                .map(|entry| (entry.name.clone(), " (grpc translator)")),
        )
        .collect()
}

/// Adds a service entry standing in for each of `names` (never reached:
/// removed again once the config is validated).
fn add_stand_ins(raw: &mut RawConfig, names: &[String]) {
    for name in names {
        if raw.services.iter().any(|service| &service.name == name) {
            continue;
        }
        raw.services.push(micromcp_gateway::config::RawService {
            name: name.clone(),
            endpoint: Some(format!("unix:/nonexistent/{name}.sock")),
            ..Default::default()
        });
    }
}

fn print_resolved(config: &GatewayConfig, assumed_token: bool) {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listen: {scheme}://{}/mcp", config.listen);
    if assumed_token {
        let kept = std::path::Path::new(".micromcp/token");
        if kept.is_file() {
            println!(
                "auth: a bearer token is needed at start: `micromcp up` here uses the one in {} (`micromcp gateway` needs MICROMCP_TOKEN, not set now)",
                kept.display()
            );
        } else {
            println!(
                "auth: a bearer token is needed at start (MICROMCP_TOKEN is not set now; `micromcp up` makes one in .micromcp/token)"
            );
        }
    }
    match config.admin.listen {
        Some(address) => println!("admin: http://{address}/ (/metrics, /healthz, /readyz)"),
        None => println!("admin: off"),
    }
    let recorded = std::path::Path::new(".micromcp").join(crate::admin_api::ADMIN_ADDRESS_FILE);
    if let Ok(text) = std::fs::read_to_string(&recorded) {
        let running = text.trim();
        let configured = config
            .admin
            .listen
            .map(|address| format!("http://{address}"));
        if !running.is_empty() && configured.as_deref() != Some(running.trim_end_matches('/')) {
            println!(
                "admin now: {running} (the `micromcp up` running here took it; recorded in {})",
                recorded.display()
            );
        }
    }
    println!("services: {} configured", config.services.len());
    for service in &config.services {
        let namespace = if service.namespace.is_empty() {
            "no prefix".to_owned()
        } else {
            format!(
                "namespace {}{}",
                service.namespace, config.namespace_separator
            )
        };
        println!("  {} ({namespace}):", service.name);
        for endpoint in service.endpoints.describe() {
            println!("    {endpoint}");
        }
    }
}

async fn print_catalogs(mut config: GatewayConfig, wait: Duration) -> anyhow::Result<i32> {
    // A check writes nothing: no audit file is opened, and nothing is sealed
    // with the key (no client is served).
    config.audit.target = AuditTarget::Off;
    let key = [0u8; 32];
    let gateway = Gateway::new(config, &key).map_err(|error| anyhow::anyhow!("{error}"))?;
    let shutdown = CancellationToken::new();
    gateway.backends.spawn_watchers(&shutdown);
    let missing = wait_for_answers(&gateway, wait).await;
    let catalog = gateway.backends.catalog();
    let services = gateway.backends.services();
    let counts: Vec<Vec<usize>> = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::ResourceTemplates,
    ]
    .iter()
    .map(|kind| catalog.counts_by_service(*kind, services.len()))
    .collect();
    if services.is_empty() {
        println!(
            "catalogs: no service configured to ask (those `micromcp up` runs itself are asked when it runs)"
        );
        shutdown.cancel();
        return Ok(0);
    }
    println!("catalogs:");
    for (index, backend) in services.iter().enumerate() {
        let name = &backend.config.name;
        if missing.contains(name) {
            match backend.down_reason() {
                Some(reason) => println!("  {name}: not reachable: {reason}"),
                None => println!(
                    "  {name}: no catalog within {} s (--wait-secs)",
                    wait.as_secs()
                ),
            }
            continue;
        }
        println!(
            "  {name}: {} tools, {} prompts, {} resources, {} templates",
            counts[0][index], counts[1][index], counts[2][index], counts[3][index]
        );
    }
    let tools: Vec<&str> = catalog.tool_names().collect();
    if !tools.is_empty() {
        println!("tools: {}", tools.join(", "));
    }
    for collision in &catalog.collisions {
        println!("collision: {collision}");
    }
    shutdown.cancel();
    Ok(if missing.is_empty() && catalog.collisions.is_empty() {
        0
    } else {
        2
    })
}

/// Waits until every service delivered its catalog, or every one that has
/// not has already failed once (a refused port answers at once: the check
/// does not sit out the whole wait for it), or `wait` is over. Returns the
/// names of those without a catalog.
async fn wait_for_answers(gateway: &Gateway, wait: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let step = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(Duration::from_millis(200));
        let missing = gateway.backends.wait_for_catalogs(step).await;
        let all_failed = gateway
            .backends
            .services()
            .iter()
            .filter(|backend| missing.contains(&backend.config.name))
            .all(|backend| backend.down_reason().is_some());
        if missing.is_empty() || all_failed || tokio::time::Instant::now() >= deadline {
            return missing;
        }
    }
}
