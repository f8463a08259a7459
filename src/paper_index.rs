//! The index as the binary uses it: loaded from `<data-dir>/index/<model>/`, caught up with
//! the store, and rebuilt from the store (with a log line saying why) when missing, stale or
//! corrupt. Each model has its own folder, so re-embedding with a new model builds its index
//! beside the current one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use paperscout_index::{Expected, IndexError, IndexParams, PaperIndex, Upsert};
use paperscout_store::{ModelKey, Store};

/// The recall@10 that the index's ef_search is chosen for, measured on the index's own
/// papers (see [`PaperIndex::calibrate`]).
pub const TARGET_RECALL: f64 = 0.97;

/// Stored papers a calibration uses as queries.
pub const CALIBRATION_QUERIES: usize = 300;

/// Past this share of tombstones (replaced or removed papers still in the graph), opening
/// the index rebuilds it from its live papers.
pub const TOMBSTONE_LIMIT: f64 = 0.10;

/// The index folder of a model in a data directory: its name and the start of its weights'
/// sha256.
pub fn dir_for(data_dir: &Path, model: &ModelKey) -> PathBuf {
    let name: String = model
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let sha = model.sha256.get(..12).unwrap_or(&model.sha256);
    data_dir.join("index").join(format!("{name}-{sha}"))
}

/// How a model is named in an index manifest: name and weights together.
pub fn model_id(model: &ModelKey) -> String {
    format!("{}@{}", model.name, model.sha256)
}

/// What opening the index did.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    /// Why the saved index was not used, if it was not.
    pub rebuilt_because: Option<String>,
    /// Papers added or replaced to catch up with the store.
    pub caught_up: usize,
    /// The calibration measured now, if the saved one was missing or out of date.
    pub calibrated: Option<paperscout_index::Calibration>,
    /// Seconds spent.
    pub seconds: f64,
}

/// Loads the saved index or rebuilds it, brings it up to date with the store's embeddings
/// under `model`, and saves it when anything changed.
pub fn open(
    store: &dyn Store,
    model: &ModelKey,
    dir: &Path,
    params: IndexParams,
) -> Result<(PaperIndex, Opened)> {
    let started = Instant::now();
    let id = model_id(model);
    let expected = Expected {
        model: &id,
        dim: model.dim,
        params,
    };
    let mut opened = Opened::default();
    let mut index = match PaperIndex::load(dir, &expected) {
        Ok(index) => index,
        Err(err) => {
            let why = match &err {
                IndexError::Missing { .. } => "there is none yet".to_owned(),
                other => other.to_string(),
            };
            tracing::warn!("rebuilding the index from the store: {why}");
            opened.rebuilt_because = Some(why);
            PaperIndex::new(model.dim, params, 1024)
        }
    };
    // Only what the index lacks is kept from the store: the papers it already holds with the
    // same vector (all of them, on most starts) are only counted, not copied.
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    let mut stored: HashSet<String> = HashSet::with_capacity(index.len());
    store.for_each_embedding(model, &mut |id, vector| {
        if !index.holds(id, vector) {
            rows.push((id.to_owned(), vector.to_vec()));
        }
        stored.insert(id.to_owned());
    })?;
    let batch: Vec<(&str, &[f32])> = rows
        .iter()
        .map(|(id, v)| (id.as_str(), v.as_slice()))
        .collect();
    // A calibration missing or out of date is measured on the way, with some of the new
    // papers held back as queries, when there are enough of them (a rebuild, a large catch-up).
    let new_papers = batch
        .iter()
        .filter(|(id, _)| index.vector(id).is_none())
        .count();
    let changes = if index.calibration_due(index.len() + new_papers) {
        let (changes, calibration) =
            index.upsert_and_calibrate(&batch, TARGET_RECALL, CALIBRATION_QUERIES, 10)?;
        opened.calibrated = calibration;
        changes
    } else {
        index.upsert_batch(&batch)?
    };
    opened.caught_up = changes.iter().filter(|c| **c != Upsert::Unchanged).count();
    // Papers the store no longer embeds under this model (removed, or re-embedding pending).
    let gone: Vec<String> = index
        .live_papers()
        .filter(|(id, _)| !stored.contains(*id))
        .map(|(id, _)| id.to_owned())
        .collect();
    for id in &gone {
        index.remove(id);
    }
    let mut compacted = false;
    if index.tombstone_ratio() > TOMBSTONE_LIMIT {
        tracing::info!(
            "compacting the index: {:.0}% of its points are tombstones",
            100.0 * index.tombstone_ratio()
        );
        index = index.compacted()?;
        compacted = true;
    }
    if !index.is_optimised() {
        index.optimise();
    }
    match (opened.calibrated, index.calibration()) {
        (Some(_), _) => {}
        (None, Some(saved)) if !index.calibration_due(index.len()) => {
            index.apply_calibration(saved);
        }
        // Too few new papers to hold back: the stored ones, each blocked from its own search.
        (None, _) => {
            opened.calibrated =
                index.calibrate_on_own_papers(TARGET_RECALL, CALIBRATION_QUERIES, 10);
        }
    }
    if let Some(c) = &opened.calibrated {
        tracing::info!(
            "index calibrated: ef {} gives recall@10 {:.3} for {} {} papers, of {}",
            c.ef,
            c.recall,
            c.queries,
            if c.held_out { "new" } else { "stored" },
            c.papers
        );
    }
    if opened.rebuilt_because.is_some()
        || opened.caught_up > 0
        || !gone.is_empty()
        || compacted
        || opened.calibrated.is_some()
    {
        index.save(dir, &id)?;
    }
    opened.seconds = started.elapsed().as_secs_f64();
    Ok((index, opened))
}
