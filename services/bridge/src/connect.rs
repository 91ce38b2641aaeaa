//! Opening one connection to the upstream server, per kind of target: a
//! stdio child (minimal inherited environment, a session of its own, no
//! descriptor above 2, stderr through a pipe into the log, killed with the
//! bridge, optionally as another user) over [`StdioTransport`], a
//! Streamable HTTP session (rmcp's client transport) or a legacy HTTP+SSE
//! stream ([`LegacySseTransport`]). For a URL of unknown kind the
//! specification's backwards-compatibility order is followed — Streamable
//! HTTP first, then HTTP+SSE — and the kind that worked is remembered.
//! Streamable HTTP sessions share one pooled client ([`crate::http_pool`]).

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Mutex;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientCacheConfig, RoleClient};

use crate::handler::BridgeHandler;
use crate::late_probe::LateProbe;
use crate::legacy_sse::LegacySseTransport;
use crate::routing::RoutedTransport;
use crate::stdio_transport::StdioTransport;
use crate::{RunAs, UpstreamTarget, UrlTransport};

/// A served upstream connection.
pub type Running = RunningService<RoleClient, BridgeHandler>;

/// Environment variables a stdio child inherits from the bridge: the basics,
/// where the machine's CA certificates are (so TLS works where they are not
/// in the default place), and its proxies; the locale's standard `LC_*`
/// too ([`inherited_env`]).
/// Everything else comes from the entry's own `env`, so credentials stay
/// per server.
pub const INHERITED_ENV: [&str; 26] = [
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "TMPDIR",
    "USER",
    "TERM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "PIP_CERT",
    "UV_NATIVE_TLS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "XDG_CACHE_HOME",
    "UV_CACHE_DIR",
    "npm_config_cache",
    "LOGNAME",
];

/// The variables of this process's environment a child starts with:
/// [`INHERITED_ENV`] and the locale's [`LOCALE_ENV`].
pub fn inherited_env() -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    std::env::vars_os()
        .filter(|(key, _)| {
            key.to_str()
                .is_some_and(|key| INHERITED_ENV.contains(&key) || LOCALE_ENV.contains(&key))
        })
        .collect()
}

/// The locale's standard variables (POSIX and glibc's): only these, not
/// every `LC_*` (any name can start so and carry a secret).
pub const LOCALE_ENV: [&str; 13] = [
    "LC_ALL",
    "LC_CTYPE",
    "LC_COLLATE",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_ADDRESS",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_NAME",
    "LC_PAPER",
    "LC_TELEPHONE",
];

/// The HTTP transport found to work for an `Auto` URL, kept for reconnects.
#[derive(Default)]
pub struct UrlVerdict(Mutex<Option<UrlTransport>>);

impl UrlVerdict {
    fn get(&self) -> Option<UrlTransport> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, transport: UrlTransport) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(transport);
    }
}

/// Opens a connection to `target` and runs the MCP handshake on it, with
/// rmcp's response cache off: one session serves every client and
/// principal of the bridge (an upstream's `ttlMs` and `private` scope would
/// let one principal's answer serve another's request, or a list outlive
/// its change), and the gateway keeps the catalog itself.
pub async fn open(
    server: &str,
    target: &UpstreamTarget,
    handler: BridgeHandler,
    lifecycle: ClientLifecycleMode,
    verdict: &UrlVerdict,
) -> Result<Running, String> {
    let running = serve_target(server, target, handler, lifecycle, verdict).await?;
    running
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    Ok(running)
}

async fn serve_target(
    server: &str,
    target: &UpstreamTarget,
    handler: BridgeHandler,
    lifecycle: ClientLifecycleMode,
    verdict: &UrlVerdict,
) -> Result<Running, String> {
    match target {
        UpstreamTarget::Command {
            program,
            args,
            env,
            cwd_opt,
            run_as_opt,
        } => {
            // One stdio server per bridge: whatever is still below the
            // bridge is the previous server's tree (a forked grandchild in
            // a session of its own); it ends before the next one starts.
            let _ = tokio::task::spawn_blocking(crate::process_tree::end_descendants).await;
            let mut command =
                child_command(program, args, env, cwd_opt.as_deref(), run_as_opt.as_ref());
            command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command
                .spawn()
                .map_err(|error| format!("cannot start {program}: {error}"))?;
            crate::process_tree::started_server(child.id());
            if let Some(stderr) = child.stderr.take() {
                crate::child_stderr::forward(server.to_owned(), stderr);
            }
            let transport = StdioTransport::new(child)
                .map_err(|error| format!("cannot start {program}: {error}"))?;
            let transport =
                RoutedTransport::new(LateProbe::new(transport), handler.state.calls.clone());
            handler
                .serve_with_lifecycle(transport, lifecycle)
                .await
                .map_err(|error| error.to_string())
        }
        UpstreamTarget::Url {
            url,
            transport,
            headers,
            token_opt,
        } => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let headers = header_map(headers, token_opt.as_deref())?;
            match verdict.get().unwrap_or(*transport) {
                UrlTransport::StreamableHttp => {
                    open_streamable(url, headers, handler, lifecycle).await
                }
                UrlTransport::LegacySse => open_legacy_sse(url, headers, handler, lifecycle).await,
                UrlTransport::Auto => {
                    let streamable_error = match open_streamable(
                        url,
                        headers.clone(),
                        handler.clone(),
                        lifecycle.clone(),
                    )
                    .await
                    {
                        Ok(running) => {
                            verdict.set(UrlTransport::StreamableHttp);
                            return Ok(running);
                        }
                        Err(error) => error,
                    };
                    match open_legacy_sse(url, headers, handler, lifecycle).await {
                        Ok(running) => {
                            tracing::info!(%url, "upstream speaks the legacy HTTP+SSE transport");
                            verdict.set(UrlTransport::LegacySse);
                            Ok(running)
                        }
                        Err(sse_error) => Err(format!(
                            "Streamable HTTP: {streamable_error}; HTTP+SSE: {sse_error}"
                        )),
                    }
                }
            }
        }
    }
}

async fn open_streamable(
    url: &str,
    headers: HeaderMap,
    handler: BridgeHandler,
    lifecycle: ClientLifecycleMode,
) -> Result<Running, String> {
    let custom: HashMap<HeaderName, HeaderValue> = headers
        .iter()
        .filter(|(name, _)| *name != AUTHORIZATION)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    if let Some(token) = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        config = config.auth_header(token.to_owned());
    }
    // One pooled client for every session of this bridge (rmcp's default
    // client opens a connection per request).
    let client = crate::http_pool::shared_client().map_err(|error| error.to_string())?;
    let transport = LateProbe::new(StreamableHttpClientTransport::with_client(client, config));
    let transport = RoutedTransport::new(transport, handler.state.calls.clone());
    handler
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|error| error.to_string())
}

async fn open_legacy_sse(
    url: &str,
    headers: HeaderMap,
    handler: BridgeHandler,
    lifecycle: ClientLifecycleMode,
) -> Result<Running, String> {
    let client = reqwest::Client::builder()
        .build()
        .map_err(|error| format!("cannot build an HTTP client: {error}"))?;
    let transport = LegacySseTransport::connect(client, url, headers)
        .await
        .map(LateProbe::new)
        .map_err(|error| error.to_string())?;
    let transport = RoutedTransport::new(transport, handler.state.calls.clone());
    handler
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|error| error.to_string())
}

/// The entry's headers plus its bearer token, validated.
fn header_map(
    headers: &BTreeMap<String, String>,
    token_opt: Option<&str>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name: HeaderName = name
            .parse()
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value: HeaderValue = value
            .parse()
            .map_err(|_| format!("invalid value for header {name}"))?;
        map.insert(name, value);
    }
    if let Some(token) = token_opt {
        let mut value: HeaderValue = format!("Bearer {token}")
            .parse()
            .map_err(|_| "invalid bearer token".to_owned())?;
        value.set_sensitive(true);
        map.insert(AUTHORIZATION, value);
    }
    Ok(map)
}

fn child_command(
    program: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd_opt: Option<&std::path::Path>,
    run_as_opt: Option<&RunAs>,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(inherited_env())
        .kill_on_drop(true);
    if let Some(run_as) = run_as_opt {
        // Its own ids (std drops root's supplementary groups), name and
        // home (a private one when it has none); and not our working
        // directory: that home, else `/`.
        command
            .uid(run_as.uid)
            .gid(run_as.gid)
            .env("USER", &run_as.name)
            .env("LOGNAME", &run_as.name);
        match crate::private_home::home_of(run_as) {
            Ok(home) => {
                command.env("HOME", &home).current_dir(home);
            }
            Err(error) => {
                tracing::warn!(user = %run_as.name, %error, "cannot make a home for the server's user; it runs in /");
                command.env("HOME", &run_as.home).current_dir("/");
            }
        }
    }
    command.envs(env);
    if let Some(cwd) = cwd_opt {
        command.current_dir(cwd);
    }
    // The server: its own session, no descriptor above 2 of the bridge's,
    // killed by the kernel when the bridge dies (even by SIGKILL).
    micromcp_sdk::isolate_child(&mut command, libc::SIGKILL);
    command
}
