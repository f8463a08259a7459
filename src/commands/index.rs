//! `paperscout index check|rebuild`: the HNSW index of the store's embeddings.

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use anyhow::{Result, bail};
use paperscout_index::{Filter, IndexParams};
use paperscout_store::{SqliteStore, Store};
use serde::Serialize;

use crate::cli::IndexCommand;
use paperscout_app::Settings;

#[derive(Serialize)]
struct Check {
    papers: usize,
    queries: usize,
    k: usize,
    ef_search: usize,
    /// How the index chose its own ef, if it did.
    calibration: Option<paperscout_index::Calibration>,
    #[serde(rename = "recall@k")]
    recall: f64,
    hnsw_queries_per_second: f64,
    exact_queries_per_second: f64,
    rebuilt_because: Option<String>,
    open_seconds: f64,
}

/// Runs the command.
pub fn run(command: &IndexCommand, settings: &Settings, quiet: bool) -> Result<()> {
    let path = paperscout_store::file_in(&settings.data_dir);
    let store = SqliteStore::open(&path)?;
    // The index of the model in use.
    let model = paperscout_app::store_model::key_of(settings)?;
    if !store
        .stats()?
        .models
        .iter()
        .any(|m| m.name == model.name && m.sha256 == model.sha256 && m.count > 0)
    {
        bail!(
            "the store holds no embeddings of {}: ingest papers without --no-embed, or run `paperscout embed --missing`",
            model.name
        );
    }
    let dir = paperscout_app::live_index::dir_for(&settings.data_dir, &model);
    match command {
        IndexCommand::Rebuild => {
            let _ = std::fs::remove_dir_all(&dir);
            let (index, opened) =
                paperscout_app::live_index::open(&store, &model, &dir, IndexParams::default())?;
            if !quiet {
                eprintln!(
                    "indexed {} papers in {:.1} s into {}",
                    index.len(),
                    opened.seconds,
                    dir.display()
                );
            }
            Ok(())
        }
        IndexCommand::Check {
            queries,
            k,
            ef,
            json,
        } => {
            let (mut index, opened) =
                paperscout_app::live_index::open(&store, &model, &dir, IndexParams::default())?;
            if let Some(ef) = ef {
                index.set_ef_search(*ef);
            }
            let ef = index.params().ef_search;
            let papers: Vec<(&str, &[f32])> = index.live_papers().collect();
            let step = (papers.len() / (*queries).max(1)).max(1);
            let sample: Vec<(&str, &[f32])> = papers
                .iter()
                .step_by(step)
                .take(*queries)
                .copied()
                .collect();
            let mut found = 0usize;
            let mut wanted = 0usize;
            let (mut hnsw_seconds, mut exact_seconds) = (0.0, 0.0);
            for (id, vector) in &sample {
                let filter = Filter {
                    exclude: HashSet::from([*id]),
                    allow: None,
                };
                let started = Instant::now();
                let approximate = index.search(vector, *k, &filter)?;
                hnsw_seconds += started.elapsed().as_secs_f64();
                let started = Instant::now();
                let exact = index.exact_search(vector, *k, &filter)?;
                exact_seconds += started.elapsed().as_secs_f64();
                let truth: HashSet<&str> = exact.iter().map(|h| h.id.as_str()).collect();
                wanted += truth.len();
                found += approximate
                    .iter()
                    .filter(|h| truth.contains(h.id.as_str()))
                    .count();
            }
            let check = Check {
                papers: index.len(),
                queries: sample.len(),
                k: *k,
                ef_search: ef,
                calibration: index.calibration(),
                recall: found as f64 / wanted.max(1) as f64,
                hnsw_queries_per_second: sample.len() as f64 / hnsw_seconds.max(1e-9),
                exact_queries_per_second: sample.len() as f64 / exact_seconds.max(1e-9),
                rebuilt_because: opened.rebuilt_because,
                open_seconds: opened.seconds,
            };
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &check)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "index of {} papers (opened in {:.1} s)",
                    check.papers, check.open_seconds
                )?;
                writeln!(
                    out,
                    "recall@{} over {} stored papers as queries, ef {}: {:.4}",
                    check.k, check.queries, check.ef_search, check.recall
                )?;
                if let Some(c) = &check.calibration {
                    writeln!(
                        out,
                        "calibrated ef {} (recall@{} {:.4} on {} papers, aiming at {}, when it held {} papers)",
                        c.ef, c.k, c.recall, c.queries, c.target, c.papers
                    )?;
                }
                writeln!(
                    out,
                    "queries/s: hnsw {:.0}, exact {:.0}",
                    check.hnsw_queries_per_second, check.exact_queries_per_second
                )?;
            }
            Ok(())
        }
    }
}
