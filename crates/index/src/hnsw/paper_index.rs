//! The index: an HNSW graph over unit vectors, keyed by paper id, with tombstones and an exact
//! search that serves both as the fallback for restrictive filters and as ground truth.
//!
//! hnsw_rs cannot delete a point. Replacing or removing a paper therefore marks its point as a
//! tombstone that every search skips; [`PaperIndex::tombstone_ratio`] tells the owner when a
//! rebuild pays off.

use std::collections::{BinaryHeap, HashMap, HashSet};

use hnsw_rs::hnsw::Hnsw;
use rayon::prelude::*;

use crate::error::{IndexError, Result};
use crate::hnsw::distance::{UnitDotF16, dot, to_f16};
use crate::hnsw::frozen::FrozenGraph;
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
    fn admits(&self, id: &str) -> bool {
        !self.exclude.contains(id) && self.allow.is_none_or(|allow| allow(id))
    }
}

/// Paper ids and their vectors, searchable by similarity.
pub struct PaperIndex {
    pub(crate) params: IndexParams,
    pub(crate) dim: usize,
    /// The graph over the vectors in half precision ([`crate::hnsw::distance`] says why).
    pub(crate) graph: Hnsw<'static, half::f16, UnitDotF16>,
    /// Vector of each point, row after row, tombstones included.
    pub(crate) vectors: Vec<f32>,
    /// The same in half precision, as the graph is built over them and the flat copy's
    /// searches read them.
    pub(crate) halves: Vec<half::f16>,
    /// Paper id of each point.
    pub(crate) ids: Vec<String>,
    /// Whether each point is live (not a tombstone).
    pub(crate) live: Vec<bool>,
    /// The live point of each paper.
    pub(crate) points: HashMap<String, usize>,
    /// The flat copy of the graph that searches walk, when it covers every point.
    pub(crate) frozen: FrozenGraph,
    /// How ef_search was chosen, when it was measured ([`PaperIndex::calibrate`]).
    pub(crate) calibration: Option<crate::hnsw::calibration::Calibration>,
}

impl PaperIndex {
    /// An empty index for `dim`-dimensional unit vectors, sized for about `capacity` papers.
    pub fn new(dim: usize, params: IndexParams, capacity: usize) -> Self {
        // 16 layers suffice for far more points than a library of papers holds.
        let graph = Hnsw::new(
            params.max_connections,
            capacity.max(1),
            16,
            params.ef_construction,
            UnitDotF16,
        );
        Self {
            params,
            dim,
            graph,
            vectors: Vec::with_capacity(capacity * dim),
            halves: Vec::with_capacity(capacity * dim),
            ids: Vec::with_capacity(capacity),
            live: Vec::with_capacity(capacity),
            points: HashMap::with_capacity(capacity),
            frozen: FrozenGraph::default(),
            calibration: None,
        }
    }

    /// Papers that searches can return.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no paper is searchable.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
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
        self.ids.len()
    }

    /// Every live paper with its (unit) vector, in point order: what a rebuild starts from.
    pub fn live_papers(&self) -> impl Iterator<Item = (&str, &[f32])> {
        (0..self.ids.len())
            .filter(|&p| self.live[p])
            .map(|p| (self.ids[p].as_str(), self.row(p)))
    }

    /// A new index of the live papers only, without tombstones: what a rebuild past the
    /// tombstone threshold produces. The graph is built anew, in parallel.
    pub fn compacted(&self) -> Result<Self> {
        let mut fresh = Self::new(self.dim, self.params, self.points.len());
        let live: Vec<(&str, &[f32])> = self.live_papers().collect();
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
        let ids: usize = self
            .ids
            .iter()
            .map(|id| size_of::<String>() + id.capacity())
            .sum::<usize>()
            + self.live.capacity()
            // The map's entries: a key (another copy of the id), a point, a control byte.
            + self
                .points
                .keys()
                .map(|id| size_of::<String>() + id.capacity() + size_of::<usize>() + 1)
                .sum::<usize>();
        let (hnsw_vectors, hnsw_graph) = crate::hnsw::memory::hnsw_bytes(&self.graph, self.dim);
        crate::MemoryUse {
            points: self.ids.len(),
            vectors_f32: self.vectors.capacity() * size_of::<f32>(),
            vectors_f16: self.halves.capacity() * size_of::<half::f16>(),
            ids,
            flat_graph: self.frozen.bytes(),
            hnsw_vectors,
            hnsw_graph,
        }
    }

    /// The flat copy of the graph as it is now, taken under a shared borrow so that a server
    /// can copy while it searches, then [`PaperIndex::install`] it in a moment.
    pub fn frozen_copy(&self) -> FrozenGraph {
        // hnsw_rs's point iterator unwraps the entry point, which an empty graph has not.
        if self.ids.is_empty() {
            return FrozenGraph::default();
        }
        FrozenGraph::copy(&self.graph, self.ids.len())
    }

    /// Makes `frozen` the copy searches walk, if it covers every point now in the index
    /// (nothing was added since it was taken). Returns whether it was installed.
    pub fn install(&mut self, frozen: FrozenGraph) -> bool {
        let current = frozen.points() == self.ids.len();
        if current {
            self.frozen = frozen;
        }
        current
    }

    /// Whether searches walk the flat copy (it covers every point).
    pub fn is_optimised(&self) -> bool {
        self.frozen.points() == self.ids.len() && !self.ids.is_empty()
    }

    /// Candidates explored while searching, from now on (at least k in each search).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    /// Share of the graph's points that are tombstones.
    pub fn tombstone_ratio(&self) -> f64 {
        if self.ids.is_empty() {
            0.0
        } else {
            1.0 - self.points.len() as f64 / self.ids.len() as f64
        }
    }

    /// The vector of a paper, if indexed.
    pub fn vector(&self, id: &str) -> Option<&[f32]> {
        self.points.get(id).map(|&p| self.row(p))
    }

    /// Whether `id` is indexed with this vector (scaled to unit length, as an upsert stores
    /// it): whether an upsert of it would change nothing.
    pub fn holds(&self, id: &str, vector: &[f32]) -> bool {
        self.points
            .get(id)
            .is_some_and(|&p| self.unit(id, vector).is_ok_and(|unit| self.row(p) == unit))
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
    pub fn upsert_batch(&mut self, papers: &[(&str, &[f32])]) -> Result<Vec<Upsert>> {
        let unit: Vec<Vec<f32>> = papers
            .iter()
            .map(|(id, vector)| self.unit(id, vector))
            .collect::<Result<_>>()?;
        let first_new = self.ids.len();
        let mut changes = vec![Upsert::Unchanged; papers.len()];
        for i in insertion_order(papers, &unit) {
            let (id, vector) = (papers[i].0, unit[i].as_slice());
            changes[i] = match self.points.get(id) {
                Some(&p) if self.row(p) == vector => continue,
                Some(&p) => {
                    self.live[p] = false;
                    Upsert::Replaced
                }
                None => Upsert::Added,
            };
            let point = self.ids.len();
            self.vectors.extend_from_slice(vector);
            self.ids.push(id.to_owned());
            self.live.push(true);
            self.points.insert(id.to_owned(), point);
        }
        // The batch's own copy goes before hnsw_rs allocates its points, which can then reuse
        // that memory.
        drop(unit);
        let new_rows = &self.vectors[first_new * self.dim..];
        self.halves
            .extend(new_rows.iter().map(|&x| half::f16::from_f32(x)));
        let new_points: Vec<(&[half::f16], usize)> = (first_new..self.ids.len())
            .map(|p| (self.half_row(p), p))
            .collect();
        self.graph.parallel_insert_slice(&new_points);
        Ok(changes)
    }

    /// Removes a paper from search results. Returns whether it was indexed.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.points.remove(id) {
            Some(p) => {
                self.live[p] = false;
                true
            }
            None => false,
        }
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
        let admits = |point: &usize| self.live[*point] && filter.admits(&self.ids[*point]);
        let found = self
            .graph
            .search_filter(&to_f16(query), k, ef.max(k), Some(&admits));
        if found.len() < k && found.len() < self.len() {
            return self.exact_unit(query, k, filter);
        }
        self.rescored(query, found.into_iter().map(|n| n.d_id), k)
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
        if fetch > self.ids.len() {
            return None;
        }
        let ef = ef.max(fetch);
        let half_query = to_f16(query);
        let found: Vec<usize> = if self.is_optimised() {
            let found = self.frozen.search(&half_query, &self.halves, ef);
            found.into_iter().map(|(_, p)| p).collect()
        } else {
            let found = self.graph.search(&half_query, fetch, ef);
            found.into_iter().map(|n| n.d_id).collect()
        };
        let admitted = found
            .into_iter()
            .filter(|&p| self.live[p] && filter.admits(&self.ids[p]));
        let hits = self.rescored(query, admitted, k);
        (hits.len() == k).then_some(hits)
    }

    /// The best `k` of `points` a graph search found, best first by their inner product with
    /// the query in single precision: the graph is searched in half precision.
    pub(crate) fn rescored(
        &self,
        query: &[f32],
        points: impl Iterator<Item = usize>,
        k: usize,
    ) -> Vec<Hit> {
        let mut scored: Vec<(f32, usize)> = points.map(|p| (dot(query, self.row(p)), p)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .take(k)
            .map(|(score, p)| Hit {
                id: self.ids[p].clone(),
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
        let best = (0..self.ids.len())
            .into_par_iter()
            .filter(|&p| self.live[p] && filter.admits(&self.ids[p]))
            .map(|p| crate::hnsw::scored::Scored(dot(query, self.row(p)), p))
            .fold(BinaryHeap::new, |heap, scored| keep_best(heap, scored, k))
            .reduce(BinaryHeap::new, |a, b| {
                b.into_iter()
                    .fold(a, |heap, kept| keep_best(heap, kept.0, k))
            });
        let mut best: Vec<Scored> = best.into_iter().map(|kept| kept.0).collect();
        best.sort_by(|a, b| b.cmp(a));
        best.into_iter()
            .map(|crate::hnsw::scored::Scored(score, p)| Hit {
                id: self.ids[p].clone(),
                score,
            })
            .collect()
    }

    fn row(&self, point: usize) -> &[f32] {
        &self.vectors[point * self.dim..(point + 1) * self.dim]
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
fn insertion_order(papers: &[(&str, &[f32])], unit: &[Vec<f32>]) -> Vec<usize> {
    let mut seen = HashSet::with_capacity(papers.len());
    if !papers.iter().all(|(id, _)| seen.insert(*id)) {
        return (0..papers.len()).collect();
    }
    let rows: Vec<&[f32]> = unit.iter().map(Vec::as_slice).collect();
    locality_order(&rows)
}
