//! The index on real embeddings: the peer's vectors of the sample-2k papers, plus perturbed
//! copies of them, against the exact search.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use paperscout_index::{
    EF_LADDER, Filter, IndexError, IndexParams, PaperIndex, RecallTally, Upsert, dot, f16_rows,
};

const DIM: usize = 384;
const REAL: usize = 2000;
const PERTURBED: usize = 20_000;
/// Real papers after the sample, never indexed: the queries of the recall test.
const HELD_OUT: usize = 200;

/// A small deterministic generator, so every run perturbs the same way.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    /// `base` plus uniform noise of the given amplitude, back on the unit sphere.
    fn perturb(&mut self, base: &[f32], amplitude: f32) -> Vec<f32> {
        let mut v: Vec<f32> = base.iter().map(|x| x + amplitude * self.next()).collect();
        let norm = dot(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

/// The first 2,200 rows of the shared embeddings: the 2,000 papers of sample-2k.jsonl, then
/// 200 held-out papers.
fn real_vectors() -> Option<&'static [Vec<f32>]> {
    static VECTORS: OnceLock<Option<Vec<Vec<f32>>>> = OnceLock::new();
    VECTORS
        .get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/arxiv-cs/embeddings/all-MiniLM-L6-v2.f16");
            let Ok(bytes) = std::fs::read(&path) else {
                eprintln!(
                    "\n!!!!! SKIPPED: {} is missing: the index tests need the shared data !!!!!\n",
                    path.display()
                );
                return None;
            };
            Some(f16_rows(&bytes[..(REAL + HELD_OUT) * DIM * 2], DIM).unwrap())
        })
        .as_deref()
}

/// 22,000 papers: the real 2,000 and 20,000 perturbed copies, built once for every test.
fn big_index() -> Option<&'static PaperIndex> {
    static INDEX: OnceLock<Option<PaperIndex>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            let vectors = real_and_perturbed(real_vectors()?, PERTURBED, &mut Noise(0x5eed));
            let mut index = PaperIndex::new(DIM, IndexParams::default(), vectors.len());
            index.upsert_batch(&borrowed(&vectors)).unwrap();
            Some(index)
        })
        .as_ref()
}

/// The real 2,000 papers (`real-I`), then `perturbed` copies of them (`perturbed-J`).
fn real_and_perturbed(
    real: &[Vec<f32>],
    perturbed: usize,
    noise: &mut Noise,
) -> Vec<(String, Vec<f32>)> {
    let mut vectors: Vec<(String, Vec<f32>)> = real[..REAL]
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("real-{i}"), v.clone()))
        .collect();
    for j in 0..perturbed {
        vectors.push((
            format!("perturbed-{j}"),
            noise.perturb(&real[j % REAL], 0.1),
        ));
    }
    vectors
}

/// Owned papers as an upsert takes them.
fn borrowed(vectors: &[(String, Vec<f32>)]) -> Vec<(&str, &[f32])> {
    vectors
        .iter()
        .map(|(id, v)| (id.as_str(), v.as_slice()))
        .collect()
}

fn ids(hits: &[paperscout_index::Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

#[test]
fn recall_at_10_against_exact_search() {
    let (Some(index), Some(real)) = (big_index(), real_vectors()) else {
        return;
    };
    assert_eq!(index.len(), REAL + PERTURBED);
    let queries = HELD_OUT;
    let mut found = 0;
    for query in &real[REAL..] {
        let approximate = index.search(query, 10, &Filter::default()).unwrap();
        let exact = index.exact_search(query, 10, &Filter::default()).unwrap();
        assert_eq!(exact.len(), 10);
        let truth: HashSet<&str> = ids(&exact).into_iter().collect();
        found += ids(&approximate)
            .iter()
            .filter(|id| truth.contains(*id))
            .count();
        assert!(
            approximate.windows(2).all(|w| w[0].score >= w[1].score),
            "best first"
        );
    }
    let recall = found as f64 / (queries * 10) as f64;
    eprintln!(
        "recall@10 at ef {}: {recall:.4}",
        IndexParams::default().ef_search
    );
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn a_paper_queried_with_its_own_vector_comes_first() {
    let (Some(index), Some(real)) = (big_index(), real_vectors()) else {
        return;
    };
    for i in (0..REAL).step_by(100) {
        let hits = index.search(&real[i], 5, &Filter::default()).unwrap();
        assert_eq!(hits[0].id, format!("real-{i}"));
        // The stored vector is in half precision: its cosine with the query is within 2e-4.
        assert!((hits[0].score - 1.0).abs() < 2e-4, "{}", hits[0].score);
        assert!(hits[0].score <= 1.0, "a cosine");
    }
}

#[test]
fn filters_admit_exactly_what_they_allow_and_still_return_k() {
    let (Some(index), Some(real)) = (big_index(), real_vectors()) else {
        return;
    };
    let query = &real[42];
    // Exclusion: the query paper itself.
    let filter = Filter {
        exclude: HashSet::from(["real-42"]),
        allow: None,
    };
    let hits = index.search(query, 10, &filter).unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.id != "real-42"));

    // A restrictive predicate: 15 papers far from the query are allowed.
    let allowed: HashSet<String> = (0..15).map(|i| format!("real-{}", 1000 + i * 61)).collect();
    let allow = |id: &str| allowed.contains(id);
    let filter = Filter {
        exclude: HashSet::new(),
        allow: Some(&allow),
    };
    let hits = index.search(query, 10, &filter).unwrap();
    assert_eq!(hits.len(), 10, "k results whenever k papers are allowed");
    assert!(hits.iter().all(|h| allowed.contains(&h.id)));
    assert_eq!(
        ids(&hits),
        ids(&index.exact_search(query, 10, &filter).unwrap())
    );
    let all = index.search(query, 50, &filter).unwrap();
    assert_eq!(all.len(), 15, "no more than the filter allows");
}

#[test]
fn upserts_are_idempotent_and_replacements_leave_tombstones_unseen() {
    let Some(real) = real_vectors() else { return };
    let mut index = PaperIndex::new(DIM, IndexParams::default(), 300);
    let papers: Vec<(String, &[f32])> = real[..300]
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("p{i}"), v.as_slice()))
        .collect();
    let batch: Vec<(&str, &[f32])> = papers.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    assert!(
        index
            .upsert_batch(&batch)
            .unwrap()
            .iter()
            .all(|u| *u == Upsert::Added)
    );
    assert!(
        index
            .upsert_batch(&batch)
            .unwrap()
            .iter()
            .all(|u| *u == Upsert::Unchanged)
    );
    assert_eq!(index.len(), 300);
    assert_eq!(index.tombstone_ratio(), 0.0);

    // p7 moves to p8's neighbourhood; its old position must never be returned.
    let moved = Noise(7).perturb(&real[8], 0.01);
    assert_eq!(index.upsert("p7", &moved).unwrap(), Upsert::Replaced);
    assert_eq!(index.len(), 300);
    assert!(index.tombstone_ratio() > 0.0);
    for hits in [
        index.search(&real[7], 300, &Filter::default()).unwrap(),
        index
            .exact_search(&real[7], 300, &Filter::default())
            .unwrap(),
    ] {
        let p7: Vec<_> = hits.iter().filter(|h| h.id == "p7").collect();
        assert_eq!(p7.len(), 1, "one live point per paper");
        // Scores are cosines: the query is normalised, `moved` already is.
        let expected = dot(&real[7], &moved) / dot(&real[7], &real[7]).sqrt();
        assert!(
            (p7[0].score - expected).abs() < 2e-4,
            "the new vector's score, within half precision's error"
        );
    }

    assert!(index.remove("p3"));
    assert!(!index.remove("p3"));
    let hits = index.search(&real[3], 300, &Filter::default()).unwrap();
    assert!(
        hits.iter().all(|h| h.id != "p3"),
        "removed papers never appear"
    );
    assert_eq!(index.len(), 299);
}

#[test]
fn a_large_batch_inserted_in_its_own_order_reports_and_stores_each_paper_where_it_was() {
    let Some(real) = real_vectors() else { return };
    // Over the size from which a batch is inserted with similar papers together.
    let papers = real_and_perturbed(real, 3000, &mut Noise(0xba7c));
    let mut index = PaperIndex::new(DIM, IndexParams::default(), papers.len());
    let changes = index.upsert_batch(&borrowed(&papers)).unwrap();
    assert!(changes.iter().all(|c| *c == Upsert::Added) && changes.len() == 5000);
    index.optimise();
    for (id, vector) in papers.iter().step_by(97) {
        let norm = dot(vector, vector).sqrt();
        let stored = index.vector(id).unwrap();
        assert!(
            stored
                .iter()
                .zip(vector)
                .all(|(s, v)| (s - v / norm).abs() < 1e-3),
            "{id} keeps its own vector, in half precision"
        );
        assert_eq!(
            index.search(vector, 1, &Filter::default()).unwrap()[0].id,
            *id
        );
    }

    // The same batch again, with one paper moved and 4,500 new ones after it: each change is
    // reported at its paper's position.
    let mut again = papers.clone();
    again[1234].1 = Noise(3).perturb(&real[5], 0.01);
    again.extend(
        real_and_perturbed(real, 4500, &mut Noise(0xfeed))
            .into_iter()
            .skip(2000)
            .map(|(id, v)| (format!("new-{id}"), v)),
    );
    let changes = index.upsert_batch(&borrowed(&again)).unwrap();
    assert_eq!(changes[1234], Upsert::Replaced);
    assert!(
        changes[..5000]
            .iter()
            .enumerate()
            .all(|(i, c)| i == 1234 || *c == Upsert::Unchanged)
    );
    assert!(changes[5000..].iter().all(|c| *c == Upsert::Added));
    assert_eq!(index.len(), 9500);
}

#[test]
fn wrong_vectors_are_refused_with_the_paper_named() {
    let mut index = PaperIndex::new(DIM, IndexParams::default(), 1);
    let err = index.upsert("short", &[1.0; 12]).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Dimension {
                expected: 384,
                actual: 12,
                ..
            }
        ),
        "{err}"
    );
    let mut bad = vec![0.0; DIM];
    bad[3] = f32::NAN;
    let err = index.upsert("nan", &bad).unwrap_err();
    assert!(err.to_string().contains("nan"), "{err}");
    let err = index.upsert("zero", &[0.0; DIM]).unwrap_err();
    assert!(matches!(err, IndexError::Zero { .. }), "{err}");
    assert!(index.is_empty());
    assert!(
        index
            .search(&[1.0; DIM], 5, &Filter::default())
            .unwrap()
            .is_empty()
    );
    // A daemon on an empty store optimises an empty index: hnsw_rs's own iterator panics there.
    index.optimise();
    assert!(!index.is_optimised(), "nothing to walk");
    assert!(
        index
            .search(&[1.0; DIM], 5, &Filter::default())
            .unwrap()
            .is_empty()
    );
}

/// An index of 600 random unit vectors (no shared data needed), one replaced, one removed.
fn small_index() -> (PaperIndex, Vec<(String, Vec<f32>)>) {
    let mut noise = Noise(0xfeed);
    let zero = vec![0.0; 32];
    let vectors: Vec<(String, Vec<f32>)> = (0..600)
        .map(|i| (format!("p{i}"), noise.perturb(&zero, 2.0)))
        .collect();
    let mut index = PaperIndex::new(32, IndexParams::default(), vectors.len());
    let batch: Vec<(&str, &[f32])> = vectors
        .iter()
        .map(|(id, v)| (id.as_str(), v.as_slice()))
        .collect();
    index.upsert_batch(&batch).unwrap();
    index.upsert("p1", &vectors[2].1).unwrap();
    assert!(index.remove("p3"));
    (index, vectors)
}

fn expected(model: &str) -> paperscout_index::Expected<'_> {
    paperscout_index::Expected {
        model,
        dim: 32,
        params: IndexParams::default(),
    }
}

#[test]
fn a_saved_index_loads_back_with_the_same_answers_and_tombstones() {
    let (mut index, vectors) = small_index();
    index.optimise();
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path(), "model-a").unwrap();
    let mut loaded = PaperIndex::load(dir.path(), &expected("model-a")).unwrap();
    assert_eq!(
        (loaded.len(), loaded.point_count()),
        (index.len(), index.point_count())
    );
    assert!(
        loaded.is_optimised() && !loaded.builder_resident(),
        "searches walk the saved flat graph; hnsw_rs's is left on disk"
    );
    let only_some = |id: &str| !id.ends_with('7');
    for (_, query) in vectors.iter().step_by(7) {
        // The same papers with the same scores, filtered or not.
        let before = index.search(query, 10, &Filter::default()).unwrap();
        let after = loaded.search(query, 10, &Filter::default()).unwrap();
        assert_eq!(before, after);
        let filter = || Filter {
            exclude: HashSet::from(["p0", "p1"]),
            allow: Some(&only_some),
        };
        let before = index.search(query, 5, &filter()).unwrap();
        assert_eq!(before, loaded.search(query, 5, &filter()).unwrap());
        assert!(
            before
                .iter()
                .all(|hit| only_some(&hit.id) && hit.id != "p0")
        );
        let exact = loaded.exact_search(query, 10, &Filter::default()).unwrap();
        assert_eq!(
            exact,
            index.exact_search(query, 10, &Filter::default()).unwrap()
        );
        assert!(!ids(&exact).contains(&"p3"), "a removed paper came back");
    }
    assert_eq!(
        loaded.vector("p1"),
        index.vector("p1"),
        "the replacement survives"
    );
    // A removal is saved without hnsw_rs's graph in memory: its dump comes from the
    // generation it was read from. A second save makes a new generation, dropping the old.
    assert!(loaded.remove("p5"));
    let second = loaded.save(dir.path(), "model-a").unwrap();
    assert!(second.dir.ends_with("gen-2"));
    assert!(!dir.path().join("gen-1").exists());
    assert!(!loaded.saved(second) && !loaded.builder_resident());
    let mut again = PaperIndex::load(dir.path(), &expected("model-a")).unwrap();
    assert_eq!(again.vector("p5"), None);
    // Inserting reads hnsw_rs's graph back from the saved generation; the new paper is found
    // and the old ones still are.
    let fresh: Vec<f32> = vectors[9].1.iter().map(|x| -x).collect();
    assert_eq!(again.upsert("new", &fresh).unwrap(), Upsert::Added);
    assert!(again.builder_resident() && !again.is_optimised());
    assert_eq!(
        again.search(&fresh, 1, &Filter::default()).unwrap()[0].id,
        "new"
    );
    again.optimise();
    assert_eq!(
        again.search(&fresh, 1, &Filter::default()).unwrap()[0].id,
        "new"
    );
    assert_eq!(
        again.search(&vectors[20].1, 1, &Filter::default()).unwrap()[0].id,
        vectors[20].0
    );
    let third = again.save(dir.path(), "model-a").unwrap();
    assert!(
        again.saved(third),
        "saved after the insert: hnsw_rs's graph is let go"
    );
    assert_eq!(again.memory().builder_graph, 0);
    let last = PaperIndex::load(dir.path(), &expected("model-a")).unwrap();
    assert_eq!(last.len(), index.len());
    assert_eq!(
        last.search(&fresh, 1, &Filter::default()).unwrap()[0].id,
        "new"
    );
}

#[test]
fn a_missing_stale_truncated_or_altered_index_is_refused_with_the_reason() {
    let (index, _) = small_index();
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        PaperIndex::load(dir.path(), &expected("model-a")),
        Err(IndexError::Missing { .. })
    ));
    let gen_dir = index.save(dir.path(), "model-a").unwrap();

    let err = PaperIndex::load(dir.path(), &expected("model-b"))
        .err()
        .unwrap();
    assert!(matches!(err, IndexError::Stale { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("built with model model-a where model-b is in use"),
        "{err}"
    );
    let mut other_params = expected("model-a");
    other_params.params.max_connections = 32;
    assert!(matches!(
        PaperIndex::load(dir.path(), &other_params),
        Err(IndexError::Stale { .. })
    ));

    for file in [
        "points.bin",
        "frozen.bin",
        "graph.hnsw.graph",
        "graph.hnsw.data",
    ] {
        let path = gen_dir.dir.join(file);
        let original = std::fs::read(&path).unwrap();
        // Truncated.
        std::fs::write(&path, &original[..original.len() / 2]).unwrap();
        let err = PaperIndex::load(dir.path(), &expected("model-a"))
            .err()
            .unwrap();
        assert!(matches!(err, IndexError::Corrupt { .. }), "{file}: {err}");
        assert!(err.to_string().contains(&format!("{file} has")), "{err}");
        // One bit flipped, same length.
        let mut flipped = original.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        // hnsw_rs's dump is read, and checked, only before an insert.
        let err = if file.starts_with("graph.") {
            let mut loaded = PaperIndex::load(dir.path(), &expected("model-a")).unwrap();
            loaded.upsert("new", &[0.5; 32]).err().unwrap()
        } else {
            PaperIndex::load(dir.path(), &expected("model-a"))
                .err()
                .unwrap()
        };
        assert!(
            err.to_string()
                .contains(&format!("{file} does not match its")),
            "{err}"
        );
        std::fs::write(&path, &original).unwrap();
    }
    std::fs::write(gen_dir.dir.join("manifest.json"), "{").unwrap();
    let err = PaperIndex::load(dir.path(), &expected("model-a"))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("the manifest is malformed"),
        "{err}"
    );
}

#[test]
fn compaction_drops_tombstones_and_keeps_the_answers() {
    let (mut index, vectors) = small_index();
    // Replace a fifth of the papers: their old points become tombstones.
    for (i, (id, _)) in vectors.iter().enumerate().take(120) {
        index.upsert(id, &vectors[599 - i].1).unwrap();
    }
    assert!(
        index.tombstone_ratio() > 0.15,
        "{}",
        index.tombstone_ratio()
    );
    let compact = index.compacted().unwrap();
    assert_eq!(compact.tombstone_ratio(), 0.0);
    assert_eq!(
        (compact.len(), compact.point_count()),
        (index.len(), index.len())
    );
    for (_, query) in vectors.iter().step_by(41) {
        let before = index.exact_search(query, 10, &Filter::default()).unwrap();
        let after = compact.exact_search(query, 10, &Filter::default()).unwrap();
        assert_eq!(ids(&before), ids(&after));
    }
}

#[test]
fn calibration_picks_the_smallest_ef_reaching_the_target_and_is_saved() {
    let Some(real) = real_vectors() else {
        return;
    };
    let (mut small, _) = small_index();
    assert!(
        small.calibrate_on_own_papers(0.9, 100, 10).is_none(),
        "600 papers are too few to calibrate"
    );
    // 5,000 papers: the real 2,000 and 3,000 perturbed copies, 200 of them held back to
    // calibrate while the rest are inserted.
    let mut noise = Noise(0xca1);
    let vectors = real_and_perturbed(real, 3000, &mut noise);
    let mut index = PaperIndex::new(DIM, IndexParams::default(), vectors.len());
    let batch = borrowed(&vectors);
    let (changes, calibration) = index.upsert_and_calibrate(&batch, 0.97, 200, 10).unwrap();
    let built = calibration.unwrap();
    assert!(changes.iter().all(|c| *c == Upsert::Added) && changes.len() == 5000);
    assert_eq!(index.len(), 5000, "the held-back papers are inserted after");
    assert!(index.is_optimised());
    assert!(
        built.held_out && built.queries == 200 && built.papers == 4800,
        "{built:?}"
    );
    assert!(built.recall >= 0.97, "{built:?}");
    assert_eq!(index.params().ef_search, built.ef);
    for (id, vector) in batch.iter().step_by(97) {
        let hits = index.search(vector, 1, &Filter::default()).unwrap();
        assert_eq!(hits[0].id, *id, "a held-back paper is in the graph");
    }

    // The ladder, on the 200 real papers never indexed.
    let held_out: Vec<&[f32]> = real[REAL..REAL + HELD_OUT]
        .iter()
        .map(Vec::as_slice)
        .collect();
    let first = index.calibrate(&held_out, 0.0, 10).unwrap();
    assert_eq!(
        first.ef, EF_LADDER[0],
        "any recall will do: the smallest ef"
    );
    let next = index.calibrate(&held_out, first.recall + 1e-9, 10).unwrap();
    assert!(
        next.ef > first.ef && next.recall > first.recall,
        "just above what the smallest gives: {first:?} then {next:?}"
    );
    let out_of_reach = index.calibrate(&held_out, 1.01, 10).unwrap();
    assert_eq!(out_of_reach.ef, *EF_LADDER.last().unwrap());
    assert!(out_of_reach.recall >= next.recall);

    // Tallied one query at a time, as a server does between searches: the same result.
    let mut tally = RecallTally::new(0.97, 10);
    assert_eq!(tally.calibration(), None, "no query yet");
    for query in &held_out {
        index.tally_held_out(query, &mut tally);
    }
    assert_eq!(tally.queries(), HELD_OUT);
    assert_eq!(tally.calibration(), index.calibrate(&held_out, 0.97, 10));

    // The ef chosen while building holds on those papers too.
    index.apply_calibration(built);
    let mut found = 0;
    for query in &held_out {
        let approximate = index.search(query, 10, &Filter::default()).unwrap();
        let exact = index.exact_search(query, 10, &Filter::default()).unwrap();
        let truth: HashSet<&str> = ids(&exact).into_iter().collect();
        found += ids(&approximate)
            .iter()
            .filter(|id| truth.contains(*id))
            .count();
    }
    let recall = found as f64 / (HELD_OUT * 10) as f64;
    eprintln!("built with {built:?}; recall@10 of papers never indexed there: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");

    // Stored papers blocked from their own search: the fallback, harder than new papers.
    let own = index.calibrate_on_own_papers(0.97, 200, 10).unwrap();
    eprintln!("on its own papers: {own:?}");
    assert!(!own.held_out && own.papers == 5000);
    assert!(own.recall >= 0.97 || own.ef == *EF_LADDER.last().unwrap());

    // Saved with the index, and searched with again after a load.
    index.apply_calibration(built);
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path(), "model-a").unwrap();
    let expected = paperscout_index::Expected {
        model: "model-a",
        dim: DIM,
        params: IndexParams::default(),
    };
    let mut loaded = PaperIndex::load(dir.path(), &expected).unwrap();
    assert_eq!(loaded.calibration(), Some(built));
    loaded.apply_calibration(built);
    assert_eq!(loaded.params().ef_search, built.ef);
    assert!(built.is_fresh_for(5500) && !built.is_fresh_for(6000));

    // A later batch: new papers held back and added, a replacement and a repeat reported.
    let mut later: Vec<(String, Vec<f32>)> = (0..150)
        .map(|j| (format!("later-{j}"), noise.perturb(&real[j], 0.1)))
        .collect();
    later.push(("real-0".to_owned(), real[1].clone()));
    later.push(("real-5".to_owned(), real[5].clone()));
    let batch = borrowed(&later);
    let (changes, again) = loaded.upsert_and_calibrate(&batch, 0.97, 50, 10).unwrap();
    assert!(again.is_some_and(|c| c.held_out && c.queries == 50));
    assert!(changes[..150].iter().all(|c| *c == Upsert::Added));
    assert_eq!(changes[150..], [Upsert::Replaced, Upsert::Unchanged]);
    assert_eq!(loaded.len(), 5150);
}

#[test]
fn a_paper_twice_in_one_batch_meets_its_earlier_entry() {
    let (mut index, vectors) = small_index();
    let points = index.point_count();
    let (a, b) = (vectors[10].1.as_slice(), vectors[11].1.as_slice());
    let changes = index
        .upsert_batch(&[("twice", a), ("twice", a), ("p10", b), ("p10", a)])
        .unwrap();
    assert_eq!(
        changes,
        [
            Upsert::Added,
            Upsert::Unchanged,
            Upsert::Replaced,
            Upsert::Replaced
        ]
    );
    // One point for "twice"; two for p10's replacements, the first a tombstone already.
    assert_eq!(index.point_count(), points + 3);
    assert!(index.holds("twice", a) && index.holds("p10", a));
}

#[test]
fn holds_says_whether_an_upsert_would_change_nothing() {
    let (index, vectors) = small_index();
    let doubled: Vec<f32> = vectors[0].1.iter().map(|x| 2.0 * x).collect();
    assert!(index.holds("p0", &vectors[0].1));
    assert!(index.holds("p0", &doubled), "stored at unit length");
    assert!(!index.holds("p1", &vectors[1].1), "p1 was replaced");
    assert!(index.holds("p1", &vectors[2].1));
    assert!(!index.holds("p3", &vectors[3].1), "p3 was removed");
    assert!(!index.holds("nobody", &vectors[0].1));
    assert!(
        !index.holds("p0", &vectors[0].1[..16]),
        "a wrong length is no match"
    );
}

/// Issue 21: the memory a loaded index holds is told part by part, each part in proportion to
/// what it holds.
#[test]
fn the_memory_of_an_index_is_told_part_by_part() {
    let (mut index, vectors) = small_index();
    index.optimise();
    let memory = index.memory();
    // The replaced paper's old point is still held, as a tombstone.
    let (n, dim) = (vectors.len() + 1, index.dim());
    assert_eq!(memory.points, n);
    assert!(memory.vectors_f16 >= n * dim * 2);
    // A byte a component and a four-byte scale a point.
    assert!(memory.vectors_coded >= n * (dim + 4), "{memory:?}");
    assert_eq!(memory.builder_vectors, n * dim * 2);
    assert!(memory.flat_graph >= n * 4, "{memory:?}");
    assert!(memory.builder_graph > memory.flat_graph, "{memory:?}");
    assert!(memory.ids >= vectors.iter().map(|(id, _)| id.len()).sum::<usize>());
    let parts: f64 = memory
        .per_point()
        .iter()
        .rev()
        .skip(1)
        .map(|(_, b)| b)
        .sum();
    let total = memory.per_point().last().expect("a total").1;
    assert!((parts - total).abs() < 1e-6);
    assert!(memory.text().contains("hnsw_rs graph (estimate)"));

    // Once saved, hnsw_rs's graph goes: what is left is a fraction of what was held.
    let dir = tempfile::tempdir().unwrap();
    let saved = index.save(dir.path(), "model-a").unwrap();
    assert!(index.saved(saved));
    let served = index.memory();
    assert_eq!((served.builder_vectors, served.builder_graph), (0, 0));
    assert_eq!(
        served.total(),
        memory.total() - memory.builder_vectors - memory.builder_graph
    );
    let loaded = PaperIndex::load(dir.path(), &expected("model-a")).unwrap();
    assert!(
        loaded.memory().total() <= served.total() + served.ids,
        "{:?}",
        loaded.memory()
    );
}
