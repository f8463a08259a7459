//! Digest generation at scale: 10,000 users × one day's 1,500 new papers, on every core.
//!
//! `make bench-digest` (or `cargo bench --bench digest_batch`) takes the last 1,500 papers of
//! `../shared/data/arxiv-cs/papers.jsonl.gz` as the day, and builds users from earlier real
//! papers (3 to 12 each, every fifth user with a dislike), with the peer's vectors from
//! `embeddings/` (the digest does not run the model). It times `CandidateSet::new` plus `select_many`
//! (hybrid scores, dislikes, MMR, explanations) and, as the in-process baseline, the one-user
//! path that prepares the day again for every user, on the first 100 users; and, on the first
//! 1,000, one user at a time flat against the same in sections (`rank::facets`).
//!
//! Environment: `PAPERSCOUT_BENCH_USERS` (default 10000), `PAPERSCOUT_BENCH_DAY` (default 1500).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::time::Instant;

use paperscout_rank::facets::{FacetParams, allot, cluster, facet_terms, good_depth};
use paperscout_rank::{CandidateSet, DigestInput, DigestParams, Matrix, UserProfile, select};

mod common;
#[path = "common/draws.rs"]
mod draws;

use common::{env_or, peak_rss_mib};

struct User {
    items: Matrix,
    texts: Vec<String>,
    negatives: Matrix,
}

fn main() {
    let Some((texts, vectors)) = common::corpus() else {
        return;
    };
    let user_count = env_or("PAPERSCOUT_BENCH_USERS", 10_000);
    let day_size = env_or("PAPERSCOUT_BENCH_DAY", 1500);

    let total = texts.len();
    let day_rows: Vec<usize> = (total - day_size..total).collect();
    let before_day = total - day_size;

    // Users from earlier papers, drawn by a fixed generator.
    let mut next = draws::fixed_draws();
    let prepared = Instant::now();
    let users: Vec<User> = (0..user_count)
        .map(|u| {
            let size = 3 + next(10);
            let rows: Vec<usize> = (0..size).map(|_| next(before_day)).collect();
            let negatives: Vec<usize> = if u % 5 == 0 {
                vec![next(before_day)]
            } else {
                Vec::new()
            };
            User {
                items: vectors.select(&rows),
                texts: rows.iter().map(|&r| texts[r].clone()).collect(),
                negatives: vectors.select(&negatives),
            }
        })
        .collect();
    let profiles_seconds = prepared.elapsed().as_secs_f64();
    let rss_before = peak_rss_mib();

    let day_vectors = vectors.select(&day_rows);
    let day_texts: Vec<String> = day_rows.iter().map(|&r| texts[r].clone()).collect();
    let params = DigestParams::default();
    let started = Instant::now();
    let day = CandidateSet::new(day_vectors.clone(), &day_texts);
    let day_seconds = started.elapsed().as_secs_f64();
    let views: Vec<UserProfile<'_>> = users
        .iter()
        .map(|u| UserProfile::new(&u.items, &u.texts, &u.negatives, &[]))
        .collect();
    let digests = day.select_many(&views, &params);
    let batch_seconds = started.elapsed().as_secs_f64();
    let picked: usize = digests.iter().map(Vec::len).sum();

    // Baseline: the one-user path (prepares the day per user), on a sample of users.
    let sample = 100.min(user_count);
    let started = Instant::now();
    for user in &users[..sample] {
        let input = DigestInput {
            candidate_vectors: &day_vectors,
            candidate_texts: &day_texts,
            item_vectors: &user.items,
            item_texts: &user.texts,
            negative_vectors: &user.negatives,
        };
        std::hint::black_box(select(&input, &params));
    }
    let per_user_baseline = started.elapsed().as_secs_f64() / sample as f64;

    // Sections (issue 23): each user's digest chosen alone on the prepared day, flat, and in
    // sections (ranked three digests deep, the profile clustered and named, slots allotted),
    // as the daemon's scheduled digests are.
    let sectioned_users = 1000.min(user_count);
    let started = Instant::now();
    for user in &views[..sectioned_users] {
        std::hint::black_box(day.select(user, &params));
    }
    let flat_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let deep = DigestParams {
        size: good_depth(params.size),
        ..params
    };
    let mut multi = 0;
    for (user, view) in users.iter().zip(&views).take(sectioned_users) {
        let picks = day.select(view, &deep);
        let facets = cluster(&user.items, &FacetParams::default());
        let names = facet_terms(&user.texts, &facets, 3);
        let facet_of: Vec<usize> = picks
            .iter()
            .map(|p| facets.of_item[p.closest_item])
            .collect();
        let shares: Vec<f32> = facets.sizes().iter().map(|&s| s as f32).collect();
        multi += usize::from(facets.count() > 1);
        std::hint::black_box((allot(&facet_of, &shares, params.size, deep.size), names));
    }
    let sectioned_seconds = started.elapsed().as_secs_f64();

    let mut out = std::io::stdout().lock();
    writeln!(out, "\ndigests for {user_count} users × {day_size} candidates, {} threads ({picked} papers picked; users built in {profiles_seconds:.1} s, not timed)\n", rayon::current_num_threads()).unwrap();
    writeln!(out, "| path | wall s | users/s |").unwrap();
    writeln!(out, "|---|---:|---:|").unwrap();
    writeln!(out, "| CandidateSet::new (once) | {day_seconds:.2} | |").unwrap();
    writeln!(
        out,
        "| CandidateSet::new + select_many, all users | {batch_seconds:.2} | {:.0} |",
        user_count as f64 / batch_seconds
    )
    .unwrap();
    writeln!(
        out,
        "| one-user select (baseline, {sample} users, extrapolated) | {:.1} | {:.1} |",
        per_user_baseline * user_count as f64,
        1.0 / per_user_baseline
    )
    .unwrap();
    writeln!(
        out,
        "| one user at a time on the prepared day, flat ({sectioned_users} users) | {flat_seconds:.2} | {:.0} |",
        sectioned_users as f64 / flat_seconds
    )
    .unwrap();
    writeln!(
        out,
        "| the same in sections ({multi} of them with two facets or more) | {sectioned_seconds:.2} | {:.0} |",
        sectioned_users as f64 / sectioned_seconds
    )
    .unwrap();
    writeln!(
        out,
        "\nbatched: {:.1}x the one-user path; peak RSS {:.0} MiB ({:.0} MiB before the digests)",
        per_user_baseline * user_count as f64 / batch_seconds,
        peak_rss_mib(),
        rss_before
    )
    .unwrap();
}
