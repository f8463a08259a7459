//! Half-precision vectors: the inner products the index's graph is built and searched with
//! (half by half) and its results scored with (a single-precision query by a half-precision
//! row), and a prefetch hint for the vectors a search is about to score.

use half::f16;

/// The inner product of two half-precision vectors, in sixteen running sums of
/// single-precision products, folded to eight and added up in order; with AVX-512, or AVX2 and
/// F16C, where the CPU has them (chosen at run time; the same result on every path, since each
/// sums the same products in the same order and none fuses a product with its sum, so a graph
/// built on one machine is the graph another would build).
#[inline]
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, all that `dot_f16_avx512` is compiled for.
            #[allow(unsafe_code)]
            return unsafe { dot_f16_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the CPU has AVX2 and F16C, all that `dot_f16_avx2` is compiled for.
            #[allow(unsafe_code)]
            return unsafe { dot_f16_avx2(a, b) };
        }
    }
    dot_f16_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn dot_f16_avx512(a: &[f16], b: &[f16]) -> f32 {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm512_add_ps, _mm512_cvtph_ps, _mm512_mul_ps,
        _mm512_setzero_ps, _mm512_storeu_ps,
    };
    let (a_blocks, b_blocks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail = block_tail(a_blocks.remainder(), b_blocks.remainder());
    let mut sums = _mm512_setzero_ps();
    for (x, y) in a_blocks.zip(b_blocks) {
        // SAFETY: each block is sixteen f16, the 32 bytes an unaligned 256-bit load reads.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(x.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(y.as_ptr().cast::<__m256i>()),
            )
        };
        sums = _mm512_add_ps(sums, _mm512_mul_ps(_mm512_cvtph_ps(x), _mm512_cvtph_ps(y)));
    }
    let mut lanes = [0f32; 16];
    // SAFETY: `lanes` holds the sixteen f32 an unaligned 512-bit store writes.
    unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), sums) };
    folded(&lanes) + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
#[allow(unsafe_code)]
unsafe fn dot_f16_avx2(a: &[f16], b: &[f16]) -> f32 {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm256_add_ps, _mm256_cvtph_ps, _mm256_mul_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };
    let (a_blocks, b_blocks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail = block_tail(a_blocks.remainder(), b_blocks.remainder());
    // The first and the second eight of each block, as the sixteen lanes of the other paths.
    let (mut low, mut high) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for (x, y) in a_blocks.zip(b_blocks) {
        // SAFETY: each block is sixteen f16; each load reads eight of them (16 bytes).
        let (x0, x1, y0, y1) = unsafe {
            (
                _mm_loadu_si128(x.as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(x[8..].as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(y.as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(y[8..].as_ptr().cast::<__m128i>()),
            )
        };
        low = _mm256_add_ps(low, _mm256_mul_ps(_mm256_cvtph_ps(x0), _mm256_cvtph_ps(y0)));
        high = _mm256_add_ps(
            high,
            _mm256_mul_ps(_mm256_cvtph_ps(x1), _mm256_cvtph_ps(y1)),
        );
    }
    let mut lanes = [0f32; 16];
    // SAFETY: each half of `lanes` holds the eight f32 an unaligned 256-bit store writes.
    unsafe {
        _mm256_storeu_ps(lanes.as_mut_ptr(), low);
        _mm256_storeu_ps(lanes[8..].as_mut_ptr(), high);
    }
    folded(&lanes) + tail
}

fn dot_f16_portable(a: &[f16], b: &[f16]) -> f32 {
    let (a_blocks, b_blocks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail = block_tail(a_blocks.remainder(), b_blocks.remainder());
    let mut lanes = [0f32; 16];
    for (x, y) in a_blocks.zip(b_blocks) {
        for i in 0..16 {
            lanes[i] += x[i].to_f32() * y[i].to_f32();
        }
    }
    folded(&lanes) + tail
}

/// Sixteen running sums folded to eight (lane i with lane i + 8), then added up in order: the
/// one way every path of [`dot_f16`] ends.
#[inline(always)]
fn folded(lanes: &[f32; 16]) -> f32 {
    (0..8).map(|i| lanes[i] + lanes[i + 8]).sum()
}

/// The inner product of a single-precision vector with a half-precision one, in eight running
/// sums of single-precision products; with AVX2 and F16C where the CPU has them (chosen at run
/// time; the same result either way). The index scores what a search returns this way: the
/// query keeps its full precision, the stored row its half.
#[inline]
pub fn dot_f32_f16(a: &[f32], b: &[f16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: the CPU has AVX2 and F16C, all that `dot_f32_f16_avx2` is compiled for.
        #[allow(unsafe_code)]
        return unsafe { dot_f32_f16_avx2(a, b) };
    }
    dot_f32_f16_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
#[allow(unsafe_code)]
unsafe fn dot_f32_f16_avx2(a: &[f32], b: &[f16]) -> f32 {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm256_add_ps, _mm256_cvtph_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let (a_blocks, b_blocks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = mixed_tail(a_blocks.remainder(), b_blocks.remainder());
    let mut sums = _mm256_setzero_ps();
    for (x, y) in a_blocks.zip(b_blocks) {
        // SAFETY: each block is eight f32 (32 bytes) and eight f16 (16 bytes), what the
        // unaligned 256-bit and 128-bit loads read.
        let (x, y) = unsafe {
            (
                _mm256_loadu_ps(x.as_ptr()),
                _mm_loadu_si128(y.as_ptr().cast::<__m128i>()),
            )
        };
        sums = _mm256_add_ps(sums, _mm256_mul_ps(x, _mm256_cvtph_ps(y)));
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds the eight f32 an unaligned 256-bit store writes.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sums) };
    lanes.iter().sum::<f32>() + tail
}

fn dot_f32_f16_portable(a: &[f32], b: &[f16]) -> f32 {
    let (a_blocks, b_blocks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = mixed_tail(a_blocks.remainder(), b_blocks.remainder());
    let mut lanes = [0f32; 8];
    for (x, y) in a_blocks.zip(b_blocks) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i].to_f32();
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// [`block_tail`] for a single-precision and a half-precision vector.
#[inline(always)]
fn mixed_tail(a: &[f32], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
}

/// The products of the elements past the last whole block of eight, summed in order.
#[inline(always)]
fn block_tail(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y.to_f32()).sum()
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
    use crate::dot;

    fn to_f16(vector: &[f32]) -> Vec<f16> {
        vector.iter().map(|&x| f16::from_f32(x)).collect()
    }

    #[test]
    fn the_dot_is_the_same_on_every_path_and_close_to_single_precision() {
        for len in [0, 5, 8, 16, 19, 35, 384] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 37) % 11) as f32 * 0.09 - 0.4)
                .collect();
            let b: Vec<f32> = (0..len)
                .map(|i| ((i * 53) % 7) as f32 * 0.13 - 0.3)
                .collect();
            let (a16, b16) = (to_f16(&a), to_f16(&b));
            assert_eq!(dot_f16(&a16, &b16), dot_f16_portable(&a16, &b16), "{len}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                // SAFETY: the CPU has what the AVX2 path is compiled for.
                #[allow(unsafe_code)]
                let avx2 = unsafe { dot_f16_avx2(&a16, &b16) };
                assert_eq!(avx2, dot_f16_portable(&a16, &b16), "{len}");
            }
            assert!((dot_f16(&a16, &b16) - dot(&a, &b)).abs() < 1e-2, "{len}");
            assert_eq!(
                dot_f32_f16(&a, &b16),
                dot_f32_f16_portable(&a, &b16),
                "{len}"
            );
            assert!((dot_f32_f16(&a, &b16) - dot(&a, &b)).abs() < 1e-2, "{len}");
        }
    }
}
