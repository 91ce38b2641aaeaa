//! `micromcp stdio`: the gateway over stdin/stdout for desktop clients,
//! with the same services as `up` (fs, fetch, search where `[search]
//! index_dir` is set, every `[mcp_servers]` bridge) as children.

use std::path::PathBuf;

use micromcp_gateway::config::RawConfig;
use micromcp_gateway::load_or_create_key;
use tokio_util::sync::CancellationToken;

use crate::children::{
    ChildServices, add_bridge_children, add_fetch_child, add_fs_child, add_search_child, socket_dir,
};
use crate::config_source::{self};
use crate::state_dir;
use crate::supervise::{ChildSpec, supervise};

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
pub async fn run(args: StdioArgs) -> anyhow::Result<()> {
    let mut raw = config_source::read_config(args.config.as_deref())?;
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
    let written = crate::start::written_services(&raw);
    child_services.around(&mut raw.services);
    let config = config_source::validate(raw, None)?;
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
        let gateway = crate::start::start_gateway(config, &key, &written, &shutdown).await?;
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
