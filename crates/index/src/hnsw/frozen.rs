//! A compact, read-only copy of the HNSW graph, searched without locks or allocations per
//! visited point.
//!
//! hnsw_rs keeps its graph as reference-counted points behind read-write locks, and its search
//! allocates a reference-counted node for every candidate and hashes every visited point; on
//! the 54k shared corpus that costs about 0.7 ms a query at ef 64, mostly outside the distance
//! computations. This copy holds the same edges as flat arrays of point numbers and searches
//! them with the index's own row-major vectors, a generation-stamped visited list reused by
//! each thread, and heaps of plain (score, point) pairs. hnsw_rs still builds, updates and
//! saves the graph; the copy is taken again after the graph changes
//! ([`crate::PaperIndex::optimise`]).
//!
//! The walk reads the vectors in half precision: on a large index nearly every point it
//! scores is a miss in the caches, and half the bytes arrive sooner. Its scores are therefore
//! close (about 1e-3), not exact; the index scores the points it returns again in single
//! precision.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;

use half::f16;

use crate::hnsw::distance::{dot_f16, prefetch};
use crate::hnsw::scored::Scored;

/// The graph's edges by point number.
#[derive(Debug, Clone, Default)]
pub struct FrozenGraph {
    /// Points covered: those numbered below this.
    points: usize,
    /// Where each point's layer-0 neighbours start in `layer0`; one more entry than points.
    offsets: Vec<u32>,
    layer0: Vec<u32>,
    /// Layers 1 and up: neighbours of the points present there.
    upper: Vec<HashMap<u32, Vec<u32>>>,
    /// A point on the top layer, where every search starts.
    entry: Option<u32>,
}

thread_local! {
    /// Per thread: the generation each point was last visited in, the current one, and room
    /// for a point's unvisited neighbours.
    static VISITED: RefCell<(Vec<u32>, u32, Vec<u32>)> =
        const { RefCell::new((Vec::new(), 0, Vec::new())) };
}

impl FrozenGraph {
    /// Copies the edges of the graph's first `points` points.
    pub fn copy<T, D>(graph: &Hnsw<'static, T, D>, points: usize) -> Self
    where
        T: Clone + Send + Sync,
        D: Distance<T> + Send + Sync,
    {
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); points];
        let mut upper: Vec<HashMap<u32, Vec<u32>>> = Vec::new();
        let mut entry: Option<(u8, u32)> = None;
        for point in graph.get_point_indexation() {
            let origin = point.get_origin_id();
            if origin >= points {
                continue;
            }
            let number = u32::try_from(origin).unwrap_or(u32::MAX);
            let layer = point.get_point_id().0;
            if entry.is_none_or(|(top, _)| layer > top) {
                entry = Some((layer, number));
            }
            for (level, neighbours) in point.get_neighborhood_id().into_iter().enumerate() {
                let ids: Vec<u32> = neighbours
                    .iter()
                    .map(|n| n.get_origin_id())
                    .filter(|&id| id < points)
                    .filter_map(|id| u32::try_from(id).ok())
                    .collect();
                if level == 0 {
                    lists[origin] = ids;
                } else {
                    if upper.len() < level {
                        upper.resize_with(level, HashMap::new);
                    }
                    upper[level - 1].insert(number, ids);
                }
            }
        }
        let mut offsets = Vec::with_capacity(points + 1);
        let mut layer0 = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        offsets.push(0);
        for list in lists {
            layer0.extend(list);
            offsets.push(u32::try_from(layer0.len()).unwrap_or(u32::MAX));
        }
        Self {
            points,
            offsets,
            layer0,
            upper,
            entry: entry.map(|(_, number)| number),
        }
    }

    /// Points covered.
    pub fn points(&self) -> usize {
        self.points
    }

    /// Bytes it holds: the layer-0 lists and offsets, and the upper layers' maps (each entry
    /// counted as its key, its list's header and its neighbours).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of;
        let upper: usize = self
            .upper
            .iter()
            .flat_map(|layer| layer.values())
            .map(|list| {
                size_of::<u32>() + size_of::<Vec<u32>>() + list.capacity() * size_of::<u32>()
            })
            .sum();
        (self.offsets.capacity() + self.layer0.capacity()) * size_of::<u32>() + upper
    }

    fn neighbours(&self, point: u32) -> &[u32] {
        let p = point as usize;
        &self.layer0[self.offsets[p] as usize..self.offsets[p + 1] as usize]
    }

    /// The `ef` points most similar to the unit `query` that the graph leads to, best first,
    /// as (inner product, point), in half precision. `vectors` holds the unit rows of at least
    /// `points()` points.
    pub fn search(&self, query: &[f16], vectors: &[f16], ef: usize) -> Vec<(f32, usize)> {
        self.search_around(query, vectors, ef, None)
    }

    /// [`FrozenGraph::search`] as if `blocked` were not in the layer-0 graph: it is never
    /// reached, so its neighbour list (which holds nearly its true nearest) cannot lead the
    /// search. A stored paper's vector searched this way is about as hard a query as a paper
    /// never indexed, which is what a calibration needs.
    pub fn search_around(
        &self,
        query: &[f16],
        vectors: &[f16],
        ef: usize,
        blocked: Option<usize>,
    ) -> Vec<(f32, usize)> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let dim = query.len();
        let score = |point: u32| {
            let start = point as usize * dim;
            dot_f16(query, &vectors[start..start + dim])
        };
        // Greedy descent through the upper layers.
        let mut current = Scored(score(entry), entry);
        for layer in self.upper.iter().rev() {
            loop {
                let mut moved = false;
                for &next in layer.get(&current.1).map_or(&[][..], Vec::as_slice) {
                    let candidate = Scored(score(next), next);
                    if candidate > current {
                        current = candidate;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        VISITED.with(|visited| {
            let mut visited = visited.borrow_mut();
            let (stamps, generation, fresh) = &mut *visited;
            if stamps.len() < self.points || *generation == u32::MAX {
                stamps.clear();
                stamps.resize(self.points.max(stamps.len()), 0);
                *generation = 0;
            }
            *generation += 1;
            let generation = *generation;
            stamps[current.1 as usize] = generation;
            if let Some(blocked) = blocked.filter(|&b| b < stamps.len()) {
                stamps[blocked] = generation;
            }

            // Best first to explore; the ef best found, worst on top.
            let mut frontier = BinaryHeap::with_capacity(ef * 4);
            let mut best: BinaryHeap<Reverse<Scored<u32>>> = BinaryHeap::with_capacity(ef + 1);
            frontier.push(current);
            best.push(Reverse(current));
            while let Some(nearest) = frontier.pop() {
                if best.len() >= ef && best.peek().is_some_and(|worst| nearest < worst.0) {
                    break;
                }
                // The unvisited neighbours first, their vectors asked for at once; then
                // scored, by which time most have arrived.
                fresh.clear();
                for &next in self.neighbours(nearest.1) {
                    let stamp = &mut stamps[next as usize];
                    if *stamp == generation {
                        continue;
                    }
                    *stamp = generation;
                    let start = next as usize * dim;
                    prefetch(&vectors[start..start + dim]);
                    fresh.push(next);
                }
                for &next in fresh.iter() {
                    let candidate = Scored(score(next), next);
                    if best.len() < ef || best.peek().is_some_and(|worst| candidate > worst.0) {
                        frontier.push(candidate);
                        best.push(Reverse(candidate));
                        if best.len() > ef {
                            best.pop();
                        }
                    }
                }
            }
            let mut found: Vec<(f32, usize)> = best
                .into_iter()
                .map(|Reverse(Scored(s, p))| (s, p as usize))
                .collect();
            found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            found
        })
    }
}
