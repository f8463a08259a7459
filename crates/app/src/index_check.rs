//! `index check` and `index rebuild`: the HNSW index of the model in use, rebuilt from the
//! store, or measured against exact search (recall@k and queries/s over stored papers).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use paperscout_index::{Calibration, Filter, IndexParams, MemoryUse};
use paperscout_store::{ModelKey, Store};
use serde::Serialize;

use crate::{AppError, Result, Settings};

/// How well the index finds what exact search finds, and how fast.
#[derive(Debug, Clone, Serialize)]
pub struct IndexCheck {
    /// Papers in the index.
    pub papers: usize,
    /// Stored papers used as queries.
    pub queries: usize,
    /// Neighbours asked for.
    pub k: usize,
    /// The search breadth used.
    pub ef_search: usize,
    /// How the index chose its own ef, if it did.
    pub calibration: Option<Calibration>,
    /// The share of exact neighbours the index found.
    #[serde(rename = "recall@k")]
    pub recall: f64,
    /// Index searches per second, one thread.
    pub hnsw_queries_per_second: f64,
    /// Exact searches per second, one thread.
    pub exact_queries_per_second: f64,
    /// Why opening rebuilt the index, when it did.
    pub rebuilt_because: Option<String>,
    /// Seconds opening (or rebuilding) took.
    pub open_seconds: f64,
    /// What the loaded index holds in memory, part by part.
    pub memory: MemoryUse,
}

impl IndexCheck {
    /// The check for people, a line a fact.
    pub fn text(&self) -> String {
        let mut out = format!(
            "index of {} papers (opened in {:.1} s)\nrecall@{} over {} stored papers as queries, ef {}: {:.4}\n",
            self.papers, self.open_seconds, self.k, self.queries, self.ef_search, self.recall
        );
        if let Some(c) = &self.calibration {
            out += &format!(
                "calibrated ef {} (recall@{} {:.4} on {} papers, aiming at {}, when it held {} papers)\n",
                c.ef, c.k, c.recall, c.queries, c.target, c.papers
            );
        }
        out + &format!(
            "queries/s: hnsw {:.0}, exact {:.0}\n",
            self.hnsw_queries_per_second, self.exact_queries_per_second
        ) + &self.memory.text()
    }
}

/// What [`rebuild`] did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// Papers indexed.
    pub papers: usize,
    /// Seconds it took.
    pub seconds: f64,
    /// Where the index is.
    pub dir: PathBuf,
}

/// The model in use, refused when the store holds none of its vectors.
fn indexed_model(settings: &Settings, store: &dyn Store) -> Result<ModelKey> {
    let model = crate::store_model::key_of(settings)?;
    let has_vectors = store
        .stats()?
        .models
        .iter()
        .any(|m| m.name == model.name && m.sha256 == model.sha256 && m.count > 0);
    if !has_vectors {
        return Err(AppError::Usage(format!(
            "the store holds no embeddings of {}: ingest papers without --no-embed, or run `paperscout embed --missing`",
            model.name
        )));
    }
    Ok(model)
}

/// Builds the index of the model in use afresh from the store's vectors.
pub fn rebuild(settings: &Settings, store: &dyn Store) -> Result<Rebuilt> {
    let model = indexed_model(settings, store)?;
    let dir = crate::live_index::dir_for(&settings.data_dir, &model);
    // A missing folder is what a rebuild wants anyway.
    let _ = std::fs::remove_dir_all(&dir);
    let (index, opened) = crate::live_index::open(store, &model, &dir, IndexParams::default())?;
    Ok(Rebuilt {
        papers: index.len(),
        seconds: opened.seconds,
        dir,
    })
}

/// Opens the index (rebuilding it if it must) and searches it for `queries` stored papers
/// spread over it, beside exact search.
pub fn check(
    settings: &Settings,
    store: &dyn Store,
    queries: usize,
    k: usize,
    ef: Option<usize>,
) -> Result<IndexCheck> {
    let model = indexed_model(settings, store)?;
    let dir = crate::live_index::dir_for(&settings.data_dir, &model);
    let (mut index, opened) = crate::live_index::open(store, &model, &dir, IndexParams::default())?;
    if let Some(ef) = ef {
        index.set_ef_search(ef);
    }
    let step = (index.len() / queries.max(1)).max(1);
    let sample: Vec<(&str, Vec<f32>)> = index.live_papers().step_by(step).take(queries).collect();
    let mut found = 0usize;
    let mut wanted = 0usize;
    let (mut hnsw_seconds, mut exact_seconds) = (0.0, 0.0);
    for (id, vector) in &sample {
        let filter = Filter {
            exclude: HashSet::from([*id]),
            allow: None,
        };
        let started = Instant::now();
        let approximate = index.search(vector, k, &filter)?;
        hnsw_seconds += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let exact = index.exact_search(vector, k, &filter)?;
        exact_seconds += started.elapsed().as_secs_f64();
        let truth: HashSet<&str> = exact.iter().map(|h| h.id.as_str()).collect();
        wanted += truth.len();
        found += approximate
            .iter()
            .filter(|h| truth.contains(h.id.as_str()))
            .count();
    }
    Ok(IndexCheck {
        papers: index.len(),
        queries: sample.len(),
        k,
        ef_search: index.params().ef_search,
        calibration: index.calibration(),
        recall: found as f64 / wanted.max(1) as f64,
        hnsw_queries_per_second: sample.len() as f64 / hnsw_seconds.max(1e-9),
        exact_queries_per_second: sample.len() as f64 / exact_seconds.max(1e-9),
        rebuilt_because: opened.rebuilt_because,
        open_seconds: opened.seconds,
        memory: index.memory(),
    })
}
