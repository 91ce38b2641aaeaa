//! Results: per-request latencies (kept exactly, sorted once for
//! percentiles), outcome counts by kind, bytes; printed as a table or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::Options;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    ToolError,
    RpcError(i64),
    HttpStatus(u16),
    Transport,
    Malformed,
}

impl Outcome {
    fn label(self) -> String {
        match self {
            Self::Ok => "ok".into(),
            Self::ToolError => "isError".into(),
            Self::RpcError(code) => format!("jsonrpc {code}"),
            Self::HttpStatus(status) => format!("http {status}"),
            Self::Transport => "transport".into(),
            Self::Malformed => "malformed".into(),
        }
    }
}

/// Merged results of a run.
#[derive(Debug, Default)]
pub struct Report {
    latencies_ns: Vec<u64>,
    outcomes: BTreeMap<Outcome, u64>,
    pub bytes_received: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        self.latencies_ns
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    pub fn merge(&mut self, other: Report) {
        self.latencies_ns.extend(other.latencies_ns);
        for (outcome, count) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += count;
        }
        self.bytes_received += other.bytes_received;
    }

    fn percentile_us(sorted: &[u64], quantile: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64 / 1000.0
    }

    fn summary(&self) -> (u64, f64, Vec<(&'static str, f64)>) {
        let mut sorted = self.latencies_ns.clone();
        sorted.sort_unstable();
        let total = sorted.len() as u64;
        let throughput = total as f64 / self.elapsed.as_secs_f64();
        let percentiles = [
            ("p50", 0.50),
            ("p90", 0.90),
            ("p99", 0.99),
            ("p99.9", 0.999),
            ("max", 1.0),
        ]
        .into_iter()
        .map(|(name, quantile)| (name, Self::percentile_us(&sorted, quantile)))
        .collect();
        (total, throughput, percentiles)
    }

    pub fn table(&self, options: &Options) -> String {
        let (total, throughput, percentiles) = self.summary();
        let mut out = format!(
            "{} {} x{} ({:?} era) for {:.1}s\nrequests {total}  throughput {throughput:.0} req/s  received {} bytes\nlatency µs:",
            options.method,
            options.tool,
            options.concurrency,
            options.era,
            self.elapsed.as_secs_f64(),
            self.bytes_received
        );
        for (name, value) in &percentiles {
            out.push_str(&format!("  {name} {value:.0}"));
        }
        out.push_str("\noutcomes:");
        for (outcome, count) in &self.outcomes {
            out.push_str(&format!("  {} {count}", outcome.label()));
        }
        out
    }

    pub fn json(&self, options: &Options) -> serde_json::Value {
        let (total, throughput, percentiles) = self.summary();
        let latency: serde_json::Map<String, serde_json::Value> = percentiles
            .into_iter()
            .map(|(name, value)| (format!("{name}_us"), json!(value)))
            .collect();
        let outcomes: serde_json::Map<String, serde_json::Value> = self
            .outcomes
            .iter()
            .map(|(outcome, count)| (outcome.label(), json!(count)))
            .collect();
        json!({
            "url": options.url, "era": format!("{:?}", options.era).to_lowercase(), "method": options.method,
            "tool": options.tool, "concurrency": options.concurrency, "seconds": self.elapsed.as_secs_f64(),
            "requests": total, "throughput_rps": throughput, "latency": latency, "outcomes": outcomes,
            "bytes_received": self.bytes_received,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|value| value * 1000).collect();
        assert_eq!(Report::percentile_us(&sorted, 0.5), 50.0);
        assert_eq!(Report::percentile_us(&sorted, 0.99), 99.0);
        assert_eq!(Report::percentile_us(&sorted, 1.0), 100.0);
    }
}
