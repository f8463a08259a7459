//! The index on the shared corpus: build time, recall@10 and single-thread queries/s at
//! several ef, against exact search.
//!
//! `make bench-index` (or `cargo bench --bench index_search`) indexes the peer's embeddings of
//! `../shared/data/arxiv-cs/` (all but the last 500 papers, which are the queries) with M = 16
//! and ef_construction = 200, then answers k = 10 queries one at a time on one thread.
//!
//! Environment: `PAPERSCOUT_BENCH_VECTORS` (papers to use, default all 54,002).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use paperscout_index::{Filter, Hit, IndexParams, PaperIndex, f16_rows};

const DIM: usize = 384;
const QUERIES: usize = 500;
const K: usize = 10;

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/arxiv-cs/embeddings/all-MiniLM-L6-v2.f16");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!(
            "!!!!! {} is missing: no benchmark without the shared data !!!!!",
            path.display()
        );
        return;
    };
    let available = bytes.len() / (DIM * 2);
    let count = std::env::var("PAPERSCOUT_BENCH_VECTORS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(available)
        .min(available);
    let vectors = f16_rows(&bytes[..count * DIM * 2], DIM).unwrap();
    let (indexed, queries) = vectors.split_at(count - QUERIES);
    let ids: Vec<String> = (0..indexed.len()).map(|i| format!("paper-{i}")).collect();
    let params = IndexParams::default();

    let started = Instant::now();
    let mut index = PaperIndex::new(DIM, params, indexed.len());
    let batch: Vec<(&str, &[f32])> = ids
        .iter()
        .zip(indexed)
        .map(|(id, v)| (id.as_str(), v.as_slice()))
        .collect();
    index.upsert_batch(&batch).unwrap();
    let build = started.elapsed().as_secs_f64();
    let started = Instant::now();
    index.optimise();
    let optimise = started.elapsed().as_secs_f64();

    let no_filter = Filter::default();
    let (truth, exact_seconds) = timed_single_thread(|| {
        queries
            .iter()
            .map(|q| index.exact_search(q, K, &no_filter).unwrap())
            .collect::<Vec<_>>()
    });

    println!(
        "index benchmark: {} real all-MiniLM-L6-v2 vectors indexed, {QUERIES} held-out queries, \
         k = {K}, M = {}, ef_construction = {}, queries on 1 thread",
        indexed.len(),
        params.max_connections,
        params.ef_construction
    );
    println!(
        "build: {build:.1} s on {} threads ({:.0} papers/s); flat copy for search: {:.2} s\n",
        rayon::current_num_threads(),
        indexed.len() as f64 / build,
        optimise
    );
    println!("| search | recall@10 | queries/s | vs exact |");
    println!("|---|---:|---:|---:|");
    let exact_qps = QUERIES as f64 / exact_seconds;
    println!("| exact | 1.000 | {exact_qps:.0} | 1.0× |");
    for ef in [16, 32, 64, 128] {
        index.set_ef_search(ef);
        let (found, seconds) = timed_single_thread(|| {
            queries
                .iter()
                .map(|q| index.search(q, K, &no_filter).unwrap())
                .collect::<Vec<_>>()
        });
        let recall = recall(&found, &truth);
        let qps = QUERIES as f64 / seconds;
        println!(
            "| hnsw ef {ef} | {recall:.3} | {qps:.0} | {:.1}× |",
            qps / exact_qps
        );
    }
}

/// Runs `work` on a one-thread pool (the exact search would otherwise use every core).
fn timed_single_thread<T: Send>(work: impl FnOnce() -> T + Send) -> (T, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let started = Instant::now();
        let result = work();
        (result, started.elapsed().as_secs_f64())
    })
}

fn recall(found: &[Vec<Hit>], truth: &[Vec<Hit>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let t: HashSet<&str> = t.iter().map(|h| h.id.as_str()).collect();
            f.iter().filter(|h| t.contains(h.id.as_str())).count()
        })
        .sum();
    hits as f64 / (found.len() * K) as f64
}
