//! The index: an HNSW graph over unit vectors, keyed by paper id, with tombstones and an exact
//! search that serves both as the fallback for restrictive filters and as ground truth.
//!
//! hnsw_rs cannot delete a point. Replacing or removing a paper therefore marks its point as a
//! tombstone that every search skips; [`PaperIndex::tombstone_ratio`] tells the owner when a
//! rebuild pays off.
//!
//! What stays in memory is one copy of each vector, in half precision, the flat copy of the
//! graph searches walk ([`FrozenGraph`]) and the ids ([`PaperIds`]): about 0.9 KB a paper.
//! hnsw_rs's own graph, which holds another copy of every vector and several times the
//! flat copy's bytes in reference-counted points and edges, is needed only to insert: it is
//! the *builder*, resident while papers are added and dropped once a saved generation holds
//! it ([`PaperIndex::release_builder`]), to be read back from there before the next insert.

use std::collections::{BinaryHeap, HashSet};
use std::path::PathBuf;

use hnsw_rs::hnsw::Hnsw;
use rayon::prelude::*;

use crate::error::{IndexError, Result};
use crate::hnsw::coded::CodedRows;
use crate::hnsw::distance::{UnitDotF16, dot, dot_f32_f16, to_f16};
use crate::hnsw::frozen::FrozenGraph;
use crate::hnsw::ids::PaperIds;
use crate::hnsw::locality::locality_order;
use crate::vector_index::Hit;

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexParams {
    /// Neighbours kept per point and layer (HNSW's M).
    pub max_connections: usize,
    /// Candidates explored while inserting.
    pub ef_construction: usize,
    /// Candidates explored while searching, at least k.
    pub ef_search: usize,
}

impl Default for IndexParams {
    fn default() -> Self {
        Self {
            max_connections: 16,
            ef_construction: 200,
            ef_search: 64,
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new paper.
    Added,
    /// The paper was there with the same vector: nothing changed.
    Unchanged,
    /// The paper was there with another vector, which is now a tombstone.
    Replaced,
}

/// Which papers a search may return.
#[derive(Default)]
pub struct Filter<'a> {
    /// Papers never to return: the query paper, papers already seen.
    pub exclude: HashSet<&'a str>,
    /// Papers to return only if this says yes (a date range, categories): the caller knows
    /// the metadata, the index only the ids.
    pub allow: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
}

impl Filter<'_> {
    pub(crate) fn admits(&self, id: &str) -> bool {
        !self.exclude.contains(id) && self.allow.is_none_or(|allow| allow(id))
    }
}

/// hnsw_rs's graph over the vectors in half precision ([`crate::hnsw::distance`] says why).
pub(crate) type Builder = Hnsw<'static, half::f16, UnitDotF16>;

/// Paper ids and their vectors, searchable by similarity.
pub struct PaperIndex {
    pub(crate) params: IndexParams,
    pub(crate) dim: usize,
    /// hnsw_rs's graph, while it is resident (see the module's note).
    pub(crate) builder: Option<Builder>,
    /// A saved generation whose hnsw_rs dump is the graph of every point now in the index:
    /// where the builder is read back from. `None` once points were added since.
    pub(crate) saved_graph: Option<PathBuf>,
    /// Counts the inserts, so a save can tell whether the graph changed after it.
    pub(crate) revision: u64,
    /// Unit vector of each point in half precision, row after row, tombstones included.
    pub(crate) halves: Vec<half::f16>,
    /// The same rows byte-coded, which the flat graph's walk scores.
    pub(crate) coded: CodedRows,
    /// Paper id and liveness of each point, and the live point of each paper.
    pub(crate) ids: PaperIds,
    /// The flat copy of the graph that searches walk, when it covers every point.
    pub(crate) frozen: FrozenGraph,
    /// How ef_search was chosen, when it was measured ([`PaperIndex::calibrate`]).
    pub(crate) calibration: Option<crate::hnsw::calibration::Calibration>,
}

impl PaperIndex {
    /// An empty index for `dim`-dimensional unit vectors, sized for about `capacity` papers.
    pub fn new(dim: usize, params: IndexParams, capacity: usize) -> Self {
        Self {
            params,
            dim,
            builder: Some(new_builder(params, capacity)),
            saved_graph: None,
            revision: 0,
            halves: Vec::with_capacity(capacity * dim),
            coded: CodedRows::with_capacity(dim, capacity),
            ids: PaperIds::with_capacity(capacity),
            frozen: FrozenGraph::default(),
            calibration: None,
        }
    }

    /// Papers that searches can return.
    pub fn len(&self) -> usize {
        self.ids.live_count()
    }

    /// Whether no paper is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How the graph is built and searched.
    pub fn params(&self) -> IndexParams {
        self.params
    }

    /// The length of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Points in the graph, tombstones included.
    pub fn point_count(&self) -> usize {
        self.ids.points()
    }

    /// Every live paper, in point order.
    pub fn live_ids(&self) -> impl Iterator<Item = &str> {
        self.ids.live_points().map(|p| self.ids.id(p))
    }

    /// Every live paper with its unit vector (as stored, in half precision, widened), in
    /// point order: what a rebuild starts from.
    pub fn live_papers(&self) -> impl Iterator<Item = (&str, Vec<f32>)> {
        self.ids
            .live_points()
            .map(|p| (self.ids.id(p), self.widened(p)))
    }

    /// A new index of the live papers only, without tombstones: what a rebuild past the
    /// tombstone threshold produces. The graph is built anew, in parallel.
    pub fn compacted(&self) -> Result<Self> {
        let mut fresh = Self::new(self.dim, self.params, self.len());
        let rows: Vec<(&str, Vec<f32>)> = self.live_papers().collect();
        let live: Vec<(&str, &[f32])> = rows.iter().map(|(id, v)| (*id, v.as_slice())).collect();
        // Built anew: measured anew, as the last calibration was.
        match self.calibration {
            Some(last) => {
                fresh.upsert_and_calibrate(&live, last.target, last.queries, last.k)?;
                fresh.calibration = fresh.calibration.or(self.calibration);
            }
            None => {
                fresh.upsert_batch(&live)?;
            }
        }
        if !fresh.is_optimised() {
            fresh.optimise();
        }
        Ok(fresh)
    }

    /// Copies the graph into the flat form searches walk (a few hundred milliseconds for 50,000
    /// papers). Searches are right without it but several times slower: call it after adding
    /// papers. Loading and compacting do it themselves.
    pub fn optimise(&mut self) {
        self.frozen = self.frozen_copy();
    }

    /// What the index holds in memory, part by part (see [`crate::MemoryUse`]).
    pub fn memory(&self) -> crate::MemoryUse {
        use std::mem::size_of;
        let (builder_vectors, builder_graph) = self.builder.as_ref().map_or((0, 0), |builder| {
            crate::hnsw::memory::hnsw_bytes(builder, self.dim)
        });
        crate::MemoryUse {
            points: self.point_count(),
            vectors_f16: self.halves.capacity() * size_of::<half::f16>(),
            vectors_coded: self.coded.bytes(),
            ids: self.ids.bytes(),
            flat_graph: self.frozen.bytes(),
            builder_vectors,
            builder_graph,
        }
    }

    /// The flat copy of the graph as it is now, taken under a shared borrow so that a server
    /// can copy while it searches, then [`PaperIndex::install`] it in a moment.
    pub fn frozen_copy(&self) -> FrozenGraph {
        // hnsw_rs's point iterator unwraps the entry point, which an empty graph has not.
        match &self.builder {
            Some(builder) if self.point_count() > 0 => {
                FrozenGraph::copy(builder, self.point_count())
            }
            // Without a builder nothing was added since the flat copy was taken or read.
            None => self.frozen.clone(),
            Some(_) => FrozenGraph::default(),
        }
    }

    /// Makes `frozen` the copy searches walk, if it covers every point now in the index
    /// (nothing was added since it was taken). Returns whether it was installed.
    pub fn install(&mut self, frozen: FrozenGraph) -> bool {
        let current = frozen.points() == self.point_count();
        if current {
            self.frozen = frozen;
        }
        current
    }

    /// Whether searches walk the flat copy (it covers every point).
    pub fn is_optimised(&self) -> bool {
        self.frozen.points() == self.point_count() && self.point_count() > 0
    }

    /// Whether hnsw_rs's graph is in memory (see the module's note).
    pub fn builder_resident(&self) -> bool {
        self.builder.is_some()
    }

    /// Drops hnsw_rs's graph when a saved generation holds it and the flat copy covers every
    /// point: searches need neither, and the next insert reads it back. Returns whether it
    /// was dropped.
    pub fn release_builder(&mut self) -> bool {
        if self.builder.is_some() && self.saved_graph.is_some() && self.is_optimised() {
            self.builder = None;
            return true;
        }
        false
    }

    /// hnsw_rs's graph read back from the saved generation, when it is not in memory and
    /// something is to be inserted: taken under a shared borrow, so that a server reads it
    /// while it searches, then [`PaperIndex::install_builder`] in a moment. `None` when it is
    /// resident already.
    pub fn read_builder(&self) -> Result<Option<LoadedBuilder>> {
        if self.builder.is_some() {
            return Ok(None);
        }
        let Some(dir) = &self.saved_graph else {
            // Only an index without points can be without both.
            if self.point_count() > 0 {
                return Err(IndexError::Corrupt {
                    dir: PathBuf::new(),
                    why: "hnsw_rs's graph is neither in memory nor saved".into(),
                });
            }
            return Ok(Some(LoadedBuilder {
                graph: new_builder(self.params, 1024),
                revision: self.revision,
            }));
        };
        let graph = crate::hnsw::persist::read_builder(dir, self.point_count())?;
        Ok(Some(LoadedBuilder {
            graph,
            revision: self.revision,
        }))
    }

    /// Makes a builder read by [`PaperIndex::read_builder`] resident, if none is and nothing
    /// was inserted since it was read. Returns whether it was installed.
    pub fn install_builder(&mut self, loaded: LoadedBuilder) -> bool {
        let current = self.builder.is_none() && loaded.revision == self.revision;
        if current {
            self.builder = Some(loaded.graph);
        }
        current
    }

    /// Reads hnsw_rs's graph back if it is not resident.
    fn ensure_builder(&mut self) -> Result<()> {
        if let Some(loaded) = self.read_builder()? {
            self.builder = Some(loaded.graph);
        }
        Ok(())
    }

    /// Candidates explored while searching, from now on (at least k in each search).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    /// Share of the graph's points that are tombstones.
    pub fn tombstone_ratio(&self) -> f64 {
        if self.point_count() == 0 {
            0.0
        } else {
            1.0 - self.len() as f64 / self.point_count() as f64
        }
    }

    /// The unit vector of a paper as the index holds it (in half precision, widened), if
    /// indexed.
    pub fn vector(&self, id: &str) -> Option<Vec<f32>> {
        self.ids.point_of(id).map(|p| self.widened(p))
    }

    /// Whether `id` is indexed with this vector (scaled to unit length and rounded to half
    /// precision, as an upsert stores it): whether an upsert of it would change nothing.
    pub fn holds(&self, id: &str, vector: &[f32]) -> bool {
        self.unit(id, vector)
            .is_ok_and(|unit| self.holds_row(id, &to_f16(&unit)))
    }

    /// Whether `id`'s live point holds `row`, a unit vector in half precision.
    fn holds_row(&self, id: &str, row: &[half::f16]) -> bool {
        self.ids
            .point_of(id)
            .is_some_and(|p| self.half_row(p) == row)
    }

    /// Adds or updates one paper.
    pub fn upsert(&mut self, id: &str, vector: &[f32]) -> Result<Upsert> {
        let mut changes = self.upsert_batch(&[(id, vector)])?;
        Ok(changes.remove(0))
    }

    /// Adds or updates many papers, inserting the new points into the graph in parallel.
    /// Vectors are stored scaled to unit length. Within a batch, a later entry for the same id
    /// wins. Returns what each upsert did, in the batch's order.
    ///
    /// A large batch is numbered and inserted with similar papers together
    /// (`locality.rs`), which makes the build and later searches touch less memory.
    ///
    /// When hnsw_rs's graph is not resident and something is to be inserted, it is read
    /// back from the saved generation first (see the module's note).
    pub fn upsert_batch(&mut self, papers: &[(&str, &[f32])]) -> Result<Vec<Upsert>> {
        let halves: Vec<Vec<half::f16>> = papers
            .iter()
            .map(|(id, vector)| self.unit(id, vector).map(|unit| to_f16(&unit)))
            .collect::<Result<_>>()?;
        let mut changes = vec![Upsert::Unchanged; papers.len()];
        // hnsw_rs's graph is read back only when something is to be inserted, and before any
        // point changes, so that a graph that cannot be read leaves the index as it was.
        let unchanged = papers
            .iter()
            .zip(&halves)
            .all(|((id, _), row)| self.holds_row(id, row));
        if unchanged {
            return Ok(changes);
        }
        self.ensure_builder()?;
        let first_new = self.point_count();
        // Taken in order, so that a paper twice in the batch meets its earlier entry.
        for i in insertion_order(papers, &halves) {
            let (id, row) = (papers[i].0, halves[i].as_slice());
            changes[i] = match self.ids.point_of(id) {
                Some(p) if self.half_row(p) == row => continue,
                Some(_) => {
                    self.ids.kill(id);
                    Upsert::Replaced
                }
                None => Upsert::Added,
            };
            self.ids.push(id, true);
            self.halves.extend_from_slice(row);
            self.coded.push(row);
        }
        // The batch's own copy goes before hnsw_rs allocates its points, which can then reuse
        // that memory.
        drop(halves);
        self.revision += 1;
        self.saved_graph = None;
        let new_points: Vec<(&[half::f16], usize)> = (first_new..self.point_count())
            .map(|p| (self.half_row(p), p))
            .collect();
        if let Some(builder) = &self.builder {
            builder.parallel_insert_slice(&new_points);
        }
        Ok(changes)
    }

    /// Removes a paper from search results. Returns whether it was indexed.
    pub fn remove(&mut self, id: &str) -> bool {
        self.ids.kill(id).is_some()
    }

    /// The `k` papers most similar to `query` (any length: it is normalised) that `filter`
    /// admits, best first, through the graph. When the graph finds fewer than `k` admissible
    /// papers (a restrictive filter), the exact search answers instead, so `k` results come
    /// back whenever `k` exist.
    pub fn search(&self, query: &[f32], k: usize, filter: &Filter<'_>) -> Result<Vec<Hit>> {
        let query = &self.unit("(query)", query)?;
        Ok(self.search_at(query, k, filter, self.params.ef_search))
    }

    /// [`PaperIndex::search`] for a unit query, exploring `ef` candidates (at least k).
    pub(crate) fn search_at(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter<'_>,
        ef: usize,
    ) -> Vec<Hit> {
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        if let Some(hits) = self.search_unfiltered(query, k, filter, ef) {
            return hits;
        }
        let admits = |point: usize| self.ids.is_live(point) && filter.admits(self.ids.id(point));
        let found: Vec<usize> = match &self.builder {
            Some(builder) if !self.is_optimised() => builder
                .search_filter(&to_f16(query), k, ef.max(k), Some(&|p: &usize| admits(*p)))
                .into_iter()
                .map(|n| n.d_id)
                .collect(),
            _ => self
                .frozen
                .search_admitting(&self.coded.query(query), &self.coded, ef.max(k), &admits)
                .into_iter()
                .map(|(_, p)| p)
                .collect(),
        };
        if found.len() < k && found.len() < self.len() {
            return self.exact_unit(query, k, filter);
        }
        self.rescored(query, found.into_iter(), k)
    }

    /// The fast path: the graph searched without a filter, for a few more papers than asked,
    /// the inadmissible ones dropped afterwards. hnsw_rs's filtered search cannot stop early
    /// and walks much of the graph, about ten times slower; this path serves the common case
    /// (the query paper excluded, a few tombstones) and gives up, for the filtered search,
    /// when too many of the papers found are inadmissible.
    fn search_unfiltered(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter<'_>,
        ef: usize,
    ) -> Option<Vec<Hit>> {
        // Expected inadmissible papers among those fetched, twice over, plus a margin.
        let tombstones = (k as f64 * self.tombstone_ratio() * 2.0).ceil() as usize;
        let mut fetch = k + filter.exclude.len() + tombstones + 2;
        if filter.allow.is_some() {
            // A date or category filter admits an unknown share: try a few times as many.
            fetch *= 4;
        }
        if fetch > self.point_count() {
            return None;
        }
        let ef = ef.max(fetch);
        let found: Vec<usize> = match &self.builder {
            Some(builder) if !self.is_optimised() => builder
                .search(&to_f16(query), fetch, ef)
                .into_iter()
                .map(|n| n.d_id)
                .collect(),
            _ => self
                .frozen
                .search(&self.coded.query(query), &self.coded, ef)
                .into_iter()
                .map(|(_, p)| p)
                .collect(),
        };
        let admitted = found
            .into_iter()
            .filter(|&p| self.ids.is_live(p) && filter.admits(self.ids.id(p)));
        let hits = self.rescored(query, admitted, k);
        (hits.len() == k).then_some(hits)
    }

    /// The best `k` of `points` a graph search found, best first by their inner product with
    /// the query, the query in single precision: the graph's walk scores half by half.
    pub(crate) fn rescored(
        &self,
        query: &[f32],
        points: impl Iterator<Item = usize>,
        k: usize,
    ) -> Vec<Hit> {
        let mut scored: Vec<(f32, usize)> = points.map(|p| (self.cosine(query, p), p)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .take(k)
            .map(|(score, p)| Hit {
                id: self.ids.id(p).to_owned(),
                score,
            })
            .collect()
    }

    /// The `k` papers most similar to `query` that `filter` admits, best first, comparing
    /// the query with every live paper.
    pub fn exact_search(&self, query: &[f32], k: usize, filter: &Filter<'_>) -> Result<Vec<Hit>> {
        Ok(self.exact_unit(&self.unit("(query)", query)?, k, filter))
    }

    /// The exact search for a query already checked and scaled to unit length.
    pub(crate) fn exact_unit(&self, query: &[f32], k: usize, filter: &Filter<'_>) -> Vec<Hit> {
        let best = (0..self.point_count())
            .into_par_iter()
            .filter(|&p| self.ids.is_live(p) && filter.admits(self.ids.id(p)))
            .map(|p| crate::hnsw::scored::Scored(self.cosine(query, p), p))
            .fold(BinaryHeap::new, |heap, scored| keep_best(heap, scored, k))
            .reduce(BinaryHeap::new, |a, b| {
                b.into_iter()
                    .fold(a, |heap, kept| keep_best(heap, kept.0, k))
            });
        let mut best: Vec<Scored> = best.into_iter().map(|kept| kept.0).collect();
        best.sort_by(|a, b| b.cmp(a));
        best.into_iter()
            .map(|crate::hnsw::scored::Scored(score, p)| Hit {
                id: self.ids.id(p).to_owned(),
                score,
            })
            .collect()
    }

    /// The cosine of a unit query with a point's vector: rounding the stored vector can take
    /// the product a hair past 1, which a cosine never is.
    fn cosine(&self, query: &[f32], point: usize) -> f32 {
        dot_f32_f16(query, self.half_row(point)).clamp(-1.0, 1.0)
    }

    /// A point's vector widened to single precision.
    fn widened(&self, point: usize) -> Vec<f32> {
        self.half_row(point).iter().map(|x| x.to_f32()).collect()
    }

    /// A point's vector in half precision.
    pub(crate) fn half_row(&self, point: usize) -> &[half::f16] {
        &self.halves[point * self.dim..(point + 1) * self.dim]
    }

    /// The vector scaled to unit length, after checking it. Embedders already give unit
    /// vectors; imported ones (stored as f16, say) are only nearly so, and the scores are
    /// cosines only for exact unit vectors.
    pub(crate) fn unit(&self, id: &str, vector: &[f32]) -> Result<Vec<f32>> {
        self.check(id, vector)?;
        let norm = dot(vector, vector).sqrt();
        if norm == 0.0 {
            return Err(IndexError::Zero { id: id.to_owned() });
        }
        Ok(vector.iter().map(|x| x / norm).collect())
    }

    fn check(&self, id: &str, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dim {
            return Err(IndexError::Dimension {
                id: id.to_owned(),
                expected: self.dim,
                actual: vector.len(),
            });
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite { id: id.to_owned() });
        }
        Ok(())
    }
}

/// A score and a point number.
type Scored = crate::hnsw::scored::Scored<usize>;

/// Keeps the `k` best in a min-heap (scores reversed).
fn keep_best(
    mut heap: BinaryHeap<std::cmp::Reverse<Scored>>,
    scored: Scored,
    k: usize,
) -> BinaryHeap<std::cmp::Reverse<Scored>> {
    if heap.len() < k {
        heap.push(std::cmp::Reverse(scored));
    } else if heap.peek().is_some_and(|worst| scored > worst.0) {
        heap.pop();
        heap.push(std::cmp::Reverse(scored));
    }
    heap
}

/// The order in which to take a batch's papers: similar ones together, unless an id comes
/// twice (then in the batch's order, so that the later entry wins).
fn insertion_order(papers: &[(&str, &[f32])], halves: &[Vec<half::f16>]) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(papers.len());
    if !papers.iter().all(|(id, _)| seen.insert(*id)) {
        return (0..papers.len()).collect();
    }
    let rows: Vec<&[half::f16]> = halves.iter().map(Vec::as_slice).collect();
    locality_order(&rows)
}

/// An empty hnsw_rs graph for about `capacity` points.
fn new_builder(params: IndexParams, capacity: usize) -> Builder {
    // 16 layers suffice for far more points than a library of papers holds.
    Hnsw::new(
        params.max_connections,
        capacity.max(1),
        16,
        params.ef_construction,
        UnitDotF16,
    )
}

/// hnsw_rs's graph read back from a saved generation, not yet resident
/// ([`PaperIndex::read_builder`]).
pub struct LoadedBuilder {
    graph: Builder,
    revision: u64,
}
