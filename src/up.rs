//! `micromcp up`, `micromcp gateway` and `micromcp stdio` (the same
//! services as `up`: fs, fetch, search where `[search] index_dir` is set,
//! and every `[mcp_servers]` bridge): load and validate
//! the config, spawn and supervise service children, start the gateway and
//! wait for the services' catalogs, then serve until a shutdown signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use micromcp_gateway::config::{AuditTarget, GatewayConfig, RawConfig};
use micromcp_gateway::live_config::{self, ConfigSource, LiveConfig};
use micromcp_gateway::{Gateway, load_or_create_key};
use tokio_util::sync::CancellationToken;

use crate::bridges::RegisteredBridges;
use crate::children::{
    ChildServices, add_bridge_children, add_fetch_child, add_fs_child, add_search_child,
    merge_mcp_servers_file, socket_dir,
};
use crate::config_source::{self, ChildrenSections, FileSource, Overrides, config_path};
use crate::state_dir;
use crate::supervise::{ChildSpec, supervise};
use crate::token::{self, TokenSource};

/// Flags of `micromcp up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Address to listen on (default 127.0.0.1:8080, or gateway.listen from the config).
    #[arg(long, value_parser = crate::parse_addr)]
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

/// Flags of `micromcp gateway`.
#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Config file naming the services to route to.
    #[arg(long)]
    config: PathBuf,
    /// Overrides gateway.listen.
    #[arg(long, value_parser = crate::parse_addr)]
    listen: Option<SocketAddr>,
    /// Serve without authentication; refused unless listening on loopback.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Admin listener address (`/metrics`, health), or `off`; overrides admin.listen.
    #[arg(long)]
    admin_listen: Option<String>,
}

/// Flags of `micromcp stdio`.
#[derive(clap::Args)]
pub struct StdioArgs {
    /// Directory the fs service serves read-only (repeatable; required: the
    /// working directory a desktop client starts us in is often `/` or home).
    #[arg(long = "root")]
    roots: Vec<PathBuf>,
    /// Optional config file with more services.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub(crate) fn read_config(path_opt: Option<&Path>) -> anyhow::Result<RawConfig> {
    config_source::read(config_path(path_opt).as_deref())
}

fn validate(raw: RawConfig, token_opt: Option<&str>) -> anyhow::Result<GatewayConfig> {
    raw.validate(token_opt).map_err(|errors| invalid(&errors))
}

pub(crate) fn invalid(errors: &[String]) -> anyhow::Error {
    let listed: Vec<String> = errors.iter().map(|error| format!("  - {error}")).collect();
    anyhow::anyhow!("invalid configuration:\n{}", listed.join("\n"))
}

fn warn_if_insecure(config: &GatewayConfig) {
    if matches!(
        config.auth,
        micromcp_gateway::config::AuthConfig::InsecureNoAuth { .. }
    ) {
        tracing::warn!(
            "AUTHENTICATION IS OFF (--insecure-no-auth): any local process can use this gateway"
        );
        eprintln!("WARNING: authentication is disabled (--insecure-no-auth); loopback only.");
    }
    match &config.audit.target {
        AuditTarget::Off => tracing::warn!(
            "audit log is off: set audit.path (a file, or \"-\" for standard output)"
        ),
        AuditTarget::Stdout => tracing::info!("audit records go to standard output"),
        AuditTarget::File { path, .. } => {
            tracing::info!(path = %path.display(), "audit records appended")
        }
    }
}

/// Says so when the open files limit is below what the connection cap needs.
fn warn_if_descriptors_short(config: &GatewayConfig) {
    let wanted = config.limits.max_connections as u64 + 256;
    if let Some(open_files) = crate::fd_limit::raise_open_files_limit()
        && open_files < wanted
    {
        tracing::warn!(
            open_files,
            max_connections = config.limits.max_connections,
            "the open files limit is below limits.max_connections + 256; clients past it wait in the accept queue"
        );
    }
}

/// Serves until shutdown; `up` records the admin listener's URL in
/// `address_file_opt` (removed when there is none).
async fn serve_http(
    gateway: Arc<Gateway>,
    live_opt: Option<Arc<LiveConfig>>,
    shutdown: CancellationToken,
    address_file_opt: Option<PathBuf>,
) -> anyhow::Result<()> {
    let listen = gateway.config.listen;
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        signal_shutdown.cancel();
    });
    warn_if_descriptors_short(&gateway.config);
    let admin_opt = crate::admin::start(&gateway, live_opt, &shutdown).await?;
    if let Some(path) = &address_file_opt {
        let _ = match admin_opt {
            Some(address) => std::fs::write(path, format!("http://{address}\n")),
            None => std::fs::remove_file(path),
        };
    }
    let threads = gateway.config.threads;
    let front = micromcp_gateway::front::http::threads::start(&gateway, listen, threads, &shutdown)
        .map_err(|error| {
            anyhow::anyhow!(
                "{}",
                crate::listeners::taken_message(listen, &error, "--listen")
            )
        })?;
    let scheme = if gateway.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{}/mcp", front.address);
    let served = front.wait().await;
    // Every answered request's record was written before its answer;
    // force them to disk before exiting.
    gateway.audit.sync();
    served?;
    Ok(())
}

/// `up`'s flags, laid over the config at start and on every reload.
fn up_overrides(args: &UpArgs) -> Overrides {
    let flags = flags_overrides(
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

/// `gateway`'s flags, laid over the config at start and on every reload.
fn gateway_overrides(args: &GatewayArgs) -> Overrides {
    flags_overrides(
        args.listen,
        args.admin_listen.clone(),
        args.insecure_no_auth,
    )
}

/// `--listen`, `--admin-listen` and `--insecure-no-auth` over a config.
fn flags_overrides(
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

/// `micromcp up`.
pub async fn run_up(args: UpArgs) -> anyhow::Result<()> {
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
    warn_if_insecure(&config);
    source.run_bridges(&live_config::bridges_of(&initial.applied));
    let children: Vec<_> = child_specs
        .into_iter()
        .map(|spec| supervise(spec, shutdown.clone()))
        .collect();
    let outcome = async {
        let key = load_or_create_key(&config.session_key_file).map_err(anyhow::Error::msg)?;
        let file_opt = config.admin.registrations_file.clone();
        let gateway = crate::start::start_gateway(config, &key, &registrations, &shutdown).await?;
        let live = crate::reload::live(
            &gateway,
            source,
            file_opt,
            (registrations, skipped),
            &shutdown,
        );
        let address_file = args.state_dir.join(crate::admin_api::ADMIN_ADDRESS_FILE);
        serve_http(gateway, Some(live), shutdown.clone(), Some(address_file)).await
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

/// `micromcp gateway`.
pub async fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let overrides = gateway_overrides(&args);
    let mut raw = read_config(Some(&args.config))?;
    overrides(&mut raw);
    let token = std::env::var("MICROMCP_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    if let Some(token) = &token {
        token::warn_if_short(token.trim());
    }
    state_dir::refuse_untrusted_dirs(&raw)?;
    let source = FileSource {
        path_opt: Some(args.config.clone()),
        missing_is_default: false,
        overrides,
        child_services: ChildServices::default(),
        token_opt: token,
        children_sections_opt: None,
        bridges_opt: None,
        grpc_sockets_opt: None,
    };
    let initial = config_source::initial_config(&source, &raw)?;
    let (config, registrations, skipped) = (initial.config, initial.registrations, initial.skipped);
    warn_if_insecure(&config);
    // A taken port stops the start (after the config's own errors) before a
    // session key is written.
    crate::listeners::refuse_taken(&raw)?;
    let shutdown = CancellationToken::new();
    let key = load_or_create_key(&config.session_key_file).map_err(anyhow::Error::msg)?;
    let file_opt = config.admin.registrations_file.clone();
    let gateway = crate::start::start_gateway(config, &key, &registrations, &shutdown).await?;
    let live = crate::reload::live(
        &gateway,
        source,
        file_opt,
        (registrations, skipped),
        &shutdown,
    );
    let outcome = serve_http(gateway, Some(live), shutdown.clone(), None).await;
    shutdown.cancel();
    outcome
}

/// Where `stdio` keeps a search index: only where `[search] index_dir`
/// says (it has no state directory; desktop clients often start it in a
/// directory it cannot write). Other `[search]` keys without it are an error.
fn stdio_search_dir(raw: &RawConfig) -> anyhow::Result<Option<PathBuf>> {
    let search = &raw.search;
    match &search.index_dir {
        Some(dir) => Ok(Some(dir.clone())),
        None if search.crawl.is_some()
            || search.embeddings_url.is_some()
            || search.embeddings_model.is_some() =>
        {
            anyhow::bail!(
                "invalid configuration:\n  - search.index_dir: required by `micromcp stdio` to run search (it keeps no state directory); name a writable directory"
            )
        }
        None => Ok(None),
    }
}

/// `micromcp stdio`.
pub async fn run_stdio(args: StdioArgs) -> anyhow::Result<()> {
    let mut raw = read_config(args.config.as_deref())?;
    crate::supervise::end_orphans_of_children();
    // No HTTP listener: authentication is the operating system's (who may start us).
    raw.auth.insecure_no_auth = true;
    raw.gateway.listen = Some("127.0.0.1:0".into());
    // One process is one client: a session needs no key that outlives it,
    // and desktop clients often start us in a directory we cannot write.
    let persistent_key = raw.gateway.session_key_file.is_some();
    if raw
        .audit
        .path
        .as_deref()
        .is_some_and(|path| path.as_os_str() == "-")
    {
        anyhow::bail!(
            "invalid configuration:\n  audit.path: \"-\" (standard output) carries the MCP messages in stdio mode; name a file"
        );
    }
    state_dir::refuse_untrusted_stdio_dirs(&raw)?;
    let roots = crate::roots::stdio_roots(&args.roots)?;
    crate::refusals::check_fetch_domains(&raw, &[])?;
    state_dir::refuse_exposed_secrets(&raw, &roots, &[])?;
    let search_dir_opt = stdio_search_dir(&raw)?;
    let sockets = socket_dir()?;
    let mut child_services = ChildServices::default();
    let mut child_specs: Vec<ChildSpec> = [
        add_fs_child(&raw, &mut child_services, (&roots, &[]), &sockets),
        add_fetch_child(&raw, &mut child_services, &sockets),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(search_dir) = search_dir_opt {
        child_specs.extend(add_search_child(
            &raw,
            &mut child_services,
            &roots,
            (&search_dir, &sockets),
        ));
    }
    child_specs.extend(add_bridge_children(
        &mut raw,
        &mut child_services,
        &sockets,
    )?);
    child_specs.extend(crate::grpc_children::add_grpc_children(&mut raw, &sockets)?);
    child_services.around(&mut raw.services);
    let config = validate(raw, None)?;
    let shutdown = CancellationToken::new();
    let children: Vec<_> = child_specs
        .into_iter()
        .map(|spec| supervise(spec, shutdown.clone()))
        .collect();
    let outcome = async {
        let key: [u8; 32] = if persistent_key {
            load_or_create_key(&config.session_key_file).map_err(anyhow::Error::msg)?
        } else {
            rand::random()
        };
        let gateway = crate::start::start_gateway(config, &key, &[], &shutdown).await?;
        let audit = gateway.audit.clone();
        let served = tokio::select! {
            served = micromcp_gateway::front::stdio::serve(gateway, tokio::io::stdin(), tokio::io::stdout()) => served.map_err(anyhow::Error::from),
            () = crate::shutdown::signal() => Ok(()),
        };
        audit.sync();
        served
    }
    .await;
    shutdown.cancel();
    for child in children {
        let _ = child.await;
    }
    drop(sockets);
    outcome
}
