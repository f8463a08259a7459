//! Offline re-ranking at scale: 100,000 users × 20,000 candidates, top 50 each, on every core.
//!
//! `make bench-rerank` (or `cargo bench --bench rerank_batch`). Candidates are the last 20,000
//! papers of `../shared/data/arxiv-cs/papers.jsonl.gz`; each user holds 3 to 12 earlier real
//! papers (every fifth user one dislike), with the peer's vectors from `embeddings/`. The
//! earlier papers are the rows that profiles refer to, each stored once, as `paperscout
//! rerank` keeps them for a group of users.
//!
//! Rows:
//! - hybrid: `CandidateSet::rank_each` (the code of `rerank`, `recommend` and digests: hybrid scores,
//!   dislikes, MMR, explanations), all users in one group (`PAPERSCOUT_BENCH_GROUP` users a
//!   group when set), picks counted as they are handed on;
//! - centroid: `CandidateSet::centroid_shared` (each user's normalised mean item against every
//!   candidate, top 50, explained), over the same rows, blocks of 4,096 users;
//! - the scoring kernels alone (the hybrid's distinct profile rows × one block of candidates,
//!   the centroids × candidates product), in GFLOP/s and as a share of the machine's FP32 peak,
//!   taken as cores × clock (from /proc/cpuinfo) × 32 FLOP per cycle (two 8-wide FMA units,
//!   as on this machine's AMD EPYC; an assumption the output states).
//!
//! Environment: `PAPERSCOUT_BENCH_USERS` (default 100000), `PAPERSCOUT_BENCH_CANDIDATES`
//! (default 20000), `PAPERSCOUT_BENCH_TOP` (default 50), `PAPERSCOUT_BENCH_HYBRID` (0 skips the
//! hybrid rows).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use paperscout_rank::{
    CandidateSet, DEFAULT_BLOCK_BYTES, DigestParams, ItemRef, Matrix, ProfileRows, SharedProfile,
};

mod common;

use common::{DIM, env_or, peak_rss_mib};
const CENTROID_BLOCK: usize = 4096;

/// The machine's FP32 peak in GFLOP/s under the stated assumption.
fn peak_gflops() -> (f64, f64) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mhz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .unwrap_or(2000.0);
    let cores = rayon::current_num_threads() as f64;
    (cores * mhz / 1000.0 * 32.0, mhz)
}

/// A fixed pseudo-random number for (user, draw), below `bound`.
fn draw(user: usize, n: usize, bound: usize) -> usize {
    let mut z = (user as u64) << 8 ^ n as u64 ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % bound as u64) as usize
}

/// User `u`'s profile rows and dislikes among the first `pool` papers.
fn user_rows(u: usize, pool: usize) -> (Vec<usize>, Vec<usize>) {
    let size = 3 + draw(u, 0, 10);
    let rows = (0..size).map(|i| draw(u, i + 1, pool)).collect();
    let negatives = if u.is_multiple_of(5) {
        vec![draw(u, 99, pool)]
    } else {
        Vec::new()
    };
    (rows, negatives)
}

fn main() {
    let Some((texts, vectors)) = common::corpus() else {
        return;
    };
    let user_count = env_or("PAPERSCOUT_BENCH_USERS", 100_000);
    let candidate_count = env_or("PAPERSCOUT_BENCH_CANDIDATES", 20_000);
    let top = env_or("PAPERSCOUT_BENCH_TOP", 50);

    let total = texts.len();
    let candidates: Vec<usize> = (total - candidate_count..total).collect();
    let earlier = total - candidate_count;
    let candidate_vectors = vectors.select(&candidates);
    let candidate_texts: Vec<String> = candidates.iter().map(|&r| texts[r].clone()).collect();
    let rss_data = peak_rss_mib();
    let (peak, mhz) = peak_gflops();

    // Every earlier paper once, as the rows users' profiles refer to (what `paperscout
    // rerank` reads from the store).
    let mut rows = ProfileRows::new(DIM);
    for r in 0..earlier {
        rows.vectors.push(vectors.row(r));
    }
    rows.texts = texts[..earlier].to_vec();
    let kernel = {
        // The scoring kernel alone: every distinct profile row against one block of
        // candidates as wide as the sweep makes it.
        let width = (DEFAULT_BLOCK_BYTES / (4 * 2 * earlier)).clamp(64, candidate_count);
        let block = candidate_vectors.slice_rows(0, width);
        let timed = Instant::now();
        let repeats = 3;
        for _ in 0..repeats {
            std::hint::black_box(rows.vectors.dot_all(&block, true));
        }
        let seconds = timed.elapsed().as_secs_f64() / f64::from(repeats);
        (
            2.0 * (rows.vectors.rows() * width * DIM) as f64 / seconds / 1e9,
            seconds,
        )
    };
    // Hybrid, the default method.
    let started = Instant::now();
    let day = CandidateSet::new(candidate_vectors.clone(), &candidate_texts);
    let day_seconds = started.elapsed().as_secs_f64();
    let params = DigestParams {
        size: top,
        ..DigestParams::default()
    };
    let mut picked = 0usize;
    let hybrid_users = if env_or("PAPERSCOUT_BENCH_HYBRID", 1) == 0 {
        0
    } else {
        user_count
    };
    let group = env_or("PAPERSCOUT_BENCH_GROUP", user_count).max(1);
    for start in (0..hybrid_users).step_by(group) {
        let users: Vec<SharedProfile<'_>> = (start..(start + group).min(hybrid_users))
            .map(|u| {
                let (items, negatives) = user_rows(u, earlier);
                SharedProfile {
                    items: items
                        .iter()
                        .map(|&r| ItemRef {
                            vector: r as u32,
                            text: r as u32,
                        })
                        .collect(),
                    negatives: negatives.iter().map(|&r| r as u32).collect(),
                    excluded: &[],
                    item_ages_days: &[],
                    negative_ages_days: &[],
                    boosted: &[],
                    min_similarity: None,
                }
            })
            .collect();
        day.rank_each(
            &rows,
            &users,
            &params,
            DEFAULT_BLOCK_BYTES,
            &mut |_, _| {},
            &mut |_, picks| picked += picks.len(),
        );
    }
    let hybrid_seconds = started.elapsed().as_secs_f64();
    let rss_hybrid = peak_rss_mib();

    // Centroid: `CandidateSet::centroid_shared` over the same rows (one matrix product per chunk of
    // users, the top of each row, explanations), as `rerank --method centroid` runs it, in
    // blocks; its kernel timed alone on the first block.
    let started = Instant::now();
    let mut centroid_kernel = (0.0f64, 0.0f64);
    let mut centroid_picked = 0usize;
    for start in (0..user_count).step_by(CENTROID_BLOCK) {
        let users: Vec<SharedProfile<'_>> = (start..(start + CENTROID_BLOCK).min(user_count))
            .map(|u| SharedProfile {
                items: user_rows(u, earlier)
                    .0
                    .iter()
                    .map(|&r| ItemRef {
                        vector: r as u32,
                        text: r as u32,
                    })
                    .collect(),
                negatives: Vec::new(),
                excluded: &[],
                item_ages_days: &[],
                negative_ages_days: &[],
                boosted: &[],
                min_similarity: None,
            })
            .collect();
        if start == 0 {
            let mut centroids = Matrix::new(DIM);
            for user in &users {
                let mut mean = vec![0.0f32; DIM];
                for item in &user.items {
                    for (m, x) in mean.iter_mut().zip(rows.vectors.row(item.vector as usize)) {
                        *m += x;
                    }
                }
                centroids.push(&mean);
            }
            let timed = Instant::now();
            std::hint::black_box(centroids.dot_all(&candidate_vectors, true));
            let seconds = timed.elapsed().as_secs_f64();
            centroid_kernel = (
                2.0 * (centroids.rows() * candidate_count * DIM) as f64 / seconds / 1e9,
                seconds,
            );
        }
        centroid_picked += day
            .centroid_shared(&rows, &users, top)
            .iter()
            .map(Vec::len)
            .sum::<usize>();
    }
    let centroid_seconds = started.elapsed().as_secs_f64();
    let centroid_gflops = centroid_kernel.0;
    let centroid_kernel_seconds = centroid_kernel.1;

    println!(
        "\nre-rank: {user_count} users × {candidate_count} candidates, top {top}, {} threads; \
         FP32 peak taken as {} cores × {mhz:.0} MHz × 32 FLOP/cycle = {peak:.0} GFLOP/s\n",
        rayon::current_num_threads(),
        rayon::current_num_threads()
    );
    println!("| method | wall s | users/s | papers ranked | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|");
    if hybrid_users > 0 {
        println!(
            "| hybrid (CandidateSet::new {day_seconds:.1} s + rank_each) | {hybrid_seconds:.1} | {:.0} | {picked} | {rss_hybrid:.0} |",
            hybrid_users as f64 / hybrid_seconds
        );
    }
    println!(
        "| centroid | {centroid_seconds:.1} | {:.0} | {centroid_picked} | {:.0} |",
        user_count as f64 / centroid_seconds,
        peak_rss_mib()
    );
    println!("\n| scoring kernel | GFLOP/s | share of peak |");
    println!("|---|---:|---:|");
    if hybrid_users > 0 {
        println!(
            "| hybrid: distinct profile rows × a block of candidates ({:.3} s) | {:.0} | {:.0}% |",
            kernel.1,
            kernel.0,
            100.0 * kernel.0 / peak
        );
    }
    println!(
        "| centroid: a block's centroids × candidates ({centroid_kernel_seconds:.3} s) | {centroid_gflops:.0} | {:.0}% |",
        100.0 * centroid_gflops / peak
    );
    println!("\n(peak RSS with the corpus loaded, before ranking: {rss_data:.0} MiB)");
}
