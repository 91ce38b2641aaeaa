//! `micromcp-loadtest`: an MCP load generator for any Streamable HTTP
//! endpoint (ours or anyone's). Virtual clients each keep one keep-alive
//! connection and speak the 2026-07-28 era (stateless, `_meta` plus
//! `Mcp-Method`/`Mcp-Name` headers) or the 2025-11-25 era (initialize once
//! per client, then reuse the session). Workloads: one operation or a
//! weighted mix; closed loop (N clients) or open loop at a fixed rate. Every
//! request has a unique JSON-RPC id. Reports throughput, HDR latency
//! percentiles and errors by kind, as a table and optionally as JSON.
//! `--ceiling` first runs the same workload against a built-in trivial
//! responder to show the generator's own limit on this machine.

mod client;
mod driver;
mod operation;
mod report;
mod responder;

use std::time::Duration;

use clap::Parser;

use crate::client::Target;
use crate::driver::Plan;
use crate::operation::{Mix, Operation};
use crate::report::RunLabel;

/// Which protocol era the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Era {
    Modern,
    Legacy,
}

/// Command-line options.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "micromcp-loadtest",
    about = "MCP load generator (closed or open loop)"
)]
pub struct Options {
    /// MCP endpoint, e.g. http://127.0.0.1:8080/mcp (omit with --ceiling to
    /// measure only the generator's ceiling).
    #[arg(long, required_unless_present = "ceiling")]
    pub url: Option<String>,
    /// Bearer token.
    #[arg(long, env = "MICROMCP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Protocol era: `modern` (2026-07-28) or `legacy` (2025-11-25 sessions).
    #[arg(long, default_value = "modern")]
    pub era: Era,
    /// Operation: tools/call, tools/list or resources/read:URI.
    #[arg(long, default_value = "tools/call")]
    pub method: String,
    /// Tool for tools/call.
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// Tool arguments as JSON.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Weighted mix instead of --method, e.g.
    /// "8*tools/call:echo,1*tools/list,1*resources/read:file:///a".
    #[arg(long)]
    pub mix: Option<String>,
    /// Concurrent clients (closed loop) or most requests in flight (open loop).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Open loop: requests per second, scheduled regardless of answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Run time after warm-up, e.g. 10s or 500ms.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Stop after this many measured requests (still bounded by --duration).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Warm-up time excluded from the results.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// First run the same workload against a built-in trivial responder.
    #[arg(long)]
    pub ceiling: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit() && c != '.')
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

fn plan(options: &Options, url: &str) -> anyhow::Result<Plan> {
    let args: serde_json::Value = serde_json::from_str(&options.args)
        .map_err(|error| anyhow::anyhow!("--args is not JSON: {error}"))?;
    let mix = match &options.mix {
        Some(text) => Mix::parse(text, &options.tool, &args),
        None => Operation::parse(&options.method, &options.tool, &args).map(Mix::single),
    }
    .map_err(|error| anyhow::anyhow!(error))?;
    Ok(Plan {
        target: Target {
            url: url.to_owned(),
            token_opt: options.token.clone(),
            era: options.era,
        },
        mix,
        concurrency: options.concurrency,
        rate_opt: options.rate,
        warmup: options.warmup,
        duration: options.duration,
        requests_opt: options.requests,
    })
}

fn label(options: &Options, plan: &Plan) -> RunLabel {
    let operations: Vec<String> = plan.mix.operations().map(Operation::label).collect();
    RunLabel {
        url: plan.target.url.clone(),
        era: format!("{:?}", options.era).to_lowercase(),
        workload: options.mix.clone().unwrap_or_else(|| operations.join(", ")),
        operations,
        concurrency: options.concurrency,
        rate_opt: options.rate,
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ceiling_opt = if options.ceiling {
        let address = responder::start()?;
        let ceiling_plan = plan(&options, &format!("http://{address}/mcp"))?;
        let report = runtime.block_on(driver::run(ceiling_plan.clone()))?;
        println!(
            "generator ceiling (built-in responder):\n{}\n",
            report.table(&label(&options, &ceiling_plan))
        );
        Some(report)
    } else {
        None
    };
    let Some(url) = &options.url else {
        if let (Some(path), Some(ceiling)) = (&options.json, &ceiling_opt) {
            let ceiling_plan = plan(&options, "ceiling")?;
            let json =
                serde_json::json!({"ceiling": ceiling.json(&label(&options, &ceiling_plan))});
            std::fs::write(path, json.to_string())?;
        }
        return Ok(());
    };
    let target_plan = plan(&options, url)?;
    let report = runtime.block_on(driver::run(target_plan.clone()))?;
    let run_label = label(&options, &target_plan);
    println!("{}", report.table(&run_label));
    let mut json = report.json(&run_label);
    if let Some(ceiling) = &ceiling_opt {
        let share = report.throughput() / ceiling.throughput().max(1.0);
        println!(
            "target throughput is {:.0}% of the generator's ceiling{}",
            share * 100.0,
            if share > 0.8 {
                " — the generator may be the limit"
            } else {
                ""
            }
        );
        json["ceiling"] = ceiling.json(&label(&options, &plan(&options, "ceiling")?));
    }
    if let Some(path) = &options.json {
        std::fs::write(path, json.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("3h").is_err());
    }
}
