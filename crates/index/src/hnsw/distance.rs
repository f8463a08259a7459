//! The distance the graph is built with: 1 − a·b for unit vectors, clamped at 0.
//!
//! For unit vectors the inner product is the cosine, so no norm is recomputed. Rounding can
//! push a·b of a vector with itself (or a near twin) a hair above 1; hnsw_rs's own `DistDot`
//! asserts against that and panics on real embeddings, so here the distance is clamped instead.
//!
//! The index holds every vector in half precision, and the graph is built over them
//! ([`UnitDotF16`]): half the memory, and half the bytes a build or a search waits for. A
//! half-precision dot is off by about 1e-3, which only decides which near neighbours a point
//! links to; every score a search returns is computed again with the query in single
//! precision ([`dot_f32_f16`]), within about 1e-4 of the single-precision cosine.

use half::f16;
use hnsw_rs::anndists::dist::Distance;

/// The distance between two unit vectors whose inner product is `dot`: `max(0, 1 − dot)`.
fn unit_distance(dot: f32) -> f32 {
    (1.0 - dot).max(0.0)
}

/// `max(0, 1 − a·b)` over unit vectors stored in half precision, the products summed in
/// single precision.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitDotF16;

impl Distance<f16> for UnitDotF16 {
    fn eval(&self, a: &[f16], b: &[f16]) -> f32 {
        unit_distance(dot_f16(a, b))
    }
}

/// The inner product: most of a search's time is here.
pub use paperscout_linalg::dot;

pub use paperscout_linalg::half_precision::{dot_f16, dot_f32_f16};

/// `vector` in half precision, as the graph holds it.
pub fn to_f16(vector: &[f32]) -> Vec<f16> {
    vector.iter().map(|&x| f16::from_f32(x)).collect()
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
        let d = unit_distance(dot(&v, &v));
        assert!((0.0..1e-6).contains(&d), "{d}");
    }

    #[test]
    fn a_half_precision_vector_is_near_distance_zero_from_itself() {
        let mut v: Vec<f32> = (0..384)
            .map(|i| ((i * 7919) % 1000) as f32 - 500.0)
            .collect();
        let norm = dot(&v, &v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        let v16 = to_f16(&v);
        let d = UnitDotF16.eval(&v16, &v16);
        assert!((0.0..2e-3).contains(&d), "{d}");
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
        assert_eq!(unit_distance(dot(&[1.0, 0.0], &[-1.0, 0.0])), 2.0);
    }
}
