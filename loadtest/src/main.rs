//! `micromcp-loadtest`: a closed-loop MCP load generator for any Streamable
//! HTTP endpoint (ours or anyone's). N virtual clients each send one request
//! at a time over a keep-alive connection, in the 2026-07-28 era (stateless,
//! `_meta` plus `Mcp-Method`/`Mcp-Name` headers) or the 2025-11-25 era
//! (initialize once per client, then reuse the session). Every request has a
//! unique JSON-RPC id. Reports throughput, latency percentiles and errors by
//! kind, as a table and optionally as JSON. Bounded by duration or count.

mod report;
mod workload;

use std::time::Duration;

use clap::Parser;

/// Command-line options.
#[derive(Parser, Debug, Clone)]
#[command(name = "micromcp-loadtest", about = "Closed-loop MCP load generator")]
pub struct Options {
    /// MCP endpoint, e.g. http://127.0.0.1:8080/mcp
    #[arg(long)]
    pub url: String,
    /// Bearer token.
    #[arg(long, env = "MICROMCP_TOKEN")]
    pub token: Option<String>,
    /// Protocol era: `modern` (2026-07-28) or `legacy` (2025-11-25 sessions).
    #[arg(long, default_value = "modern")]
    pub era: workload::Era,
    /// Tool to call (omit with --method tools/list).
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// Tool arguments as JSON.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Method: tools/call or tools/list.
    #[arg(long, default_value = "tools/call")]
    pub method: String,
    /// Concurrent virtual clients.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Run time after warm-up, e.g. 10s or 500ms.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Stop after this many measured requests instead (still bounded by --duration).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Warm-up time excluded from the results.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len()),
    );
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        _ => return Err(format!("bad duration unit in {text:?} (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(workload::run(&options))?;
    println!("{}", report.table(&options));
    if let Some(path) = &options.json {
        std::fs::write(path, report.json(&options).to_string())?;
    }
    Ok(())
}
