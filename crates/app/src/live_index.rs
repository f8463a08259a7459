//! The index as paperscout keeps it: loaded from `<data-dir>/index/<model>/`, caught up with
//! the store, and rebuilt from the store (with a log line saying why) when missing, stale or
//! corrupt ([`open`]); and, for a process that keeps it open, [`LiveIndex`] with its
//! housekeeping. Each model has its own folder, so re-embedding with a new model builds its
//! index beside the current one. The policy numbers (target recall, calibration queries,
//! tombstone limit) are the constants of this module and nowhere else.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use paperscout_index::{Expected, IndexError, IndexParams, PaperIndex, RecallTally, Upsert};
use paperscout_store::{ModelKey, Store};

use crate::error::Result;

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
        let (changes, calibration) = index.upsert_and_calibrate(
            &batch,
            TARGET_RECALL,
            CALIBRATION_QUERIES,
            CALIBRATION_K,
        )?;
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
                index.calibrate_on_own_papers(TARGET_RECALL, CALIBRATION_QUERIES, CALIBRATION_K);
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
        save(&index, dir, &id)?;
    }
    opened.seconds = started.elapsed().as_secs_f64();
    Ok((index, opened))
}

/// Saves the index; an empty one is not saved (hnsw_rs cannot dump an empty graph, and the
/// next open rebuilds nothing from an empty store in no time).
fn save(index: &PaperIndex, dir: &Path, model_id: &str) -> Result<()> {
    if !index.is_empty() {
        index.save(dir, model_id)?;
    }
    Ok(())
}

/// Papers a search asks for at once, the calibration's k.
const CALIBRATION_K: usize = 10;

/// Fewest new papers in a batch for ef to be chosen again on them.
pub const RECALIBRATION_MIN_QUERIES: usize = 100;

/// Papers upserted under one write lock: searches wait for one chunk at a time, not a batch.
const UPSERT_CHUNK: usize = 64;

/// A paper id and its vector, owned.
type OwnedRow = (String, Vec<f32>);

/// The index a long-lived process serves from, with all of its housekeeping: searches under
/// a read lock, upserts in small chunks, the flat copy taken anew after each batch, ef chosen
/// again when the index has grown by a fifth, a compaction in the background while searches
/// go on, and a save when anything changed.
pub struct LiveIndex {
    index: RwLock<PaperIndex>,
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

impl LiveIndex {
    /// Opens (or rebuilds) the index of `model` in `data_dir` with [`open`]; past
    /// `compact_above` tombstones it is compacted in the background.
    pub fn open(
        store: &dyn Store,
        model: &ModelKey,
        data_dir: &Path,
        compact_above: f64,
    ) -> Result<(Self, Opened)> {
        let dir = dir_for(data_dir, model);
        let (index, opened) = open(store, model, &dir, IndexParams::default())?;
        let live = Self {
            index: RwLock::new(index),
            dir,
            model_id: model_id(model),
            dirty: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            compaction_log: Mutex::new(None),
            compact_above,
        };
        Ok((live, opened))
    }

    /// The index, for searches and reads, under a read lock.
    pub fn read(&self) -> RwLockReadGuard<'_, PaperIndex> {
        read(&self.index)
    }

    /// Upserts a committed batch's vectors: ef is chosen again first when due, the papers go
    /// in by chunks (logged for a compaction that runs meanwhile), and the flat copy is taken
    /// anew and swapped in.
    pub fn upsert(&self, rows: &[(&str, &[f32])]) -> Result<()> {
        self.recalibrate_before_insert(rows);
        for chunk in rows.chunks(UPSERT_CHUNK) {
            let mut index = write(&self.index);
            index.upsert_batch(chunk)?;
            // Logged under the index's lock, so a compaction swapping the index in cannot
            // miss a chunk.
            if let Some(log) = lock(&self.compaction_log).as_mut() {
                log.extend(chunk.iter().map(|(id, v)| ((*id).to_owned(), v.to_vec())));
            }
        }
        if !rows.is_empty() {
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
            let stale = index.len() >= paperscout_index::CALIBRATION_MIN_PAPERS
                && index.calibration_due(after);
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

    /// Rebuilds the index without its tombstones when they pass the threshold, while searches
    /// go on against the old one: the live papers are copied out under a short read lock, the
    /// new graph is built without any lock, and papers upserted meanwhile are replayed into it
    /// before it replaces the old in one swap. Returns whether it compacted.
    pub fn compact_if_needed(&self) -> Result<bool> {
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

    fn compact(&self, ratio: f64) -> Result<()> {
        let started = Instant::now();
        let (dim, params, live) = {
            let index = read(&self.index);
            let live: Vec<OwnedRow> = index
                .live_papers()
                .map(|(id, v)| (id.to_owned(), v.to_vec()))
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

    /// Saves the index if it changed since it was last saved.
    pub fn persist(&self) -> Result<()> {
        if self.dirty.swap(false, Ordering::Relaxed) {
            let saved = save(&read(&self.index), &self.dir, &self.model_id);
            if let Err(err) = saved {
                self.dirty.store(true, Ordering::Relaxed);
                return Err(err);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use paperscout_store::{MemoryStore, PaperWrite};

    use super::*;
    use crate::choose::TextEmbedder;
    use crate::testing::{self, Words};

    fn open_in(store: &MemoryStore, data_dir: &Path) -> (PaperIndex, Opened) {
        let key = Words::new().key().clone();
        open(
            store,
            &key,
            &dir_for(data_dir, &key),
            IndexParams::default(),
        )
        .expect("opened")
    }

    /// The saved index's points file, whichever generation is current.
    fn points_file(data_dir: &Path) -> PathBuf {
        let dir = dir_for(data_dir, Words::new().key());
        let current = fs_err::read_to_string(dir.join("CURRENT")).expect("a current generation");
        dir.join(current.trim()).join("points.bin")
    }

    #[test]
    fn the_index_is_built_once_then_loaded_then_caught_up_and_rebuilt_when_corrupt() {
        let mut store = testing::store();
        let data = tempfile::tempdir().expect("a temp dir");

        let (index, opened) = open_in(&store, data.path());
        assert_eq!(opened.rebuilt_because.as_deref(), Some("there is none yet"));
        assert_eq!((index.len(), opened.caught_up), (7, 7));

        let (index, opened) = open_in(&store, data.path());
        assert_eq!(opened.rebuilt_because, None, "the saved index is used");
        assert_eq!((index.len(), opened.caught_up), (7, 0));

        let paper = testing::paper("2503.10007", "2025-03-18", "Graph kernels", "Kernels.", &[]);
        let vector = Words::vector(&paper.embedding_text());
        let write = PaperWrite {
            paper: &paper,
            source: "test",
            embedding: Some(&vector),
        };
        store
            .write_papers(&[write], Some(Words::new().key()), 2)
            .expect("written");
        let (index, opened) = open_in(&store, data.path());
        assert_eq!((opened.rebuilt_because, opened.caught_up), (None, 1));
        assert_eq!(
            index.vector("arXiv:2503.10007").map(<[f32]>::len),
            Some(testing::DIM)
        );

        let points = points_file(data.path());
        let mut bytes = fs_err::read(&points).expect("readable");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs_err::write(&points, bytes).expect("written");
        let (index, opened) = open_in(&store, data.path());
        let why = opened.rebuilt_because.expect("rebuilt");
        assert!(why.contains("corrupt"), "{why}");
        assert_eq!(index.len(), 8, "every stored paper is back");
    }

    #[test]
    fn an_empty_store_opens_an_empty_index_that_searches_and_grows() {
        let store = MemoryStore::new();
        let data = tempfile::tempdir().expect("a temp dir");
        let key = Words::new().key().clone();
        let (live, opened) = LiveIndex::open(&store, &key, data.path(), TOMBSTONE_LIMIT)
            .expect("an empty store opens");
        assert_eq!(opened.rebuilt_because.as_deref(), Some("there is none yet"));
        let vector = Words::vector("graphs");
        let filter = paperscout_index::Filter::default();
        assert!(
            live.read()
                .search(&vector, 3, &filter)
                .expect("searched")
                .is_empty()
        );
        live.persist().expect("nothing to save is no error");
        live.upsert(&[("arXiv:2503.1", vector.as_slice())])
            .expect("upserted");
        live.persist().expect("saved");
        assert!(dir_for(data.path(), &key).join("CURRENT").is_file());
    }

    #[test]
    fn each_model_has_its_own_folder() {
        let key = Words::new().key().clone();
        let other = ModelKey {
            sha256: "1".repeat(64),
            ..key.clone()
        };
        let data = Path::new("/data");
        assert_ne!(dir_for(data, &key), dir_for(data, &other));
        assert!(dir_for(data, &key).starts_with("/data/index"));
        assert_eq!(model_id(&key), format!("words@{}", key.sha256));
    }

    #[test]
    fn a_live_index_saves_only_when_it_changed() {
        let store = testing::store();
        let data = tempfile::tempdir().expect("a temp dir");
        let key = Words::new().key().clone();
        let (live, _) = LiveIndex::open(&store, &key, data.path(), TOMBSTONE_LIMIT).expect("open");
        let saved = fs_err::read_to_string(dir_for(data.path(), &key).join("CURRENT"))
            .expect("saved at open");
        live.persist().expect("nothing to save");
        let unchanged = fs_err::read_to_string(dir_for(data.path(), &key).join("CURRENT"))
            .expect("still there");
        assert_eq!(saved, unchanged, "no new generation without a change");

        let vector = Words::vector("graph kernels for molecules");
        live.upsert(&[("arXiv:2503.20000", vector.as_slice())])
            .expect("upserted");
        let hits = live
            .read()
            .search(&vector, 1, &paperscout_index::Filter::default())
            .expect("searched");
        assert_eq!(hits[0].id, "arXiv:2503.20000");
        live.persist().expect("saved");
        let after =
            fs_err::read_to_string(dir_for(data.path(), &key).join("CURRENT")).expect("saved");
        assert_ne!(saved, after, "a new generation");
        assert!(
            !live.compact_if_needed().expect("checked"),
            "no tombstones yet"
        );
    }
}
