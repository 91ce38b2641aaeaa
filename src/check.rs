//! `micromcp check --config FILE`: validates a gateway config as `gateway`
//! would (every error named by its key), then prints what it resolves to —
//! listen address, authentication, the admin listener, each service with
//! its endpoints and namespace — and, unless `--offline`, connects to every
//! service and prints its catalog (or why it could not be reached, and the
//! collisions the merge would refuse). Exit status: 0 when the config is
//! valid and every service answered, 1 when the config is invalid, 2 when
//! a service did not answer or the catalogs collide.

use std::path::PathBuf;
use std::time::Duration;

use micromcp_gateway::Gateway;
use micromcp_gateway::catalog::ListKind;
use micromcp_gateway::config::{AuditTarget, GatewayConfig};
use tokio_util::sync::CancellationToken;

/// Flags of `micromcp check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The config file to check.
    #[arg(long)]
    config: PathBuf,
    /// Validate only; do not connect to the services.
    #[arg(long)]
    offline: bool,
    /// How long to wait for every service's catalog, in seconds.
    #[arg(long, default_value_t = 10)]
    wait_secs: u64,
}

/// Runs the check; `Ok(code)` is the exit status.
pub async fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let raw = crate::up::read_config(Some(&args.config))?;
    let token = std::env::var("MICROMCP_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    // Without the token now, validate as if it will be set at start.
    let assumed = token.is_none() && raw.auth.token_file.is_none();
    let checked_with = token.or_else(|| assumed.then(|| "set-at-start".to_owned()));
    let config = match raw.validate(checked_with.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{}: invalid configuration:", args.config.display());
            for error in errors {
                eprintln!("  - {error}");
            }
            return Ok(1);
        }
    };
    println!("{}: valid", args.config.display());
    print_resolved(&config, assumed);
    if args.offline {
        return Ok(0);
    }
    print_catalogs(config, Duration::from_secs(args.wait_secs)).await
}

fn print_resolved(config: &GatewayConfig, assumed_token: bool) {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listen: {scheme}://{}/mcp", config.listen);
    if assumed_token {
        println!("auth: a bearer token is needed at start (MICROMCP_TOKEN is not set now)");
    }
    match config.admin.listen {
        Some(address) => println!("admin: http://{address}/ (/metrics, /healthz, /readyz)"),
        None => println!("admin: off"),
    }
    println!("services: {}", config.services.len());
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
    let missing = gateway.backends.wait_for_catalogs(wait).await;
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
    println!("catalogs:");
    for (index, backend) in services.iter().enumerate() {
        let name = &backend.config.name;
        if missing.contains(name) {
            let reason = backend
                .down_reason()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default();
            println!(
                "  {name}: not reachable within {} s{reason}",
                wait.as_secs()
            );
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
