//! The virtual clients: each opens its own keep-alive connection, (in the
//! 2025-11-25 era) initializes a session, then sends requests one at a time
//! until the deadline or the request budget, recording latency and outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Options;
use crate::report::{Outcome, Report};

/// Which protocol era the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Era {
    Modern,
    Legacy,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Shared {
    options: Options,
    ids: AtomicU64,
    measured: AtomicU64,
    measure_from: Instant,
    deadline: Instant,
}

fn body(shared: &Shared, id: u64) -> Bytes {
    let options = &shared.options;
    let meta = if options.era == Era::Modern {
        r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#
    } else {
        ""
    };
    let params = if options.method == "tools/call" {
        format!(
            "{{\"name\":{},\"arguments\":{}{meta}}}",
            serde_json::Value::from(options.tool.as_str()),
            options.args
        )
    } else {
        format!("{{{}}}", meta.trim_start_matches(','))
    };
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{}\",\"params\":{params}}}",
        options.method
    ))
}

fn request(
    shared: &Shared,
    session_opt: Option<&str>,
    body: Bytes,
) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    let options = &shared.options;
    let mut builder = hyper::Request::post(&options.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(token) = &options.token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match (options.era, session_opt) {
        (Era::Modern, _) => {
            builder = builder
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", &options.method);
            if options.method == "tools/call" {
                builder = builder.header("mcp-name", &options.tool);
            }
        }
        (Era::Legacy, Some(session)) => {
            builder = builder
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        (Era::Legacy, None) => {}
    }
    Ok(builder.body(Full::new(body))?)
}

async fn initialize(shared: &Shared, client: &HttpClient) -> anyhow::Result<String> {
    let body = Bytes::from_static(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"micromcp-loadtest","version":"0.1.0"}}}"#);
    let response = client
        .request(request(shared, None, body)?)
        .await
        .context("initialize")?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .context("initialize returned no Mcp-Session-Id")?;
    let _ = response.into_body().collect().await;
    let notification =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let response = client
        .request(request(shared, Some(&session), notification)?)
        .await?;
    let _ = response.into_body().collect().await;
    Ok(session)
}

fn classify(status: u16, body: &[u8]) -> Outcome {
    if status != 200 {
        return Outcome::HttpStatus(status);
    }
    // Find the JSON-RPC response in a JSON or SSE body.
    let text = String::from_utf8_lossy(body);
    let message = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: ").or(Some(line)))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|value| value.get("id").is_some());
    match message {
        Some(value) if value.get("error").is_some() => {
            Outcome::RpcError(value["error"]["code"].as_i64().unwrap_or(0))
        }
        Some(value) if value["result"]["isError"] == true => Outcome::ToolError,
        Some(_) => Outcome::Ok,
        None => Outcome::Malformed,
    }
}

async fn virtual_client(shared: Arc<Shared>) -> anyhow::Result<Report> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build(connector);
    let session_opt = match shared.options.era {
        Era::Legacy => Some(initialize(&shared, &client).await?),
        Era::Modern => None,
    };
    let mut report = Report::default();
    loop {
        let now = Instant::now();
        if now >= shared.deadline {
            break;
        }
        let measuring = now >= shared.measure_from;
        if measuring
            && let Some(limit) = shared.options.requests
            && shared.measured.fetch_add(1, Ordering::Relaxed) >= limit
        {
            break;
        }
        let id = shared.ids.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = match client
            .request(request(&shared, session_opt.as_deref(), body(&shared, id))?)
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.into_body().collect().await {
                    Ok(collected) => {
                        let bytes = collected.to_bytes();
                        if measuring {
                            report.bytes_received += bytes.len() as u64;
                        }
                        classify(status, &bytes)
                    }
                    Err(_) => Outcome::Transport,
                }
            }
            Err(_) => Outcome::Transport,
        };
        if measuring {
            report.record(started.elapsed(), outcome);
        }
    }
    Ok(report)
}

/// Runs the load and merges every client's report.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be at least 1");
    serde_json::from_str::<serde_json::Value>(&options.args).context("--args is not JSON")?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        options: options.clone(),
        ids: AtomicU64::new(1),
        measured: AtomicU64::new(0),
        measure_from: start + options.warmup,
        deadline: start + options.warmup + options.duration,
    });
    let clients: Vec<_> = (0..options.concurrency)
        .map(|_| tokio::spawn(virtual_client(shared.clone())))
        .collect();
    let mut merged = Report::default();
    for client in clients {
        merged.merge(client.await??);
    }
    merged.elapsed = Instant::now()
        .saturating_duration_since(shared.measure_from)
        .min(options.duration)
        .max(Duration::from_millis(1));
    Ok(merged)
}
