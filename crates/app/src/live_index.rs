//! The index as paperscout keeps it: loaded from `<data-dir>/index/<model>/`, caught up with
//! the store, and rebuilt from the store (with a log line saying why) when missing, stale or
//! corrupt ([`open`]); and, for a process that keeps it open, the same served with its
//! housekeeping ([`open_served`], an `HnswIndex`). Each model has its own folder, so
//! re-embedding with a new model builds its index beside the current one. The policy numbers
//! (target recall, calibration queries, tombstone limit) are `paperscout_index::hnsw`'s.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use paperscout_index::hnsw::{
    CALIBRATION_K, CALIBRATION_QUERIES, TARGET_RECALL, TOMBSTONE_LIMIT, save_unless_empty,
};
use paperscout_index::{Expected, HnswIndex, IndexError, IndexParams, PaperIndex, Payload, Upsert};
use paperscout_store::{ModelKey, Store};

use crate::error::Result;

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
    /// Why the changed index could not be saved, if it could not: it is whole in memory, and
    /// a long-lived process saves it again later.
    pub unsaved_because: Option<String>,
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
        .live_ids()
        .filter(|id| !stored.contains(*id))
        .map(str::to_owned)
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
        // A disk that is full or read-only costs the saved copy, not the index: it is rebuilt
        // or caught up in memory, and saving is tried again later.
        if let Err(err) = save_unless_empty(&mut index, dir, &id) {
            tracing::warn!(
                "the index could not be saved ({err}); it is served from memory and saved \
                 again later; free some space or fix the folder's permissions"
            );
            opened.unsaved_because = Some(err.to_string());
        }
    }
    opened.seconds = started.elapsed().as_secs_f64();
    Ok((index, opened))
}

/// Opens the index of `model` in `data_dir` with [`open`], to be served with its
/// housekeeping: `payloads` are the stored papers' days and categories, for filters; past
/// `compact_above` tombstones it is compacted in the background.
pub fn open_served(
    store: &dyn Store,
    model: &ModelKey,
    data_dir: &Path,
    payloads: HashMap<String, Payload>,
    compact_above: f64,
) -> Result<(HnswIndex, Opened)> {
    let dir = dir_for(data_dir, model);
    let (index, opened) = open(store, model, &dir, IndexParams::default())?;
    let served = HnswIndex::new(index, payloads, dir, model_id(model), compact_above);
    if opened.unsaved_because.is_some() {
        // `flush` tries again.
        served.mark_unsaved();
    }
    Ok((served, opened))
}

#[cfg(test)]
mod tests {
    use paperscout_index::{SearchFilter, VectorIndex};
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

    /// Stores and embeds an eighth paper, `arXiv:2503.10007`.
    fn add_graph_kernels(store: &mut MemoryStore) {
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
    }

    /// The saved index's points file, whichever generation is current.
    fn points_file(data_dir: &Path) -> PathBuf {
        let dir = dir_for(data_dir, Words::new().key());
        let current = fs_err::read_to_string(dir.join("CURRENT")).expect("a current generation");
        dir.join(current.trim()).join("points.bin")
    }

    /// Issue 25, defects 12 and 14: an index that could not be saved at start (a full disk, a
    /// read-only folder, a file in the folder's place) stopped the daemon, and a partial
    /// generation was left behind; a damaged `CURRENT` was logged as "there is none yet".
    #[test]
    fn an_index_that_cannot_be_saved_is_served_and_a_damaged_current_is_named() {
        let mut store = testing::store();
        let data = tempfile::tempdir().expect("a temp dir");
        let dir = dir_for(data.path(), Words::new().key());
        fs_err::create_dir_all(dir.parent().expect("a parent")).expect("index/");
        fs_err::write(&dir, "not a folder").expect("a file in the folder's place");
        let (index, opened) = open_in(&store, data.path());
        assert_eq!(index.len(), 7, "served from memory");
        assert!(opened.unsaved_because.is_some());
        fs_err::remove_file(&dir).expect("removed");

        let (_, opened) = open_in(&store, data.path());
        assert_eq!(opened.unsaved_because, None);
        add_graph_kernels(&mut store);
        // The switch to the new generation fails: the generation written for it goes.
        fs_err::create_dir(dir.join("CURRENT.tmp")).expect("in the way");
        let (index, opened) = open_in(&store, data.path());
        assert_eq!(index.len(), 8);
        assert!(opened.unsaved_because.is_some());
        let generations: Vec<String> = fs_err::read_dir(&dir)
            .expect("listed")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("gen-"))
            .collect();
        assert_eq!(generations, ["gen-1"], "no partial generation is left");
        fs_err::remove_dir(dir.join("CURRENT.tmp")).expect("removed");

        fs_err::write(dir.join("CURRENT"), "garbage\n").expect("damaged");
        let (index, opened) = open_in(&store, data.path());
        let why = opened.rebuilt_because.expect("rebuilt");
        assert!(why.contains("names no generation"), "{why}");
        assert_eq!(index.len(), 8);
        let current = fs_err::read_to_string(dir.join("CURRENT")).expect("saved again");
        assert_eq!(current.trim(), "gen-2", "past every generation on disk");
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

        add_graph_kernels(&mut store);
        let (index, opened) = open_in(&store, data.path());
        assert_eq!((opened.rebuilt_because, opened.caught_up), (None, 1));
        assert_eq!(
            index.vector("arXiv:2503.10007").map(|v| v.len()),
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

    /// The stored papers' payloads, as the daemon reads them with its catalogue.
    fn payloads(store: &MemoryStore) -> HashMap<String, Payload> {
        store
            .papers_announced("0000-01-01", "9999-12-31")
            .expect("papers")
            .into_iter()
            .map(|stored| (stored.paper.id.clone(), Payload::of(&stored.paper)))
            .collect()
    }

    #[test]
    fn an_empty_store_opens_an_empty_index_that_searches_and_grows() {
        let store = MemoryStore::new();
        let data = tempfile::tempdir().expect("a temp dir");
        let key = Words::new().key().clone();
        let (live, opened) =
            open_served(&store, &key, data.path(), HashMap::new(), TOMBSTONE_LIMIT)
                .expect("an empty store opens");
        assert_eq!(opened.rebuilt_because.as_deref(), Some("there is none yet"));
        let vector = Words::vector("graphs");
        let everything = SearchFilter::default();
        assert!(
            live.search(&vector, 3, &everything)
                .expect("searched")
                .is_empty()
        );
        live.flush().expect("nothing to save is no error");
        live.upsert(&[("arXiv:2503.1", vector.as_slice(), Payload::default())])
            .expect("upserted");
        live.flush().expect("saved");
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
    fn a_served_index_filters_by_payload_and_saves_only_when_it_changed() {
        let store = testing::store();
        let data = tempfile::tempdir().expect("a temp dir");
        let key = Words::new().key().clone();
        let (live, _) = open_served(&store, &key, data.path(), payloads(&store), TOMBSTONE_LIMIT)
            .expect("open");
        let current = || fs_err::read_to_string(dir_for(data.path(), &key).join("CURRENT"));
        let saved = current().expect("saved at open");
        // Issue 21: once saved, hnsw_rs's graph is left on disk until something is inserted.
        assert!(!live.graph().builder_resident(), "saved at open: let go");
        live.flush().expect("nothing to save");
        assert_eq!(
            saved,
            current().expect("still there"),
            "no change, no generation"
        );

        let query = Words::vector("graph networks for molecules");
        let ids = |filter: &SearchFilter| -> Vec<String> {
            let hits = live.search(&query, 7, filter).expect("searched");
            hits.into_iter().map(|hit| hit.id).collect()
        };
        let all = ids(&SearchFilter::default());
        assert_eq!(all.len(), 7);
        let recent = ids(&SearchFilter {
            since: Some("2025-03-18".to_owned()),
            exclude: vec!["arXiv:2503.10001".to_owned()],
            ..SearchFilter::default()
        });
        assert_eq!(
            recent.len(),
            5,
            "the profile paper is older, one is excluded"
        );
        assert!(
            !recent
                .iter()
                .any(|id| id == "arXiv:2503.00001" || id == "arXiv:2503.10001")
        );
        let physics = ids(&SearchFilter {
            categories: vec!["physics".to_owned()],
            ..SearchFilter::default()
        });
        assert_eq!(physics, ["arXiv:2503.10002"]);

        let vector = Words::vector("graph kernels for molecules");
        let payload = Payload {
            date: Some("2025-03-19".to_owned()),
            categories: vec!["physics.chem-ph".to_owned()],
        };
        live.upsert(&[("arXiv:2503.20000", vector.as_slice(), payload)])
            .expect("upserted");
        assert!(live.graph().builder_resident(), "read back to insert");
        // Every point asked for: on a graph this small, a top-1 search can end in a local
        // optimum depending on the random levels of its nodes (it did once under load).
        let hits = live
            .search(&vector, 8, &SearchFilter::default())
            .expect("searched");
        assert!(
            hits.iter().any(|hit| hit.id == "arXiv:2503.20000"),
            "the upserted paper is found: {hits:?}"
        );
        assert_eq!(
            ids(&SearchFilter {
                categories: vec!["physics".to_owned()],
                ..SearchFilter::default()
            })
            .len(),
            2
        );
        live.flush().expect("saved");
        assert_ne!(saved, current().expect("saved"), "a new generation");
        assert!(
            !live.graph().builder_resident(),
            "saved again: let go again"
        );
        assert_eq!(
            live.remove(&["arXiv:2503.20000", "nope"]).expect("removed"),
            1
        );
        assert_eq!((live.counts().papers, live.counts().points), (7, 8));
        assert!(
            live.maintain().expect("compacted"),
            "one tombstone of eight is over 10%"
        );
        assert_eq!(
            (live.counts().points, live.counts().tombstone_ratio),
            (7, 0.0)
        );
        assert!(!live.maintain().expect("checked"), "nothing more to do");
        assert_eq!(
            ids(&SearchFilter::default()),
            all,
            "the same answers after compaction"
        );
    }
}
