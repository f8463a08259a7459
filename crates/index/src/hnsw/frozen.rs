//! A compact, read-only copy of the HNSW graph, searched without locks or allocations per
//! visited point.
//!
//! hnsw_rs keeps its graph as reference-counted points behind read-write locks, and its search
//! allocates a reference-counted node for every candidate and hashes every visited point; on
//! the 54k shared corpus that costs about 0.7 ms a query at ef 64, mostly outside the distance
//! computations. This copy holds the same edges as flat arrays of point numbers and searches
//! them with the index's own coded rows, a generation-stamped visited list reused by each
//! thread, and heaps of plain (score, point) pairs. hnsw_rs still builds and updates the
//! graph; the copy is taken again after the graph changes ([`crate::PaperIndex::optimise`]),
//! saved beside hnsw_rs's dump and read back alone when an index is opened, so that a served
//! index needs no hnsw_rs graph in memory until it inserts again.
//!
//! The walk scores byte-coded vectors ([`crate::hnsw::coded`]): on a large index nearly every
//! point it scores is a miss in the caches, and a coded row is half the bytes of a
//! half-precision one. Its scores are therefore close (a few thousandths), not exact; the
//! index scores the points it returns again from the half-precision rows, the query in
//! single precision.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;

use crate::hnsw::coded::{CodedQuery, CodedRows};
use crate::hnsw::scored::Scored;

/// The graph's edges by point number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// for a point's unvisited neighbours. A byte a point, so that the stamps of a million
    /// points stay in a core's cache; they are cleared once every 255 searches.
    static VISITED: RefCell<(Vec<u8>, u8, Vec<u32>)> =
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
            // hnsw_rs also files, in the layers above a point's own, the points its insertion
            // passed on the way down; no search reaches a point in a layer it is not in, so
            // those lists are left out (they were three quarters of the copy's bytes).
            let own_layers = usize::from(layer) + 1;
            for (level, neighbours) in point
                .get_neighborhood_id()
                .into_iter()
                .take(own_layers)
                .enumerate()
            {
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
    /// as (coded score, point). `rows` holds the coded rows of at least `points()` points.
    pub fn search(&self, query: &CodedQuery, rows: &CodedRows, ef: usize) -> Vec<(f32, usize)> {
        self.search_around(query, rows, ef, None)
    }

    /// [`FrozenGraph::search`] as if `blocked` were not in the layer-0 graph: it is never
    /// reached, so its neighbour list (which holds nearly its true nearest) cannot lead the
    /// search. A stored paper's vector searched this way is about as hard a query as a paper
    /// never indexed, which is what a calibration needs.
    pub fn search_around(
        &self,
        query: &CodedQuery,
        rows: &CodedRows,
        ef: usize,
        blocked: Option<usize>,
    ) -> Vec<(f32, usize)> {
        self.walk(query, rows, ef, blocked, |_| true)
    }

    /// [`FrozenGraph::search`] returning only points that `admits` accepts: the walk goes
    /// through the others but keeps the `ef` best admitted. With a filter that admits few
    /// points it walks much of the graph and may find fewer than `ef`.
    pub fn search_admitting(
        &self,
        query: &CodedQuery,
        rows: &CodedRows,
        ef: usize,
        admits: &dyn Fn(usize) -> bool,
    ) -> Vec<(f32, usize)> {
        self.walk(query, rows, ef, None, |p| admits(p as usize))
    }

    fn walk(
        &self,
        query: &CodedQuery,
        rows: &CodedRows,
        ef: usize,
        blocked: Option<usize>,
        admits: impl Fn(u32) -> bool,
    ) -> Vec<(f32, usize)> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let score = |point: u32| rows.score(query, point);
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
            if stamps.len() < self.points || *generation == u8::MAX {
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
            if admits(current.1) {
                best.push(Reverse(current));
            }
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
                    rows.prefetch(next);
                    fresh.push(next);
                }
                for &next in fresh.iter() {
                    let candidate = Scored(score(next), next);
                    if best.len() < ef || best.peek().is_some_and(|worst| candidate > worst.0) {
                        frontier.push(candidate);
                        if admits(next) {
                            best.push(Reverse(candidate));
                            if best.len() > ef {
                                best.pop();
                            }
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

/// The saved form: little-endian words. Points and the entry (`u32::MAX` for none) as u32,
/// then the offsets and the layer-0 lists, each a u64 count and its u32s, then the upper
/// layers, a u64 count of them, each a u64 count of entries and per entry its point, its
/// list's length and the list, in point order (so the same graph saves to the same bytes).
impl FrozenGraph {
    /// Writes the saved form.
    pub(crate) fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let words = |out: &mut dyn std::io::Write, words: &[u32]| -> std::io::Result<()> {
            out.write_all(&(words.len() as u64).to_le_bytes())?;
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            out.write_all(&bytes)
        };
        let points = u32::try_from(self.points).map_err(std::io::Error::other)?;
        out.write_all(&points.to_le_bytes())?;
        out.write_all(&self.entry.unwrap_or(u32::MAX).to_le_bytes())?;
        words(out, &self.offsets)?;
        words(out, &self.layer0)?;
        out.write_all(&(self.upper.len() as u64).to_le_bytes())?;
        for layer in &self.upper {
            let mut keys: Vec<&u32> = layer.keys().collect();
            keys.sort_unstable();
            out.write_all(&(keys.len() as u64).to_le_bytes())?;
            for key in keys {
                let list = &layer[key];
                out.write_all(&key.to_le_bytes())?;
                out.write_all(&(list.len() as u32).to_le_bytes())?;
                let bytes: Vec<u8> = list.iter().flat_map(|w| w.to_le_bytes()).collect();
                out.write_all(&bytes)?;
            }
        }
        Ok(())
    }

    /// Reads the saved form back, checking that every point number it holds is below its
    /// count of points; says what is wrong otherwise.
    pub(crate) fn read_from(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Words { bytes, at: 0 };
        let points = reader.u32()? as usize;
        let entry = Some(reader.u32()?).filter(|&e| e != u32::MAX);
        let count = reader.u64()?;
        let offsets = reader.u32s(count)?;
        let count = reader.u64()?;
        let layer0 = reader.u32s(count)?;
        let layers = reader.u64()?;
        let mut upper = Vec::new();
        for _ in 0..layers {
            let entries = reader.u64()?;
            let mut layer = HashMap::new();
            for _ in 0..entries {
                let key = reader.u32()?;
                let len = reader.u32()?;
                layer.insert(key, reader.u32s(u64::from(len))?);
            }
            upper.push(layer);
        }
        if reader.at != bytes.len() {
            return Err(format!("{} bytes past the graph", bytes.len() - reader.at));
        }
        let in_range = |w: &u32| (*w as usize) < points;
        let ends_fit = offsets.len() == points + 1
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && offsets
                .last()
                .is_some_and(|&end| end as usize == layer0.len());
        if !ends_fit
            || !layer0.iter().all(in_range)
            || !entry.iter().all(in_range)
            || !upper
                .iter()
                .flat_map(|layer| layer.iter())
                .all(|(key, list)| in_range(key) && list.iter().all(in_range))
        {
            return Err(format!(
                "its lists do not fit its {points} points (a point out of range)"
            ));
        }
        Ok(Self {
            points,
            offsets,
            layer0,
            upper,
            entry,
        })
    }
}

/// Little-endian words read off a byte slice, with an error where it ends early.
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Words<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let slice = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or("it ends early")?;
        self.at += n;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn u32s(&mut self, count: u64) -> Result<Vec<u32>, String> {
        let n = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(4))
            .ok_or("a count past any file")?;
        Ok(self
            .take(n)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::distance::UnitDotF16;
    use half::f16;

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn the_saved_form_reads_back_the_same_and_a_damaged_one_is_refused() {
        let graph: Hnsw<'static, f16, UnitDotF16> = Hnsw::new(8, 64, 16, 40, UnitDotF16);
        let rows: Vec<Vec<f16>> = (0..64)
            .map(|i| {
                let v: Vec<f32> = (0..8)
                    .map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0)
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| f16::from_f32(x / norm)).collect()
            })
            .collect();
        let points: Vec<(&[f16], usize)> = rows.iter().map(Vec::as_slice).zip(0..).collect();
        graph.parallel_insert_slice(&points);
        let frozen = FrozenGraph::copy(&graph, rows.len());
        let mut bytes = Vec::new();
        frozen.write_to(&mut bytes).expect("written");
        assert_eq!(FrozenGraph::read_from(&bytes), Ok(frozen.clone()));
        let err = FrozenGraph::read_from(&bytes[..bytes.len() - 1]).expect_err("truncated");
        assert!(err.contains("ends early"), "{err}");

        // Two points, the second's neighbour numbered past them.
        let mut damaged = words(&[2, 0]);
        damaged.extend(3u64.to_le_bytes());
        damaged.extend(words(&[0, 1, 2]));
        damaged.extend(2u64.to_le_bytes());
        damaged.extend(words(&[1, 5]));
        damaged.extend(0u64.to_le_bytes());
        let err = FrozenGraph::read_from(&damaged).expect_err("out of range");
        assert!(err.contains("a point out of range"), "{err}");
    }
}
