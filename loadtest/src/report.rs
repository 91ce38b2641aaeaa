//! Results: latency in HDR histograms (overall and per operation; 3
//! significant digits from 1 µs to 60 s), outcome counts by kind, bytes;
//! printed as a table or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

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

/// Largest latency recorded exactly; longer ones are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .expect("1 µs..60 s at 3 digits is a valid histogram")
}

/// Merged results of a run.
#[derive(Debug)]
pub struct Report {
    overall: Histogram<u64>,
    per_operation: Vec<Histogram<u64>>,
    outcomes: BTreeMap<Outcome, u64>,
    pub bytes_received: u64,
    /// Open loop: requests sent more than 1 ms after their scheduled time.
    pub late_starts: u64,
    /// Requests sent in all, warm-up included (for CPU-per-call figures).
    pub sent: u64,
    pub elapsed: Duration,
}

/// Describes the run for the report's header.
pub struct RunLabel {
    pub url: String,
    pub era: String,
    pub workload: String,
    pub operations: Vec<String>,
    pub concurrency: usize,
    pub rate_opt: Option<f64>,
}

impl Report {
    pub fn new(operations: usize) -> Self {
        Self {
            overall: histogram(),
            per_operation: (0..operations).map(|_| histogram()).collect(),
            outcomes: BTreeMap::new(),
            bytes_received: 0,
            late_starts: 0,
            sent: 0,
            elapsed: Duration::ZERO,
        }
    }

    pub fn record(&mut self, operation: usize, latency: Duration, outcome: Outcome) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LATENCY_US);
        self.overall.saturating_record(micros);
        if let Some(histogram) = self.per_operation.get_mut(operation) {
            histogram.saturating_record(micros);
        }
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Report) {
        let _ = self.overall.add(&other.overall);
        for (mine, theirs) in self.per_operation.iter_mut().zip(&other.per_operation) {
            let _ = mine.add(theirs);
        }
        for (outcome, count) in &other.outcomes {
            *self.outcomes.entry(*outcome).or_default() += count;
        }
        self.bytes_received += other.bytes_received;
        self.late_starts += other.late_starts;
    }

    /// Requests measured.
    pub fn requests(&self) -> u64 {
        self.overall.len()
    }

    /// Measured requests per second.
    pub fn throughput(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }

    /// Requests that did not end `ok`.
    pub fn failures(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(outcome, _)| **outcome != Outcome::Ok)
            .map(|(_, count)| count)
            .sum()
    }

    fn percentiles(histogram: &Histogram<u64>) -> Vec<(&'static str, u64)> {
        [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)]
            .into_iter()
            .map(|(name, quantile)| (name, histogram.value_at_percentile(quantile)))
            .chain([("max", histogram.max())])
            .collect()
    }

    pub fn table(&self, label: &RunLabel) -> String {
        let mode = match label.rate_opt {
            Some(rate) => format!("open loop at {rate:.0}/s, ≤{} in flight", label.concurrency),
            None => format!("closed loop, {} clients", label.concurrency),
        };
        let mut out = format!(
            "{} — {} ({} era), {mode}, {:.1}s\nrequests {}  throughput {:.0} req/s  received {} bytes",
            label.url,
            label.workload,
            label.era,
            self.elapsed.as_secs_f64(),
            self.requests(),
            self.throughput(),
            self.bytes_received
        );
        if label.rate_opt.is_some() {
            out.push_str(&format!("  late starts {}", self.late_starts));
        }
        out.push_str("\nlatency µs:");
        for (name, value) in Self::percentiles(&self.overall) {
            out.push_str(&format!("  {name} {value}"));
        }
        if self.per_operation.len() > 1 {
            for (name, histogram) in label.operations.iter().zip(&self.per_operation) {
                out.push_str(&format!(
                    "\n  {name}: {} requests, p50 {} µs, p99 {} µs",
                    histogram.len(),
                    histogram.value_at_percentile(50.0),
                    histogram.value_at_percentile(99.0)
                ));
            }
        }
        out.push_str(&format!("\noutcomes ({} not ok):", self.failures()));
        for (outcome, count) in &self.outcomes {
            out.push_str(&format!("  {} {count}", outcome.label()));
        }
        out
    }

    pub fn json(&self, label: &RunLabel) -> Value {
        let latency = |histogram: &Histogram<u64>| -> Value {
            Self::percentiles(histogram)
                .into_iter()
                .map(|(name, value)| (format!("{name}_us"), json!(value)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let outcomes: serde_json::Map<String, Value> = self
            .outcomes
            .iter()
            .map(|(outcome, count)| (outcome.label(), json!(count)))
            .collect();
        let operations: Vec<Value> = label
            .operations
            .iter()
            .zip(&self.per_operation)
            .map(|(name, histogram)| {
                json!({"operation": name, "requests": histogram.len(), "latency": latency(histogram)})
            })
            .collect();
        json!({
            "url": label.url, "era": label.era, "workload": label.workload,
            "concurrency": label.concurrency, "rate_per_s": label.rate_opt,
            "seconds": self.elapsed.as_secs_f64(), "requests": self.requests(),
            "throughput_rps": self.throughput(), "latency": latency(&self.overall),
            "operations": operations, "outcomes": outcomes, "failures": self.failures(),
            "bytes_received": self.bytes_received, "late_starts": self.late_starts, "sent": self.sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram_within_its_precision() {
        let mut report = Report::new(2);
        for value in 1..=1000u64 {
            report.record(
                (value % 2) as usize,
                Duration::from_micros(value),
                Outcome::Ok,
            );
        }
        report.record(0, Duration::from_secs(120), Outcome::Transport);
        let p50 = report.overall.value_at_percentile(50.0);
        assert!((499..=502).contains(&p50), "p50 {p50}");
        assert_eq!(report.requests(), 1001);
        assert_eq!(report.failures(), 1);
        assert!(
            report.overall.max() >= MAX_LATENCY_US - MAX_LATENCY_US / 1000,
            "clamped to the bound"
        );
        let mut merged = Report::new(2);
        merged.merge(&report);
        assert_eq!(merged.per_operation[1].len(), 500);
    }
}
