//! Drives the load. Closed loop: N clients, each sends its next request when
//! the previous answer arrives. Open loop (`--rate`): request k is due at
//! `start + k / rate`; N clients (the most requests in flight) take due
//! requests in order, and latency counts from the due time, not the send
//! time, so a stalled server cannot hide its stall by slowing the generator
//! (no coordinated omission). Latency ends at the answer's last byte (as
//! wrk and oha measure); checking the answer is the generator's own work
//! and is not counted. Warm-up requests are sent but not recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::{Connection, Target};
use crate::operation::{BodyTemplate, Mix};
use crate::report::Report;

/// A late start: sent more than this after its due time.
const LATE: Duration = Duration::from_millis(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub mix: Mix,
    pub concurrency: usize,
    pub rate_opt: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
    pub requests_opt: Option<u64>,
}

struct Shared {
    plan: Plan,
    templates: Vec<BodyTemplate>,
    ids: AtomicU64,
    slots: AtomicU64,
    measured: AtomicU64,
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
}

impl Shared {
    /// Reserves one measured request against `--requests`; false when spent.
    fn reserve(&self) -> bool {
        match self.plan.requests_opt {
            Some(limit) => self.measured.fetch_add(1, Ordering::Relaxed) < limit,
            None => true,
        }
    }

    /// Open loop: the next due time, or `None` past the deadline.
    fn next_due(&self, rate: f64) -> Option<Instant> {
        let slot = self.slots.fetch_add(1, Ordering::Relaxed);
        let due = self.start + Duration::from_secs_f64(slot as f64 / rate);
        (due < self.deadline).then_some(due)
    }
}

async fn virtual_client(shared: Arc<Shared>, seed: u64) -> anyhow::Result<Report> {
    let connection = Connection::open(shared.plan.target.clone()).await?;
    let mix = &shared.plan.mix;
    let mut report = Report::new(mix.len());
    let mut rng = seed | 1;
    loop {
        let due = match shared.plan.rate_opt {
            Some(rate) => match shared.next_due(rate) {
                Some(due) => {
                    tokio::time::sleep_until(due.into()).await;
                    due
                }
                None => break,
            },
            None => Instant::now(),
        };
        if Instant::now() >= shared.deadline {
            break;
        }
        let measuring = due >= shared.measure_from;
        if measuring && !shared.reserve() {
            break;
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let index = mix.pick(rng);
        let id = shared.ids.fetch_add(1, Ordering::Relaxed);
        let body = shared.templates[index].body(id);
        let sent = Instant::now();
        let answer = connection.send(mix.get(index), body).await?;
        if measuring {
            if sent.duration_since(due) > LATE {
                report.late_starts += 1;
            }
            report.bytes_received += answer.bytes;
            report.record(index, answer.finished.duration_since(due), answer.outcome);
        }
    }
    Ok(report)
}

/// Runs the plan and merges every client's report.
pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    anyhow::ensure!(plan.concurrency > 0, "--concurrency must be at least 1");
    if let Some(rate) = plan.rate_opt {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate must be a positive number of requests per second"
        );
    }
    let templates = plan
        .mix
        .operations()
        .map(|operation| operation.template(plan.target.era))
        .collect();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        templates,
        ids: AtomicU64::new(1),
        slots: AtomicU64::new(0),
        measured: AtomicU64::new(0),
        start,
        measure_from: start + plan.warmup,
        deadline: start + plan.warmup + plan.duration,
        plan,
    });
    let clients: Vec<_> = (0..shared.plan.concurrency)
        .map(|index| {
            tokio::spawn(virtual_client(
                shared.clone(),
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1),
            ))
        })
        .collect();
    let mut merged = Report::new(shared.plan.mix.len());
    for client in clients {
        merged.merge(&client.await??);
    }
    merged.sent = shared.ids.load(Ordering::Relaxed) - 1;
    merged.elapsed = Instant::now()
        .saturating_duration_since(shared.measure_from)
        .min(shared.plan.duration)
        .max(Duration::from_millis(1));
    Ok(merged)
}
