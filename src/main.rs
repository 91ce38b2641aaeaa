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
mod bridge_cmd;
mod bridges;
mod check;
mod child_env;
mod children;
mod config_source;
mod fd_limit;
mod grpc_children;
mod grpc_cmd;
mod listeners;
mod no_dump;
mod refusals;
mod registry_cmd;
mod reload;
mod roots;
mod run_as;
mod service_cmd;
mod shutdown;
mod start;
mod state_dir;
mod supervise;
mod tls_cert;
mod token;
mod tools_cmd;
mod up;

use std::net::SocketAddr;
use std::path::PathBuf;

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
    Up(up::UpArgs),
    /// The gateway alone, with services from a config file.
    #[command(after_help = ENVIRONMENT_HELP)]
    Gateway(up::GatewayArgs),
    /// Validates a gateway config and prints what it resolves to and the services' catalogs.
    #[command(after_help = ENVIRONMENT_HELP)]
    Check(check::CheckArgs),
    /// The gateway over stdio (for desktop clients), with fs and fetch as
    /// children (search where `[search] index_dir` is set, and the bridges).
    #[command(after_help = ENVIRONMENT_HELP)]
    Stdio(up::StdioArgs),
    /// The fs service: read-only access to roots.
    Fs {
        /// Directory to serve (repeatable); the first is where relative paths resolve.
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// Directory or file inside a root that is never served (repeatable).
        #[arg(long = "exclude")]
        excluded: Vec<PathBuf>,
        /// Also serve files named as credentials by convention (`.env`,
        /// `.env.*`, `.git`, `.ssh`, `id_rsa`, `*.pem`, `*.key`, `.npmrc`, …),
        /// which are hidden by default.
        #[arg(long)]
        serve_secret_files: bool,
        #[command(flatten)]
        listen: service_cmd::ServiceListen,
    },
    /// The fetch service: HTTP(S) GET behind a domain allowlist.
    Fetch {
        /// Allowed host (`example.com`) or pattern (`*.example.com`); repeatable. None: nothing is allowed.
        #[arg(long = "allow-domain")]
        allow_domains: Vec<String>,
        /// Allow private, loopback and link-local targets.
        #[arg(long)]
        allow_private_addresses: bool,
        /// Largest response body, in bytes.
        #[arg(long, default_value_t = 5 * 1024 * 1024)]
        max_bytes: u64,
        /// Time limit per fetch, in seconds.
        #[arg(long, default_value_t = 20)]
        timeout_secs: u64,
        #[command(flatten)]
        listen: service_cmd::ServiceListen,
    },
    /// The search service: tantivy BM25, vectors, hybrid ranking.
    Search {
        /// Index directory (created if missing).
        #[arg(long)]
        index_dir: PathBuf,
        /// Index the text files under this directory at start (repeatable).
        #[arg(long = "crawl-root")]
        crawl_roots: Vec<PathBuf>,
        /// Directory under a crawl root that is never indexed (repeatable).
        #[arg(long = "crawl-exclude")]
        crawl_excluded: Vec<PathBuf>,
        /// The service whose files the crawl mirrors (e.g. fs): crawled
        /// documents are shown only to callers the gateway says may read it.
        #[arg(long)]
        crawl_source: Option<String>,
        /// OpenAI-compatible embeddings endpoint (key from MICROMCP_EMBEDDINGS_KEY).
        #[arg(long)]
        embeddings_url: Option<String>,
        /// Model name for the embeddings endpoint.
        #[arg(long, default_value = "text-embedding-3-small")]
        embeddings_model: String,
        #[command(flatten)]
        listen: service_cmd::ServiceListen,
    },
    /// Finds MCP servers in a registry and adds them to a running gateway.
    #[command(after_help = ENVIRONMENT_HELP)]
    Registry(registry_cmd::RegistryArgs),
    /// The tools a running gateway serves (`tools list`), those held because their definition changed, and approving them.
    #[command(after_help = ENVIRONMENT_HELP)]
    Tools(tools_cmd::ToolsArgs),
    /// A bridge: runs one existing MCP server and serves it as a micro-service.
    Bridge(bridge_cmd::BridgeArgs),
    /// An existing gRPC service's methods as tools (server reflection or a descriptor set).
    GrpcService(grpc_cmd::GrpcArgs),
    /// A private CA and certificates for the TLS and QUIC wires (service and mTLS identities).
    TlsCert(tls_cert::TlsCertArgs),
    /// The conformance fixture service (for tests).
    #[command(hide = true)]
    Testkit {
        #[command(flatten)]
        listen: service_cmd::ServiceListen,
        /// Offer only this many generated tools (for large-catalog benches).
        #[arg(long)]
        generated_tools: Option<usize>,
        /// Append this to every tool's description (a changed definition, for tests).
        #[arg(long, conflicts_with = "generated_tools")]
        description_suffix: Option<String>,
    },
}

/// Logging to stderr at `MICROMCP_LOG`, else `default_filter`; and, when
/// the OpenTelemetry environment asks for them, traces of this process as
/// `role` (their own filter: the log level never hides them).
fn init_logging(default_filter: &str, role: &str) -> anyhow::Result<()> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MICROMCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colour only on a terminal, and never with NO_COLOR set (any value).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    // MICROMCP_LOG_FORMAT=json: one JSON object per line, with the fields of
    // the spans a line is in (a request's trace_id when traces are on).
    let json = match std::env::var("MICROMCP_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("" | "human") | Err(_) => false,
        Ok(other) => anyhow::bail!("MICROMCP_LOG_FORMAT: {other:?} is not \"json\" or \"human\""),
    };
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false)
            .with_filter(filter)
            .boxed()
    };
    let traces = micromcp_telemetry::traces::layer(role).map_err(anyhow::Error::msg)?;
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    Ok(())
}

/// The name a process's traces carry.
fn role(command: &Command) -> &'static str {
    match command {
        Command::Up(_) | Command::Gateway(_) | Command::Stdio(_) | Command::Check(_) => {
            "micromcp-gateway"
        }
        Command::Fs { .. } => "micromcp-fs",
        Command::Fetch { .. } => "micromcp-fetch",
        Command::Search { .. } => "micromcp-search",
        Command::Bridge(_) => "micromcp-bridge",
        Command::GrpcService(_) => "micromcp-grpc",
        Command::TlsCert(_) => "micromcp-tls-cert",
        Command::Registry(_) => "micromcp-registry",
        Command::Tools(_) => "micromcp-tools",
        Command::Testkit { .. } => "micromcp-testkit",
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
    init_logging(
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
            Command::Up(args) => up::run_up(args).await,
            Command::Gateway(args) => up::run_gateway(args).await,
            Command::Check(args) => {
                let code = check::run(args).await?;
                if code != 0 {
                    std::process::exit(code);
                }
                Ok(())
            }
            Command::Stdio(args) => up::run_stdio(args).await,
            Command::Registry(args) => registry_cmd::run(args).await,
            Command::Tools(args) => tools_cmd::run(args).await,
            Command::Fs {
                roots,
                excluded,
                serve_secret_files,
                listen,
            } => {
                let mut config = micromcp_fs::FsConfig::with_roots(roots);
                config.excluded = excluded;
                config.serve_secret_files = serve_secret_files;
                let service = micromcp_fs::FsService::new(config).map_err(anyhow::Error::msg)?;
                service_cmd::serve(service, listen, "fs").await
            }
            Command::Fetch {
                allow_domains,
                allow_private_addresses,
                max_bytes,
                timeout_secs,
                listen,
            } => {
                for pattern in &allow_domains {
                    micromcp_fetch::check_domain_pattern(pattern)
                        .map_err(|error| anyhow::anyhow!("--allow-domain {pattern:?}: {error}"))?;
                }
                let mut config = micromcp_fetch::FetchConfig::with_domains(allow_domains);
                config.allow_private_addresses = allow_private_addresses;
                config.max_bytes = max_bytes;
                config.timeout = std::time::Duration::from_secs(timeout_secs);
                let service = micromcp_fetch::FetchService::new(&config)
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
                service_cmd::serve(service, listen, "fetch").await
            }
            Command::Search {
                index_dir,
                crawl_roots,
                crawl_excluded,
                crawl_source,
                embeddings_url,
                embeddings_model,
                listen,
            } => {
                let mut config = micromcp_search::SearchConfig::new(index_dir);
                config.crawl_roots = crawl_roots;
                config.crawl_excluded = crawl_excluded;
                config.crawl_source = crawl_source;
                config.embeddings_url = embeddings_url;
                config.embeddings_model = embeddings_model;
                config.embeddings_key_opt = child_env::var(micromcp_search::EMBEDDINGS_KEY_ENV);
                let service = tokio::task::spawn_blocking(move || {
                    micromcp_search::SearchService::open(config)
                })
                .await?
                .map_err(|error| anyhow::anyhow!("{error}"))?;
                service.start_crawl();
                service_cmd::serve(service, listen, "search").await
            }
            Command::Bridge(args) => bridge_cmd::run(args).await,
            Command::GrpcService(args) => grpc_cmd::run(args).await,
            Command::TlsCert(args) => tls_cert::run(&args),
            Command::Testkit {
                listen,
                generated_tools,
                description_suffix,
            } => {
                let service = match (generated_tools, description_suffix) {
                    (Some(count), _) => micromcp_testkit::TestkitService::generated_tools(count),
                    (None, Some(suffix)) => {
                        micromcp_testkit::TestkitService::with_description_suffix(&suffix)
                    }
                    (None, None) => micromcp_testkit::TestkitService::default(),
                };
                service_cmd::serve(service, listen, "testkit").await
            }
        }
    });
    micromcp_telemetry::traces::flush();
    outcome
}

/// Parses a listen address for clap.
pub(crate) fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|error| format!("{text:?}: {error}"))
}
