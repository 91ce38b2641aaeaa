//! `micromcp up`: load and validate the config (./micromcp.toml by
//! default), spawn and supervise the service children (fs, fetch, search,
//! a bridge per `[mcp_servers]` entry, the gRPC services), start the
//! gateway and wait for the services' catalogs, then serve until a
//! shutdown signal.

use std::net::SocketAddr;
use std::path::PathBuf;

use micromcp_gateway::config::RawConfig;
use micromcp_gateway::live_config::{self, ConfigSource};
use micromcp_gateway::load_or_create_key;
use tokio_util::sync::CancellationToken;

use crate::bridges::RegisteredBridges;
use crate::children::{
    ChildServices, add_bridge_children, add_fetch_child, add_fs_child, add_search_child,
    merge_mcp_servers_file, socket_dir,
};
use crate::config_source::{self, ChildrenSections, FileSource, Overrides, config_path};
use crate::serving;
use crate::state_dir;
use crate::supervise::{ChildSpec, supervise};
use crate::token::{self, TokenSource};

/// Flags of `micromcp up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Address to listen on (default 127.0.0.1:8080, or gateway.listen from the config).
    #[arg(long, value_parser = crate::listeners::parse_addr)]
    listen: Option<SocketAddr>,
    /// Directory the fs service serves read-only (repeatable; default: the current directory).
    #[arg(long = "root")]
    roots: Vec<PathBuf>,
    /// Config file (default: ./micromcp.toml when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Serve without authentication; refused unless listening on loopback.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Third-party MCP servers to bridge, in the desktop clients' `mcpServers` JSON format.
    #[arg(long)]
    mcp_servers: Option<PathBuf>,
    /// Host the fetch service may reach (`example.com` or `*.example.com`);
    /// repeatable, added to `[fetch] allow_domains`.
    #[arg(long = "fetch-allow")]
    fetch_allow: Vec<String>,
    /// Where the tokens (bearer, admin), session key, audit log and
    /// registrations are kept.
    #[arg(long, default_value = ".micromcp")]
    state_dir: PathBuf,
    /// Admin listener address (`/metrics`, health), or `off`; overrides admin.listen.
    #[arg(long)]
    admin_listen: Option<String>,
}

/// `up`'s flags, laid over the config at start and on every reload.
fn up_overrides(args: &UpArgs) -> Overrides {
    let flags = config_source::flags_overrides(
        args.listen,
        args.admin_listen.clone(),
        args.insecure_no_auth,
    );
    let state_dir = args.state_dir.clone();
    Box::new(move |raw: &mut RawConfig| {
        flags(raw);
        if raw.gateway.session_key_file.is_none() {
            raw.gateway.session_key_file = Some(state_dir.join("session.key"));
        }
        if raw.audit.path.is_none() {
            raw.audit.path = Some(state_dir.join("audit.jsonl"));
        }
        if raw.admin.registrations_file.is_none() {
            raw.admin.registrations_file = Some(state_dir.join("registrations.json"));
        }
        if raw.admin.tool_pins_file.is_none() {
            raw.admin.tool_pins_file = Some(state_dir.join("tool-pins.json"));
        }
        // The admin token `up` made (unless the environment gives one).
        let admin_token = state_dir.join(crate::admin_api::ADMIN_TOKEN_FILE);
        let from_environment =
            std::env::var(token::ADMIN_TOKEN_ENV).is_ok_and(|token| !token.trim().is_empty());
        if raw.admin.token_file.is_none() && !from_environment && admin_token.exists() {
            raw.admin.token_file = Some(admin_token);
        }
    })
}

/// `micromcp up`.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let path_opt = config_path(args.config.as_deref());
    let mut raw = config_source::read(path_opt.as_deref())?;
    let children_sections = ChildrenSections::of(&raw);
    let overrides = up_overrides(&args);
    overrides(&mut raw);
    // Before anything is written or started: a taken port, a missing root,
    // a bad fetch domain or an unreadable servers file stops here.
    crate::listeners::refuse_taken(&raw)?;
    let roots = crate::roots::served_roots(&args.roots)?;
    crate::refusals::check_fetch_domains(&raw, &args.fetch_allow)?;
    if let Some(path) = &args.mcp_servers {
        merge_mcp_servers_file(&mut raw, path)?;
    }
    let state = state_dir::claim(&args.state_dir)?;
    crate::supervise::end_orphans_of_children();
    token::announce_admin_token(
        &raw,
        &args.state_dir.join(crate::admin_api::ADMIN_TOKEN_FILE),
    )?;
    overrides(&mut raw);
    let token_opt = if raw.auth.insecure_no_auth {
        None
    } else {
        let token_file = args.state_dir.join("token");
        let (token, source) = token::load_or_create(&token_file, token::TOKEN_ENV)?;
        match source {
            TokenSource::Environment => {
                println!("bearer token: from MICROMCP_TOKEN");
                token::warn_if_short(&token);
            }
            // Shown once, when it is made; afterwards only where it is.
            TokenSource::File { created: true } => println!(
                "bearer token (generated, stored in {}): {token}",
                token_file.display()
            ),
            TokenSource::File { created: false } => {
                println!("bearer token: in {}", token_file.display());
            }
        }
        Some(token)
    };
    let sockets = socket_dir()?;
    raw.fetch
        .allow_domains
        .extend(args.fetch_allow.iter().cloned());
    let excluded = [state.path.clone()];
    state_dir::refuse_exposed_secrets(&raw, &roots, &excluded)?;
    for built_in in ["fs", "fetch", "search"] {
        if raw.services.iter().any(|service| service.name == built_in) {
            println!(
                "{built_in}: your [[services]] entry named {built_in:?} is used instead of the built-in one"
            );
        }
    }
    let mut child_services = ChildServices::default();
    let mut child_specs: Vec<ChildSpec> = [
        add_fs_child(&raw, &mut child_services, (&roots, &excluded), &sockets),
        add_fetch_child(&raw, &mut child_services, &sockets),
        add_search_child(&raw, &mut child_services, &roots, (&state.path, &sockets)),
    ]
    .into_iter()
    .flatten()
    .collect();
    child_specs.extend(add_bridge_children(
        &mut raw,
        &mut child_services,
        &sockets,
    )?);
    child_specs.extend(crate::grpc_children::add_grpc_children(&mut raw, &sockets)?);
    let written = crate::start::written_services(&raw);
    let shutdown = CancellationToken::new();
    // Without a config file, the one written later at the default path is
    // loaded as a reload (it is what `up` would have read at start).
    let missing_is_default = path_opt.is_none() && args.config.is_none();
    let source = FileSource {
        path_opt: path_opt
            .or_else(|| missing_is_default.then(|| PathBuf::from(config_source::DEFAULT_CONFIG))),
        missing_is_default,
        overrides,
        child_services,
        token_opt,
        children_sections_opt: Some(children_sections),
        bridges_opt: Some(RegisteredBridges::new(sockets.path(), &shutdown)),
        grpc_sockets_opt: Some(sockets.path().to_path_buf()),
    };
    state_dir::refuse_untrusted_dirs(&raw)?;
    let initial = config_source::initial_config(&source, &raw)?;
    let (config, registrations, skipped) = (initial.config, initial.registrations, initial.skipped);
    serving::warn_if_insecure(&config);
    source.run_bridges(&live_config::bridges_of(&initial.applied));
    let children: Vec<_> = child_specs
        .into_iter()
        .map(|spec| supervise(spec, shutdown.clone()))
        .collect();
    let outcome = async {
        let key = load_or_create_key(&config.session_key_file).map_err(anyhow::Error::msg)?;
        let file_opt = config.admin.registrations_file.clone();
        let gateway = crate::start::start_gateway(config, &key, &written, &shutdown).await?;
        let live = crate::reload::live(
            &gateway,
            source,
            file_opt,
            (registrations, skipped),
            &shutdown,
        );
        let address_file = args.state_dir.join(crate::admin_api::ADMIN_ADDRESS_FILE);
        serving::serve_http(gateway, Some(live), shutdown.clone(), Some(address_file)).await
    }
    .await;
    shutdown.cancel();
    for child in children {
        let _ = child.await;
    }
    // Nothing answers there any more: tools must not be sent to it.
    let _ = std::fs::remove_file(args.state_dir.join(crate::admin_api::ADMIN_ADDRESS_FILE));
    drop(sockets);
    drop(state);
    outcome
}
