//! `micromcp gateway`: the gateway alone, with the services a config file
//! names, served over HTTP until a shutdown signal.

use std::net::SocketAddr;
use std::path::PathBuf;

use micromcp_gateway::load_or_create_key;
use tokio_util::sync::CancellationToken;

use crate::children::ChildServices;
use crate::config_source::{self, FileSource, Overrides};
use crate::serving;
use crate::state_dir;
use crate::token::{self};

/// Flags of `micromcp gateway`.
#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Config file naming the services to route to.
    #[arg(long)]
    config: PathBuf,
    /// Overrides gateway.listen.
    #[arg(long, value_parser = crate::listeners::parse_addr)]
    listen: Option<SocketAddr>,
    /// Serve without authentication; refused unless listening on loopback.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Admin listener address (`/metrics`, health), or `off`; overrides admin.listen.
    #[arg(long)]
    admin_listen: Option<String>,
}

/// `gateway`'s flags, laid over the config at start and on every reload.
fn gateway_overrides(args: &GatewayArgs) -> Overrides {
    config_source::flags_overrides(
        args.listen,
        args.admin_listen.clone(),
        args.insecure_no_auth,
    )
}

/// `micromcp gateway`.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let overrides = gateway_overrides(&args);
    let mut raw = config_source::read_config(Some(&args.config))?;
    overrides(&mut raw);
    let token = std::env::var("MICROMCP_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    if let Some(token) = &token {
        token::warn_if_short(token.trim());
    }
    state_dir::refuse_untrusted_dirs(&raw)?;
    let written = crate::start::written_services(&raw);
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
    serving::warn_if_insecure(&config);
    // A taken port stops the start (after the config's own errors) before a
    // session key is written.
    crate::listeners::refuse_taken(&raw)?;
    let shutdown = CancellationToken::new();
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
    let outcome = serving::serve_http(gateway, Some(live), shutdown.clone(), None).await;
    shutdown.cancel();
    outcome
}
