//! The vectors a graph walk scores: each unit vector coded in one signed byte a component,
//! scaled by its own largest component (`linalg::byte_codes`).
//!
//! On an index larger than the caches nearly every point a walk scores is a miss, and the walk
//! waits on memory, not on arithmetic: a coded row is 384 bytes where the half-precision row
//! is 768, so each miss costs half the lines. The coded score is off by a few thousandths
//! (under 5e-3 in the tests; half precision's by about 1e-3), which only decides which points
//! the walk visits: the index scores the points it returns again from the half-precision rows
//! with the query in single precision.
//!
//! The codes are derived from the half-precision rows whenever those change (an insert, an
//! open), so that nothing new is saved.

use half::f16;
use paperscout_linalg::byte_codes::{code_f16, code_f32, dot_i8};
use paperscout_linalg::half_precision::prefetch;
use rayon::prelude::*;

/// Every point's coded vector, row after row, and the scale that turns its codes back into
/// components (component ≈ code × scale).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodedRows {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// A query coded as the rows are, scored against them by [`CodedRows::score`].
#[derive(Debug, Clone, PartialEq)]
pub struct CodedQuery {
    codes: Vec<i8>,
    scale: f32,
}

impl CodedRows {
    /// No rows yet, with room for `capacity` of `dim` components.
    pub fn with_capacity(dim: usize, capacity: usize) -> Self {
        Self {
            dim,
            codes: Vec::with_capacity(capacity * dim),
            scales: Vec::with_capacity(capacity),
        }
    }

    /// The rows of `halves` (`dim` components each, row after row), coded in parallel.
    pub fn from_halves(halves: &[f16], dim: usize) -> Self {
        let rows = halves.len().checked_div(dim).unwrap_or(0);
        let mut codes = vec![0i8; rows * dim];
        let mut scales = vec![0f32; rows];
        if dim > 0 {
            codes
                .par_chunks_mut(dim)
                .zip(scales.par_iter_mut())
                .zip(halves.par_chunks(dim))
                .with_min_len(1024)
                .for_each(|((codes, scale), row)| *scale = code_f16(row, codes));
        }
        Self { dim, codes, scales }
    }

    /// Appends one row.
    pub fn push(&mut self, row: &[f16]) {
        debug_assert_eq!(row.len(), self.dim);
        let start = self.codes.len();
        self.codes.resize(start + row.len(), 0);
        self.scales.push(code_f16(row, &mut self.codes[start..]));
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Bytes held: the codes and the scales.
    pub fn bytes(&self) -> usize {
        self.codes.capacity() + self.scales.capacity() * size_of::<f32>()
    }

    /// `query` (of the rows' length) coded for [`CodedRows::score`].
    pub fn query(&self, query: &[f32]) -> CodedQuery {
        let mut codes = vec![0i8; query.len()];
        let scale = code_f32(query, &mut codes);
        CodedQuery { codes, scale }
    }

    /// The coded query's inner product with a point's row, about the true one.
    #[inline]
    pub fn score(&self, query: &CodedQuery, point: u32) -> f32 {
        dot_i8(&query.codes, self.row(point)) as f32 * query.scale * self.scales[point as usize]
    }

    /// Asks the CPU to start loading a point's row and scale (see [`prefetch`]).
    #[inline]
    pub fn prefetch(&self, point: u32) {
        prefetch(self.row(point));
        prefetch(std::slice::from_ref(&self.scales[point as usize]));
    }

    /// A point's codes.
    #[inline]
    fn row(&self, point: u32) -> &[i8] {
        let start = point as usize * self.dim;
        &self.codes[start..start + self.dim]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paperscout_linalg::dot;

    fn unit(seed: u32, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim as u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(0x9e37_79b9);
                (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let norm = dot(&v, &v).sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn a_coded_score_is_within_a_few_thousandths_of_the_exact_one() {
        let dim = 384;
        let vectors: Vec<Vec<f32>> = (0..50).map(|s| unit(s, dim)).collect();
        let halves: Vec<f16> = vectors
            .iter()
            .flatten()
            .map(|&x| f16::from_f32(x))
            .collect();
        let rows = CodedRows::from_halves(&halves, dim);
        let mut pushed = CodedRows::with_capacity(dim, 0);
        for row in halves.chunks(dim) {
            pushed.push(row);
        }
        assert_eq!(rows, pushed);
        assert_eq!(rows.len(), 50);
        let mut worst = 0f32;
        for (q, query) in vectors.iter().enumerate().take(10) {
            let coded = rows.query(query);
            for (p, vector) in vectors.iter().enumerate() {
                let error = (rows.score(&coded, p as u32) - dot(query, vector)).abs();
                worst = worst.max(error);
            }
            // A vector with itself scores about 1.
            assert!((rows.score(&coded, q as u32) - 1.0).abs() < 5e-3);
        }
        assert!(worst < 5e-3, "worst error {worst}");
    }

    #[test]
    fn the_coded_rows_follow_the_index_through_inserts_a_replacement_and_an_open() {
        use crate::{Expected, IndexParams, PaperIndex};
        let dim = 16;
        let vectors: Vec<Vec<f32>> = (0..40).map(|s| unit(s, dim)).collect();
        let ids: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
        let papers: Vec<(&str, &[f32])> = ids
            .iter()
            .zip(&vectors)
            .map(|(id, v)| (id.as_str(), v.as_slice()))
            .collect();
        let mut index = PaperIndex::new(dim, IndexParams::default(), 8);
        index.upsert_batch(&papers[..30]).unwrap();
        index.upsert_batch(&papers[30..]).unwrap();
        // A replaced paper leaves its old point behind: its row stays coded too.
        index.upsert("p3", &vectors[39]).unwrap();
        assert_eq!(index.point_count(), 41);
        assert_eq!(index.coded, CodedRows::from_halves(&index.halves, dim));
        assert_eq!(index.coded.len(), 41);

        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path(), "model-a").unwrap();
        let expected = Expected {
            model: "model-a",
            dim,
            params: IndexParams::default(),
        };
        let opened = PaperIndex::load(dir.path(), &expected).unwrap();
        assert_eq!(opened.coded, index.coded);
    }

    #[test]
    fn a_zero_vector_codes_to_zeros_and_scores_zero() {
        let rows = CodedRows::from_halves(&[f16::ZERO; 8], 4);
        assert_eq!(rows.len(), 2);
        let query = rows.query(&[0.5, 0.5, 0.5, 0.5]);
        assert_eq!(rows.score(&query, 1), 0.0);
    }
}
