//! The distance the graph is built with: 1 − a·b for unit vectors, clamped at 0.
//!
//! For unit vectors the inner product is the cosine, so no norm is recomputed. Rounding can
//! push a·b of a vector with itself (or a near twin) a hair above 1; hnsw_rs's own `DistDot`
//! asserts against that and panics on real embeddings, so here the distance is clamped instead.
//!
//! hnsw_rs keeps its own copy of every vector, and a build spends most of its time waiting on
//! those copies and on its bookkeeping around them; the graph is therefore built over the
//! vectors in half precision ([`UnitDotF16`]), which halves both that copy and the memory a
//! build reads. The cosines a half-precision dot gets wrong by about 1e-3 only decide which
//! near neighbours a point links to; every score a search returns is computed again in single
//! precision.

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

/// The inner product of two half-precision vectors, in eight running sums of single-precision
/// products; with AVX2 and F16C where the CPU has them (chosen at run time; the same result
/// either way, since no product and sum are fused).
#[inline]
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: the CPU has AVX2 and F16C, all that `dot_f16_avx2` is compiled for.
        #[allow(unsafe_code)]
        return unsafe { dot_f16_avx2(a, b) };
    }
    dot_f16_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
#[allow(unsafe_code)]
unsafe fn dot_f16_avx2(a: &[f16], b: &[f16]) -> f32 {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm256_add_ps, _mm256_cvtph_ps, _mm256_mul_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };
    let (a_blocks, b_blocks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = block_tail(a_blocks.remainder(), b_blocks.remainder());
    let mut sums = _mm256_setzero_ps();
    for (x, y) in a_blocks.zip(b_blocks) {
        // SAFETY: each block is eight f16, the 16 bytes an unaligned 128-bit load reads.
        let (x, y) = unsafe {
            (
                _mm_loadu_si128(x.as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(y.as_ptr().cast::<__m128i>()),
            )
        };
        sums = _mm256_add_ps(sums, _mm256_mul_ps(_mm256_cvtph_ps(x), _mm256_cvtph_ps(y)));
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds the eight f32 an unaligned 256-bit store writes.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sums) };
    lanes.iter().sum::<f32>() + tail
}

fn dot_f16_portable(a: &[f16], b: &[f16]) -> f32 {
    let (a_blocks, b_blocks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = block_tail(a_blocks.remainder(), b_blocks.remainder());
    let mut lanes = [0f32; 8];
    for (x, y) in a_blocks.zip(b_blocks) {
        for i in 0..8 {
            lanes[i] += x[i].to_f32() * y[i].to_f32();
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The products of the elements past the last whole block of eight, summed in order.
#[inline(always)]
fn block_tail(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y.to_f32()).sum()
}

/// `vector` in half precision, as the graph holds it.
pub fn to_f16(vector: &[f32]) -> Vec<f16> {
    vector.iter().map(|&x| f16::from_f32(x)).collect()
}

/// Asks the CPU to start loading a vector into its caches: a search calls it for every
/// neighbour it is about to score, so their loads overlap instead of each waiting on memory
/// in turn. A hint only; it does nothing where the CPU has no such instruction.
#[inline(always)]
pub fn prefetch<T>(vector: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // Every 64-byte line of the vector; the loads are hints and never fault.
        let per_line = (64 / size_of::<T>().max(1)).max(1);
        for line in vector.chunks(per_line) {
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
        let d = unit_distance(dot(&v, &v));
        assert!((0.0..1e-6).contains(&d), "{d}");
    }

    #[test]
    fn half_precision_dot_is_the_same_on_every_path_and_close_to_single_precision() {
        for len in [0, 5, 8, 19, 384] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 37) % 11) as f32 * 0.09 - 0.4)
                .collect();
            let b: Vec<f32> = (0..len)
                .map(|i| ((i * 53) % 7) as f32 * 0.13 - 0.3)
                .collect();
            let (a16, b16) = (to_f16(&a), to_f16(&b));
            assert_eq!(dot_f16(&a16, &b16), dot_f16_portable(&a16, &b16), "{len}");
            assert!((dot_f16(&a16, &b16) - dot(&a, &b)).abs() < 1e-2, "{len}");
        }
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
