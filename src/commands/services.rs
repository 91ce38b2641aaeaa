//! The built-in services as processes: `micromcp fs`, `fetch`, `search`
//! and the hidden `testkit` (each one micro-service behind the listeners
//! its flags name, served until a shutdown signal).

use std::path::PathBuf;

use crate::serve::{ServiceListen, serve};

/// Flags of `micromcp fs`.
#[derive(clap::Args)]
pub struct FsArgs {
    /// Directory to serve (repeatable); the first is where relative paths resolve.
    #[arg(long = "root", required = true)]
    pub roots: Vec<PathBuf>,
    /// Directory or file inside a root that is never served (repeatable).
    #[arg(long = "exclude")]
    pub excluded: Vec<PathBuf>,
    /// Also serve files named as credentials by convention (`.env`,
    /// `.env.*`, `.git`, `.ssh`, `id_rsa`, `*.pem`, `*.key`, `.npmrc`, …),
    /// which are hidden by default.
    #[arg(long)]
    pub serve_secret_files: bool,
    #[command(flatten)]
    pub listen: ServiceListen,
}

/// Flags of `micromcp fetch`.
#[derive(clap::Args)]
pub struct FetchArgs {
    /// Allowed host (`example.com`) or pattern (`*.example.com`); repeatable. None: nothing is allowed.
    #[arg(long = "allow-domain")]
    pub allow_domains: Vec<String>,
    /// Allow private, loopback and link-local targets.
    #[arg(long)]
    pub allow_private_addresses: bool,
    /// Largest response body, in bytes.
    #[arg(long, default_value_t = 5 * 1024 * 1024)]
    pub max_bytes: u64,
    /// Time limit per fetch, in seconds.
    #[arg(long, default_value_t = 20)]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub listen: ServiceListen,
}

/// Flags of `micromcp search`.
#[derive(clap::Args)]
pub struct SearchArgs {
    /// Index directory (created if missing).
    #[arg(long)]
    pub index_dir: PathBuf,
    /// Index the text files under this directory at start (repeatable).
    #[arg(long = "crawl-root")]
    pub crawl_roots: Vec<PathBuf>,
    /// Directory under a crawl root that is never indexed (repeatable).
    #[arg(long = "crawl-exclude")]
    pub crawl_excluded: Vec<PathBuf>,
    /// The service whose files the crawl mirrors (e.g. fs): crawled
    /// documents are shown only to callers the gateway says may read it.
    #[arg(long)]
    pub crawl_source: Option<String>,
    /// OpenAI-compatible embeddings endpoint (key from MICROMCP_EMBEDDINGS_KEY).
    #[arg(long)]
    pub embeddings_url: Option<String>,
    /// Model name for the embeddings endpoint.
    #[arg(long, default_value = "text-embedding-3-small")]
    pub embeddings_model: String,
    #[command(flatten)]
    pub listen: ServiceListen,
}

/// Flags of `micromcp testkit`.
#[derive(clap::Args)]
pub struct TestkitArgs {
    #[command(flatten)]
    pub listen: ServiceListen,
    /// Offer only this many generated tools (for large-catalog benches).
    #[arg(long)]
    pub generated_tools: Option<usize>,
    /// Append this to every tool's description (a changed definition, for tests).
    #[arg(long, conflicts_with = "generated_tools")]
    pub description_suffix: Option<String>,
}

/// `micromcp fs`.
pub async fn run_fs(args: FsArgs) -> anyhow::Result<()> {
    let FsArgs {
        roots,
        excluded,
        serve_secret_files,
        listen,
    } = args;
    let mut config = micromcp_fs::FsConfig::with_roots(roots);
    config.excluded = excluded;
    config.serve_secret_files = serve_secret_files;
    let service = micromcp_fs::FsService::new(config).map_err(anyhow::Error::msg)?;
    serve(service, listen, "fs").await
}

/// `micromcp fetch`.
pub async fn run_fetch(args: FetchArgs) -> anyhow::Result<()> {
    let FetchArgs {
        allow_domains,
        allow_private_addresses,
        max_bytes,
        timeout_secs,
        listen,
    } = args;
    for pattern in &allow_domains {
        micromcp_fetch::check_domain_pattern(pattern)
            .map_err(|error| anyhow::anyhow!("--allow-domain {pattern:?}: {error}"))?;
    }
    let mut config = micromcp_fetch::FetchConfig::with_domains(allow_domains);
    config.allow_private_addresses = allow_private_addresses;
    config.max_bytes = max_bytes;
    config.timeout = std::time::Duration::from_secs(timeout_secs);
    let service =
        micromcp_fetch::FetchService::new(&config).map_err(|error| anyhow::anyhow!("{error}"))?;
    serve(service, listen, "fetch").await
}

/// `micromcp search`.
pub async fn run_search(args: SearchArgs) -> anyhow::Result<()> {
    let SearchArgs {
        index_dir,
        crawl_roots,
        crawl_excluded,
        crawl_source,
        embeddings_url,
        embeddings_model,
        listen,
    } = args;
    let mut config = micromcp_search::SearchConfig::new(index_dir);
    config.crawl_roots = crawl_roots;
    config.crawl_excluded = crawl_excluded;
    config.crawl_source = crawl_source;
    config.embeddings_url = embeddings_url;
    config.embeddings_model = embeddings_model;
    config.embeddings_key_opt = crate::child_env::var(micromcp_search::EMBEDDINGS_KEY_ENV);
    let service = tokio::task::spawn_blocking(move || micromcp_search::SearchService::open(config))
        .await?
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    service.start_crawl();
    serve(service, listen, "search").await
}

/// `micromcp testkit`.
pub async fn run_testkit(args: TestkitArgs) -> anyhow::Result<()> {
    let TestkitArgs {
        listen,
        generated_tools,
        description_suffix,
    } = args;
    let service = match (generated_tools, description_suffix) {
        (Some(count), _) => micromcp_testkit::TestkitService::generated_tools(count),
        (None, Some(suffix)) => micromcp_testkit::TestkitService::with_description_suffix(&suffix),
        (None, None) => micromcp_testkit::TestkitService::default(),
    };
    serve(service, listen, "testkit").await
}
