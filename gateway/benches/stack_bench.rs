//! Micro-benchmarks of what every backend call now crosses besides the
//! call itself: the service stack's admission (breaker check, a place in
//! the concurrency limit) and the outcome reported back, uncontended and
//! with every place but one taken; and a quota place (streamed reads,
//! connections per source).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use micromcp_gateway::backends::ServiceStack;
use micromcp_gateway::config::BackendsConfig;
use micromcp_gateway::error::GatewayError;
use micromcp_gateway::quota::Quota;

fn stack(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("stack");
    let service = ServiceStack::new("bench", &BackendsConfig::default());
    let wait = Duration::from_secs(1);
    // What `block_on` itself costs, to subtract from the two below.
    group.bench_function("block_on_baseline", |b| {
        b.iter(|| runtime.block_on(async { black_box(1) }))
    });
    group.bench_function("admit_and_record_success", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut permit = service.admit("reader", wait).await.expect("admitted");
                permit.record(&Ok::<(), GatewayError>(()));
                black_box(permit);
            })
        })
    });
    let busy = ServiceStack::new(
        "busy",
        &BackendsConfig {
            max_concurrent_calls: 64,
            ..BackendsConfig::default()
        },
    );
    let held: Vec<_> = (0..63)
        .map(|_| runtime.block_on(busy.admit("reader", wait)).expect("held"))
        .collect();
    group.bench_function("admit_last_place", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let permit = busy.admit("reader", wait).await.expect("admitted");
                black_box(permit);
            })
        })
    });
    drop(held);
    group.bench_function("breaker_check_only", |b| {
        b.iter(|| black_box(service.check_breaker().is_ok()))
    });
    let quota: Arc<Quota<String>> = Quota::new(256, Some(64));
    group.bench_function("quota_acquire_release", |b| {
        b.iter(|| black_box(quota.acquire("reader".to_owned()).is_ok()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = stack
}
criterion_main!(benches);
