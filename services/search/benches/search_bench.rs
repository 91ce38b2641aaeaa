//! Search benchmarks on a generated corpus: indexing throughput, and BM25,
//! vector (exact cosine, 384 dimensions) and hybrid query latency over
//! 100 000 documents. Set `SEARCH_BENCH_DOCS` to change the corpus size.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use micromcp_search::{DocumentIndex, IndexedDocument, reciprocal_rank_fusion};

const WORDS: [&str; 32] = [
    "gateway", "protocol", "service", "stream", "token", "session", "rust", "search", "index",
    "vector", "latency", "cache", "policy", "audit", "limit", "breaker", "catalog", "resource",
    "prompt", "tool", "client", "server", "network", "memory", "thread", "future", "channel",
    "socket", "buffer", "schema", "query", "engine",
];
const DIMENSIONS: usize = 384;

/// A tiny deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self) -> &'static str {
        // Skewed choice: low indices are frequent, like real text.
        let a = (self.next() % 32) as usize;
        let b = (self.next() % 32) as usize;
        WORDS[a.min(b)]
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIMENSIONS)
            .map(|_| (self.next() % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }
}

fn document(rng: &mut Rng, id: usize) -> IndexedDocument {
    let title: Vec<&str> = (0..4).map(|_| rng.word()).collect();
    let body: Vec<&str> = (0..40).map(|_| rng.word()).collect();
    IndexedDocument {
        id: format!("doc-{id}"),
        title: title.join(" "),
        body: body.join(" "),
        url: String::new(),
        tags: vec![format!("shard-{}", id % 8)],
        vector: Some(rng.vector()),
    }
}

fn corpus_size() -> usize {
    std::env::var("SEARCH_BENCH_DOCS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000)
}

fn benches(c: &mut Criterion) {
    let directory = tempfile::tempdir().expect("tempdir");
    let index = DocumentIndex::open(directory.path(), 256 * 1024 * 1024).expect("open");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let total = corpus_size();
    let batch_size = 10_000;
    for start in (0..total).step_by(batch_size) {
        let batch: Vec<IndexedDocument> = (start..(start + batch_size).min(total))
            .map(|id| document(&mut rng, id))
            .collect();
        index.upsert(&batch).expect("index");
    }

    let mut group = c.benchmark_group("search_indexing");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    let mut next_id = total;
    group.bench_function("upsert_1000_docs_with_commit", |b| {
        b.iter(|| {
            let batch: Vec<IndexedDocument> = (next_id..next_id + 1000)
                .map(|id| document(&mut rng, id))
                .collect();
            next_id += 1000;
            index.upsert(&batch).expect("index")
        })
    });
    group.finish();

    let query_vector = Rng(42).vector();
    let mut group = c.benchmark_group(format!("search_query_{}k_docs", total / 1000));
    group.bench_function("bm25_top10", |b| {
        b.iter(|| black_box(index.query("gateway protocol", &[], 0, 10).expect("query")))
    });
    group.bench_function("bm25_top10_tag_filter", |b| {
        b.iter(|| {
            black_box(
                index
                    .query("session token", &["shard-3".to_owned()], 0, 10)
                    .expect("query"),
            )
        })
    });
    group.bench_function("vector_top10_384d", |b| {
        b.iter(|| black_box(index.nearest(&query_vector, 10).expect("knn")))
    });
    group.bench_function("hybrid_top10", |b| {
        b.iter(|| {
            let lexical = index.query_ids("cache policy", &[], 40).expect("query");
            let semantic: Vec<String> = index
                .nearest(&query_vector, 40)
                .expect("knn")
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            black_box(reciprocal_rank_fusion(&[(1.0, lexical), (1.0, semantic)]))
        })
    });
    group.finish();
}

criterion_group!(search, benches);
criterion_main!(search);
