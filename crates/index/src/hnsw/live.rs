//! [`HnswIndex`]: the HNSW index a long-lived process serves from, as a [`VectorIndex`], with
//! all of its housekeeping: searches under a read lock, upserts in small chunks, the flat copy
//! taken anew after each batch, ef chosen again when the index has grown by a fifth, a
//! compaction in the background while searches go on, and a save when anything changed, after
//! which hnsw_rs's graph leaves memory until the next upsert reads it back (while searches go
//! on) from the saved generation.
//!
//! The policy numbers are the constants of this module and nowhere else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::error::Result;
use crate::hnsw::calibrate::RecallTally;
use crate::hnsw::calibration::CALIBRATION_MIN_PAPERS;
use crate::hnsw::paper_index::{Filter, PaperIndex};
use crate::vector_index::{Hit, IndexCounts, Payload, SearchFilter, VectorIndex};

/// The recall@10 that ef_search is chosen for, measured on papers held back from the graph.
pub const TARGET_RECALL: f64 = 0.97;

/// Papers a calibration uses as queries.
pub const CALIBRATION_QUERIES: usize = 300;

/// Results per calibration query: recall is measured at 10.
pub const CALIBRATION_K: usize = 10;

/// Past this share of tombstones (replaced or removed papers still in the graph), the index is
/// rebuilt from its live papers.
pub const TOMBSTONE_LIMIT: f64 = 0.10;

/// Fewest new papers in a batch for ef to be chosen again on them.
pub const RECALIBRATION_MIN_QUERIES: usize = 100;

/// Papers upserted under one write lock: searches wait for one chunk at a time, not a batch.
const UPSERT_CHUNK: usize = 64;

/// A paper id and its vector, owned.
type OwnedRow = (String, Vec<f32>);

/// The HNSW index behind a [`VectorIndex`].
pub struct HnswIndex {
    index: RwLock<PaperIndex>,
    payloads: RwLock<HashMap<String, Payload>>,
    dir: PathBuf,
    model_id: String,
    dirty: AtomicBool,
    /// Counts the index's replacements by a compacted copy, so a flat copy taken of the old
    /// graph is never installed on the new one.
    generation: AtomicU64,
    /// While a compaction runs, the papers upserted meanwhile, replayed into the compacted
    /// index before it replaces the old; `None` when none runs.
    compaction_log: Mutex<Option<Vec<OwnedRow>>>,
    compact_above: f64,
    /// Held by an upsert and by a save from start to end: a save lets the index read
    /// hnsw_rs's graph from the new generation and removes the old, which an upsert reading
    /// the graph from the old one meanwhile would miss.
    writing: Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Saves the index and lets it drop hnsw_rs's graph ([`PaperIndex::saved`]); an empty one is
/// not saved (hnsw_rs cannot dump an empty graph, and the next open rebuilds nothing in no
/// time).
pub fn save_unless_empty(index: &mut PaperIndex, dir: &Path, model_id: &str) -> Result<()> {
    if !index.is_empty() {
        let saved = index.save(dir, model_id)?;
        index.saved(saved);
    }
    Ok(())
}

impl HnswIndex {
    /// Serves `index`, saved in `dir` under `model_id`; `payloads` are the papers' days and
    /// categories, for filters. Past `compact_above` tombstones, [`VectorIndex::maintain`]
    /// compacts it.
    pub fn new(
        index: PaperIndex,
        payloads: HashMap<String, Payload>,
        dir: PathBuf,
        model_id: String,
        compact_above: f64,
    ) -> Self {
        Self {
            index: RwLock::new(index),
            payloads: RwLock::new(payloads),
            dir,
            model_id,
            dirty: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            compaction_log: Mutex::new(None),
            compact_above,
            writing: Mutex::new(()),
        }
    }

    /// Marks the index as changed since it was saved, so the next [`VectorIndex::flush`] saves
    /// it: for an index whose save failed.
    pub fn mark_unsaved(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The HNSW index itself, under a read lock.
    pub fn graph(&self) -> RwLockReadGuard<'_, PaperIndex> {
        read(&self.index)
    }

    /// When the index has grown or shrunk by a fifth since its ef was chosen (or never had it
    /// chosen), measures it again on this batch's new papers before they are inserted: true
    /// held-out queries. One read lock per query, so searches and other writers go on between
    /// them.
    fn recalibrate_before_insert(&self, rows: &[(&str, &[f32])]) {
        let (stale, new) = {
            let index = read(&self.index);
            let new: Vec<&[f32]> = rows
                .iter()
                .filter(|(id, _)| index.vector(id).is_none())
                .map(|(_, vector)| *vector)
                .collect();
            let after = index.len() + new.len();
            let stale = index.len() >= CALIBRATION_MIN_PAPERS && index.calibration_due(after);
            (stale, new)
        };
        if !stale || new.len() < RECALIBRATION_MIN_QUERIES {
            return;
        }
        let started = Instant::now();
        let mut tally = RecallTally::new(TARGET_RECALL, CALIBRATION_K);
        for query in new
            .iter()
            .step_by((new.len() / CALIBRATION_QUERIES).max(1))
            .take(CALIBRATION_QUERIES)
        {
            read(&self.index).tally_held_out(query, &mut tally);
        }
        if let Some(calibration) = tally.calibration() {
            write(&self.index).apply_calibration(calibration);
            self.dirty.store(true, Ordering::Relaxed);
            tracing::info!(
                ef = calibration.ef,
                recall = calibration.recall,
                queries = calibration.queries,
                papers = calibration.papers,
                seconds = started.elapsed().as_secs_f64(),
                "the index grew by a fifth: ef chosen again on new papers before inserting them"
            );
        }
    }

    /// Rebuilds the index without its tombstones, while searches go on against the old one:
    /// the live papers are copied out under a short read lock, the new graph is built without
    /// any lock, and papers upserted meanwhile are replayed into it before it replaces the old
    /// in one swap.
    fn compact(&self, ratio: f64) -> Result<()> {
        let started = Instant::now();
        let (dim, params, live) = {
            let index = read(&self.index);
            let live: Vec<OwnedRow> = index
                .live_papers()
                .map(|(id, v)| (id.to_owned(), v))
                .collect();
            (index.dim(), index.params(), live)
        };
        let mut fresh = PaperIndex::new(dim, params, live.len());
        let rows: Vec<(&str, &[f32])> = live
            .iter()
            .map(|(id, v)| (id.as_str(), v.as_slice()))
            .collect();
        // Built anew, so ef is chosen anew, on papers held back from the new graph.
        let (_, calibration) =
            fresh.upsert_and_calibrate(&rows, TARGET_RECALL, CALIBRATION_QUERIES, CALIBRATION_K)?;
        if !fresh.is_optimised() {
            fresh.optimise();
        }
        let mut index = write(&self.index);
        let replay = lock(&self.compaction_log).take().unwrap_or_default();
        if !replay.is_empty() {
            let rows: Vec<(&str, &[f32])> = replay
                .iter()
                .map(|(id, v)| (id.as_str(), v.as_slice()))
                .collect();
            fresh.upsert_batch(&rows)?;
            fresh.optimise();
        }
        *index = fresh;
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.dirty.store(true, Ordering::Relaxed);
        tracing::info!(
            tombstones = format!("{:.0}%", ratio * 100.0),
            papers = index.len(),
            replayed = replay.len(),
            ef = index.params().ef_search,
            calibrated = calibration.is_some(),
            seconds = started.elapsed().as_secs_f64(),
            "index compacted in the background"
        );
        Ok(())
    }
}

impl VectorIndex for HnswIndex {
    /// ef is chosen again first when due, the papers go in by chunks (logged for a compaction
    /// that runs meanwhile), and the flat copy is taken anew and swapped in.
    fn upsert(&self, papers: &[(&str, &[f32], Payload)]) -> Result<()> {
        let _writing = lock(&self.writing);
        {
            let mut payloads = write(&self.payloads);
            for (id, _, payload) in papers {
                payloads.insert((*id).to_owned(), payload.clone());
            }
        }
        let rows: Vec<(&str, &[f32])> = papers.iter().map(|(id, v, _)| (*id, *v)).collect();
        self.recalibrate_before_insert(&rows);
        // hnsw_rs's graph, when a save let it go, is read back while searches go on.
        let unchanged = {
            let index = read(&self.index);
            rows.iter().all(|(id, v)| index.holds(id, v))
        };
        if !unchanged {
            let loaded = read(&self.index).read_builder()?;
            if let Some(loaded) = loaded {
                write(&self.index).install_builder(loaded);
            }
        }
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let mut index = write(&self.index);
            index.upsert_batch(chunk)?;
            // Logged under the index's lock, so a compaction swapping the index in cannot
            // miss a chunk.
            if let Some(log) = lock(&self.compaction_log).as_mut() {
                log.extend(chunk.iter().map(|(id, v)| ((*id).to_owned(), v.to_vec())));
            }
        }
        if !unchanged {
            self.dirty.store(true, Ordering::Relaxed);
            // The flat copy is taken while searches go on, and swapped in at once; until
            // then searches use the graph itself, complete but slower.
            let generation = self.generation.load(Ordering::Acquire);
            let frozen = read(&self.index).frozen_copy();
            let mut index = write(&self.index);
            if self.generation.load(Ordering::Acquire) != generation || !index.install(frozen) {
                tracing::debug!("the index changed while it was copied; copied again next batch");
            }
        }
        Ok(())
    }

    fn set_payloads(&self, papers: &[(&str, Payload)]) {
        let mut payloads = write(&self.payloads);
        for (id, payload) in papers {
            if let Some(held) = payloads.get_mut(*id) {
                *held = payload.clone();
            }
        }
    }

    fn remove(&self, ids: &[&str]) -> Result<usize> {
        let mut removed = 0;
        {
            let mut index = write(&self.index);
            for id in ids {
                removed += usize::from(index.remove(id));
            }
        }
        let mut payloads = write(&self.payloads);
        for id in ids {
            payloads.remove(*id);
        }
        if removed > 0 {
            self.dirty.store(true, Ordering::Relaxed);
        }
        Ok(removed)
    }

    fn search(&self, query: &[f32], k: usize, filter: &SearchFilter) -> Result<Vec<Hit>> {
        let payloads = read(&self.payloads);
        let bounds = filter.bounds();
        let allow = |id: &str| bounds.admits(payloads.get(id));
        let filter = Filter {
            exclude: filter.exclude.iter().map(String::as_str).collect(),
            allow: if filter.reads_payloads() {
                Some(&allow)
            } else {
                None
            },
        };
        read(&self.index).search(query, k, &filter)
    }

    fn vector(&self, id: &str) -> Option<Vec<f32>> {
        read(&self.index).vector(id)
    }

    fn counts(&self) -> IndexCounts {
        let index = read(&self.index);
        IndexCounts {
            papers: index.len(),
            points: index.point_count(),
            tombstone_ratio: index.tombstone_ratio(),
        }
    }

    /// A compaction, when tombstones pass the threshold and none runs yet.
    fn maintain(&self) -> Result<bool> {
        let ratio = read(&self.index).tombstone_ratio();
        if ratio <= self.compact_above {
            return Ok(false);
        }
        {
            let mut log = lock(&self.compaction_log);
            if log.is_some() {
                return Ok(false);
            }
            *log = Some(Vec::new());
        }
        let compacted = self.compact(ratio);
        *lock(&self.compaction_log) = None;
        compacted.map(|()| true)
    }

    /// Saves the index if it changed since it was last saved, while searches go on, and lets
    /// it drop hnsw_rs's graph, which the saved generation holds.
    fn flush(&self) -> Result<()> {
        let _writing = lock(&self.writing);
        if self.dirty.swap(false, Ordering::Relaxed) {
            let generation = self.generation.load(Ordering::Acquire);
            let saved = {
                let index = read(&self.index);
                if index.is_empty() {
                    return Ok(());
                }
                index.save(&self.dir, &self.model_id)
            };
            match saved {
                // A compaction that swapped a new index in meanwhile saves it next time.
                Ok(saved) if self.generation.load(Ordering::Acquire) == generation => {
                    write(&self.index).saved(saved);
                }
                Ok(_) => self.dirty.store(true, Ordering::Relaxed),
                Err(err) => {
                    self.dirty.store(true, Ordering::Relaxed);
                    return Err(err);
                }
            }
        }
        Ok(())
    }
}
