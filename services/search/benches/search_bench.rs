//! Search benchmarks on a generated corpus: indexing throughput, and BM25,
//! vector (exact cosine, 384 dimensions) and hybrid query latency over
//! 100 000 documents. Set `SEARCH_BENCH_DOCS` to change the corpus size and
//! `SEARCH_BENCH_VOCABULARY=zipf` for text drawn from a 50 000-word
//! vocabulary with a Zipf-like (log-uniform) frequency curve, like real
//! prose; the default draws from 32 words, so every query term is in most
//! documents (the worst case for BM25).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

use micromcp_search::{
    CrawlScope, DocumentIndex, Freshness, IndexedDocument, crawled_document, reciprocal_rank_fusion,
};

const WORDS: [&str; 32] = [
    "gateway", "protocol", "service", "stream", "token", "session", "rust", "search", "index",
    "vector", "latency", "cache", "policy", "audit", "limit", "breaker", "catalog", "resource",
    "prompt", "tool", "client", "server", "network", "memory", "thread", "future", "channel",
    "socket", "buffer", "schema", "query", "engine",
];
const DIMENSIONS: usize = 384;
const ZIPF_VOCABULARY: usize = 50_000;

/// A tiny deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn word(&mut self, zipf: bool) -> String {
        if zipf {
            // Log-uniform rank: P(rank) ∝ 1/rank, as in natural text.
            let unit = (self.next() % 1_000_000) as f64 / 1_000_000.0;
            let rank = (ZIPF_VOCABULARY as f64).powf(unit) as usize;
            return format!("w{rank}");
        }
        // Skewed choice: low indices are frequent.
        let a = (self.next() % 32) as usize;
        let b = (self.next() % 32) as usize;
        WORDS[a.min(b)].to_owned()
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIMENSIONS)
            .map(|_| (self.next() % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }
}

fn document(rng: &mut Rng, id: usize, zipf: bool) -> IndexedDocument {
    let title: Vec<String> = (0..4).map(|_| rng.word(zipf)).collect();
    let body: Vec<String> = (0..40).map(|_| rng.word(zipf)).collect();
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

fn zipf_vocabulary() -> bool {
    std::env::var("SEARCH_BENCH_VOCABULARY").is_ok_and(|value| value == "zipf")
}

fn benches(c: &mut Criterion) {
    let zipf = zipf_vocabulary();
    // Query terms: the two most frequent words of the 32-word vocabulary, or
    // two words of middling frequency (ranks ~30 and ~300) in the Zipf one.
    let (lexical_query, filtered_query, hybrid_query) = if zipf {
        ("w31 w307", "w52 w911", "w17 w402")
    } else {
        ("gateway protocol", "session token", "cache policy")
    };
    let directory = tempfile::tempdir().expect("tempdir");
    let index = DocumentIndex::open(directory.path(), 256 * 1024 * 1024).expect("open");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let total = corpus_size();
    let batch_size = 10_000;
    for start in (0..total).step_by(batch_size) {
        let batch: Vec<IndexedDocument> = (start..(start + batch_size).min(total))
            .map(|id| document(&mut rng, id, zipf))
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
                .map(|id| document(&mut rng, id, zipf))
                .collect();
            next_id += 1000;
            index.upsert(&batch).expect("index")
        })
    });
    group.finish();

    let query_vector = Rng(42).vector();
    let vocabulary = if zipf { "zipf" } else { "32words" };
    let mut group = c.benchmark_group(format!("search_query_{}k_docs_{vocabulary}", total / 1000));
    group.bench_function("bm25_top10", |b| {
        b.iter(|| black_box(index.query(lexical_query, &[], &[], 0, 10).expect("query")))
    });
    group.bench_function("bm25_top10_tag_filter", |b| {
        b.iter(|| {
            black_box(
                index
                    .query(filtered_query, &["shard-3".to_owned()], &[], 0, 10)
                    .expect("query"),
            )
        })
    });
    group.bench_function("vector_top10_384d", |b| {
        b.iter(|| black_box(index.nearest(&query_vector, 10, &[]).expect("knn")))
    });
    group.bench_function("hybrid_top10", |b| {
        b.iter(|| {
            let lexical = index.query_ids(hybrid_query, &[], &[], 40).expect("query");
            let semantic: Vec<String> = index
                .nearest(&query_vector, 40, &[])
                .expect("knn")
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            black_box(reciprocal_rank_fusion(&[(1.0, lexical), (1.0, semantic)]))
        })
    });
    group.finish();
}

/// BM25 top 10 over crawled files, as `search.query` answers: without the
/// read-time check of each hit's file, with it while the files' stamps are
/// racy (their bytes compared too) and once they are settled (a stat).
fn crawled_benches(c: &mut Criterion) {
    let files = tempfile::tempdir().expect("tempdir");
    let directory = tempfile::tempdir().expect("tempdir");
    let index = Arc::new(DocumentIndex::open(directory.path(), 64 * 1024 * 1024).expect("open"));
    let root = files.path().canonicalize().expect("root");
    let mut rng = Rng(7);
    for number in 0..2000 {
        let words: Vec<String> = (0..200).map(|_| rng.word(false)).collect();
        std::fs::write(root.join(format!("f{number}.txt")), words.join(" ")).expect("write");
    }
    let scope = CrawlScope {
        roots: vec![root.clone()],
        excluded: Vec::new(),
        source_tag: "source:fs".into(),
    };
    let crawl = || {
        let documents: Vec<IndexedDocument> = (0..2000)
            .filter_map(|number| {
                crawled_document(&root.join(format!("f{number}.txt")), &scope, 1 << 20)
            })
            .collect();
        index.upsert(&documents).expect("index");
    };
    crawl();
    let (freshness, _refresher) = Freshness::new(&scope, 1 << 20, index.clone());
    let mut group = c.benchmark_group("search_query_2k_crawled_files");
    let query = |checked: bool| {
        let keep = |document: &IndexedDocument| !checked || freshness.is_current(document);
        let (hits, _) = index
            .query_where("gateway protocol", &[], &[], 0, 10, &keep)
            .expect("query");
        assert_eq!(hits.len(), 10, "every hit current");
        hits
    };
    group.bench_function("bm25_top10_unchecked", |b| {
        b.iter(|| black_box(query(false)))
    });
    group.bench_function("bm25_top10_checked_racy", |b| {
        b.iter(|| black_box(query(true)))
    });
    // Stamps taken well after the files' last change need only a stat.
    std::thread::sleep(std::time::Duration::from_secs(4));
    crawl();
    group.bench_function("bm25_top10_checked_settled", |b| {
        b.iter(|| black_box(query(true)))
    });
    group.finish();
}

criterion_group!(search, benches, crawled_benches);
criterion_main!(search);
