//! The distance the graph is built with: 1 − a·b for unit vectors, clamped at 0.
//!
//! For unit vectors the inner product is the cosine, so no norm is recomputed. Rounding can
//! push a·b of a vector with itself (or a near twin) a hair above 1; hnsw_rs's own `DistDot`
//! asserts against that and panics on real embeddings, so here the distance is clamped instead.

use hnsw_rs::anndists::dist::Distance;

/// `max(0, 1 − a·b)` over unit vectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// The inner product: most of a search's time is here.
pub use paperscout_linalg::dot;

/// Asks the CPU to start loading a vector into its caches: a search calls it for every
/// neighbour it is about to score, so their loads overlap instead of each waiting on memory
/// in turn. A hint only; it does nothing where the CPU has no such instruction.
#[inline(always)]
pub fn prefetch(vector: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // Every 64-byte line of the vector; the loads are hints and never fault.
        for line in vector.chunks(16) {
            // SAFETY: prefetching reads nothing the program sees and cannot fault; the
            // pointer comes from a live slice.
            #[allow(unsafe_code, unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = vector;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_is_at_distance_zero_from_itself_never_below() {
        // Components chosen so that the rounded a·a exceeds 1 in f32.
        let mut v: Vec<f32> = (0..384)
            .map(|i| ((i * 7919) % 1000) as f32 - 500.0)
            .collect();
        let norm = dot(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        let d = UnitDot.eval(&v, &v);
        assert!((0.0..1e-6).contains(&d), "{d}");
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
        assert_eq!(UnitDot.eval(&[1.0, 0.0], &[-1.0, 0.0]), 2.0);
    }
}
