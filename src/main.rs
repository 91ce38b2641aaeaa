//! `micromcp`: one binary whose subcommands run the gateway (`gateway`,
//! `stdio`), each micro-service (`fs`, `fetch`, `search`, `bridge`,
//! `testkit`), `up` (the embedded default that runs the gateway with
//! supervised service children) and `tls-cert` (certificates for the TLS and QUIC wires).

/// mimalloc: the gateway's per-call work is mostly small short-lived
/// allocations across threads, where glibc malloc cost ~8% of CPU under load
/// (see bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod admin_api;
mod bridge_spec;
mod bridges;
mod child_env;
mod children;
mod commands;
mod config_source;
mod fd_limit;
mod grpc_children;
mod listeners;
mod logging;
mod no_dump;
mod refusals;
mod reload;
mod roots;
mod run_as;
mod serve;
mod serving;
mod shutdown;
mod start;
mod state_dir;
mod supervise;
mod token;

use clap::{Parser, Subcommand};

/// The environment the commands read, shown under `--help`.
const ENVIRONMENT_HELP: &str = "Environment:
  MICROMCP_TOKEN        the clients' bearer token (`up` otherwise makes one in .micromcp/token)
  MICROMCP_ADMIN_TOKEN  the admin listener's token (`up` otherwise makes one in .micromcp/admin-token;
                        `tools` and `registry add` otherwise read that file)
  MICROMCP_LOG          log level or tracing filter (e.g. debug, or info,micromcp_gateway=debug)
  MICROMCP_LOG_FORMAT   json for one JSON object per log line
  NO_COLOR              no colour in logs, even on a terminal";

/// Micro-MCP: one MCP endpoint composed from many small gRPC micro-services.
#[derive(Parser)]
#[command(name = "micromcp", version, about, after_help = ENVIRONMENT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The gateway on loopback with the services it runs as supervised children
    /// over Unix sockets: fs (read-only files), fetch (HTTP GET behind an
    /// allowlist), search (an index of the files) and a bridge per
    /// `[mcp_servers]` entry or `--mcp-servers` server, beside the config's own
    /// `[[services]]` (./micromcp.toml by default).
    #[command(after_help = ENVIRONMENT_HELP)]
    Up(commands::up::UpArgs),
    /// The gateway alone, with services from a config file.
    #[command(after_help = ENVIRONMENT_HELP)]
    Gateway(commands::gateway::GatewayArgs),
    /// Validates a gateway config and prints what it resolves to, the services' catalogs and the
    /// tools each gRPC target would offer.
    #[command(after_help = ENVIRONMENT_HELP)]
    Check(commands::check::CheckArgs),
    /// The gateway over stdio (for desktop clients), with fs and fetch as
    /// children (search where `[search] index_dir` is set, and the bridges).
    #[command(after_help = ENVIRONMENT_HELP)]
    Stdio(commands::stdio::StdioArgs),
    /// The fs service: read-only access to roots.
    Fs(commands::services::FsArgs),
    /// The fetch service: HTTP(S) GET behind a domain allowlist.
    Fetch(commands::services::FetchArgs),
    /// The search service: tantivy BM25, vectors, hybrid ranking.
    Search(commands::services::SearchArgs),
    /// Finds MCP servers in a registry and adds them to a running gateway.
    #[command(after_help = ENVIRONMENT_HELP)]
    Registry(commands::registry::RegistryArgs),
    /// The tools a running gateway serves (`tools list`), those held because their definition changed, and approving them.
    #[command(after_help = ENVIRONMENT_HELP)]
    Tools(commands::tools::ToolsArgs),
    /// A bridge: runs one existing MCP server and serves it as a micro-service.
    Bridge(commands::bridge::BridgeArgs),
    /// An existing gRPC service's methods as tools (server reflection or a descriptor set).
    GrpcService(commands::grpc_service::GrpcArgs),
    /// A private CA and certificates for the TLS and QUIC wires (service and mTLS identities).
    TlsCert(commands::tls_cert::TlsCertArgs),
    /// The conformance fixture service (for tests).
    #[command(hide = true)]
    Testkit(commands::services::TestkitArgs),
}

/// The name a process's traces carry.
fn role(command: &Command) -> &'static str {
    match command {
        Command::Up(_) | Command::Gateway(_) | Command::Stdio(_) | Command::Check(_) => {
            "micromcp-gateway"
        }
        Command::Fs(_) => "micromcp-fs",
        Command::Fetch(_) => "micromcp-fetch",
        Command::Search(_) => "micromcp-search",
        Command::Bridge(_) => "micromcp-bridge",
        Command::GrpcService(_) => "micromcp-grpc",
        Command::TlsCert(_) => "micromcp-tls-cert",
        Command::Registry(_) => "micromcp-registry",
        Command::Tools(_) => "micromcp-tools",
        Command::Testkit(_) => "micromcp-testkit",
    }
}

/// Runs the command; an error is one message on stderr and exit status 1,
/// never a backtrace (whatever `RUST_BACKTRACE` says: user mistakes are
/// not crashes).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    // First: the environment holds tokens before anything else runs.
    let not_dumpable = no_dump::forbid();
    // A child of `up` reads its secrets from stdin, not its environment.
    child_env::load()?;
    let cli = Cli::parse();
    // One TLS provider for every client this process builds (the trace
    // exporter's is built first, below).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // `check` reports in its own output; the services' retries are noise there.
    logging::init_logging(
        match cli.command {
            Command::Check(_) | Command::Registry(_) | Command::Tools(_) => "error",
            _ => "info,rmcp=warn",
        },
        role(&cli.command),
    )?;
    if !not_dumpable {
        tracing::warn!(
            "cannot make this process non-dumpable: other processes of this user may read its environment"
        );
    }
    let open_files = fd_limit::raise_open_files_limit();
    tracing::debug!(?open_files, "open files limit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => commands::up::run(args).await,
            Command::Gateway(args) => commands::gateway::run(args).await,
            Command::Check(args) => {
                let code = commands::check::run(args).await?;
                if code != 0 {
                    std::process::exit(code);
                }
                Ok(())
            }
            Command::Stdio(args) => commands::stdio::run(args).await,
            Command::Registry(args) => commands::registry::run(args).await,
            Command::Tools(args) => commands::tools::run(args).await,
            Command::Fs(args) => commands::services::run_fs(args).await,
            Command::Fetch(args) => commands::services::run_fetch(args).await,
            Command::Search(args) => commands::services::run_search(args).await,
            Command::Bridge(args) => commands::bridge::run(args).await,
            Command::GrpcService(args) => commands::grpc_service::run(args).await,
            Command::TlsCert(args) => commands::tls_cert::run(&args),
            Command::Testkit(args) => commands::services::run_testkit(args).await,
        }
    });
    micromcp_telemetry::traces::flush();
    outcome
}
