//! Vectors coded in one signed byte a component: the inner product a large index's graph walk
//! scores with. Half the bytes of half precision, so that on an index larger than the caches,
//! where nearly every point a walk scores is a miss, each costs half the memory traffic.
//!
//! A vector is coded by its own scale ([`code_f32`], [`code_f16`]). The sums are of integers,
//! exact on every path (products of two bytes summed in 32 bits cannot overflow below 133,000
//! components), so every CPU gives the same result.

use half::f16;

/// The inner product of two byte-coded vectors of one length, as an exact integer; with
/// AVX-512BW or AVX2 where the CPU has them (chosen at run time).
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len(), "dot_i8 of vectors of two lengths");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512BW (and so AVX-512F), all `dot_i8_avx512` needs.
            #[allow(unsafe_code)]
            return unsafe { dot_i8_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, all that `dot_i8_avx2` is compiled for.
            #[allow(unsafe_code)]
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[allow(unsafe_code)]
unsafe fn dot_i8_avx512(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm512_add_epi32, _mm512_cvtepi8_epi16, _mm512_madd_epi16,
        _mm512_reduce_add_epi32, _mm512_setzero_si512,
    };
    let (a_blocks, b_blocks) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail = dot_i8_portable(a_blocks.remainder(), b_blocks.remainder());
    let mut sums = _mm512_setzero_si512();
    for (x, y) in a_blocks.zip(b_blocks) {
        // SAFETY: each block is 32 bytes, what an unaligned 256-bit load reads.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(x.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(y.as_ptr().cast::<__m256i>()),
            )
        };
        // Widened to 16 bits, multiplied in pairs and each pair summed into 32 bits.
        let products = _mm512_madd_epi16(_mm512_cvtepi8_epi16(x), _mm512_cvtepi8_epi16(y));
        sums = _mm512_add_epi32(sums, products);
    }
    _mm512_reduce_add_epi32(sums) + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_madd_epi16,
        _mm256_setzero_si256, _mm256_storeu_si256,
    };
    let (a_blocks, b_blocks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail = dot_i8_portable(a_blocks.remainder(), b_blocks.remainder());
    let mut sums = _mm256_setzero_si256();
    for (x, y) in a_blocks.zip(b_blocks) {
        // SAFETY: each block is 16 bytes, what an unaligned 128-bit load reads.
        let (x, y) = unsafe {
            (
                _mm_loadu_si128(x.as_ptr().cast::<__m128i>()),
                _mm_loadu_si128(y.as_ptr().cast::<__m128i>()),
            )
        };
        let products = _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), _mm256_cvtepi8_epi16(y));
        sums = _mm256_add_epi32(sums, products);
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` holds the eight i32 an unaligned 256-bit store writes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sums) };
    lanes.iter().sum::<i32>() + tail
}

fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// The largest code: components are coded in −127..=127, symmetric about zero.
const LARGEST: f32 = 127.0;

/// Codes a vector into `out` (of its length), each component rounded (half away from zero) to
/// the nearest multiple of the scale it returns: the largest magnitude over 127, so that it
/// takes the code ±127. A zero vector, or one with an infinite component, codes to zeros with
/// scale 0; a NaN component gives codes that may differ between paths (the index refuses
/// vectors that are not finite before coding them).
///
/// # Panics
/// If the lengths differ.
pub fn code_f32(values: &[f32], out: &mut [i8]) -> f32 {
    assert_eq!(
        values.len(),
        out.len(),
        "code_f32 into a row of another length"
    );
    let largest = largest_magnitude(0.0, values.iter().copied());
    code_with(values.iter().copied(), largest, out)
}

/// [`code_f32`] of a half-precision vector, widened exactly; with AVX-512 where the CPU has it
/// (the same codes and scale on every path). An index codes every row it opens this way.
///
/// # Panics
/// If the lengths differ.
pub fn code_f16(values: &[f16], out: &mut [i8]) -> f32 {
    assert_eq!(
        values.len(),
        out.len(),
        "code_f16 into a row of another length"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, all that `code_f16_avx512` is compiled for.
        #[allow(unsafe_code)]
        return unsafe { code_f16_avx512(values, out) };
    }
    code_f16_portable(values, out)
}

fn code_f16_portable(values: &[f16], out: &mut [i8]) -> f32 {
    let largest = largest_magnitude(0.0, values.iter().map(|x| x.to_f32()));
    code_with(values.iter().map(|x| x.to_f32()), largest, out)
}

/// The largest of `start` and the magnitudes of `values`, as every path takes it: by
/// comparison, so that an infinity wins (and leaves the vector uncodable) wherever it is.
fn largest_magnitude(start: f32, values: impl Iterator<Item = f32>) -> f32 {
    values
        .map(f32::abs)
        .fold(start, |m, x| if x > m { x } else { m })
}

/// What each component is multiplied by before rounding, given the vector's largest
/// magnitude: 127 over it. `None` for a zero or infinite largest; such a vector codes to zeros
/// with scale 0.
fn per_unit(largest: f32) -> Option<f32> {
    (largest != 0.0 && largest.is_finite()).then(|| LARGEST / largest)
}

/// The codes of `values` given their largest magnitude, and their scale: the one rounding
/// every path shares.
fn code_with(values: impl Iterator<Item = f32>, largest: f32, out: &mut [i8]) -> f32 {
    let Some(per_unit) = per_unit(largest) else {
        out.fill(0);
        return 0.0;
    };
    for (code, x) in out.iter_mut().zip(values) {
        *code = rounded(x * per_unit);
    }
    largest / LARGEST
}

/// Half away from zero: a signed half added, then truncated (saturating, though a scaled
/// component is within ±127 by the choice of scale).
#[inline(always)]
fn rounded(scaled: f32) -> i8 {
    (scaled + 0.5f32.copysign(scaled)) as i8
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn code_f16_avx512(values: &[f16], out: &mut [i8]) -> f32 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_storeu_si128, _mm256_loadu_si256, _mm512_abs_ps, _mm512_add_ps,
        _mm512_and_si512, _mm512_castps_si512, _mm512_castsi512_ps, _mm512_cvtph_ps,
        _mm512_cvtsepi32_epi8, _mm512_cvttps_epi32, _mm512_max_ps, _mm512_mul_ps, _mm512_or_si512,
        _mm512_reduce_max_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps,
    };
    let blocks = values.chunks_exact(16);
    let tail = blocks.remainder();
    let load = |block: &[f16]| {
        // SAFETY: each block is sixteen f16, the 32 bytes an unaligned 256-bit load reads.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()) })
    };
    let mut largest = _mm512_setzero_ps();
    for block in blocks.clone() {
        largest = _mm512_max_ps(largest, _mm512_abs_ps(load(block)));
    }
    let largest = largest_magnitude(
        _mm512_reduce_max_ps(largest),
        tail.iter().map(|x| x.to_f32()),
    );
    let Some(per_unit) = per_unit(largest) else {
        out.fill(0);
        return 0.0;
    };
    let scale = _mm512_set1_ps(per_unit);
    let (sign, half) = (_mm512_set1_epi32(i32::MIN), _mm512_set1_ps(0.5));
    let (head, out_tail) = out.split_at_mut(values.len() - tail.len());
    for (block, codes) in blocks.zip(head.chunks_exact_mut(16)) {
        let scaled = _mm512_mul_ps(load(block), scale);
        // 0.5 with the sign of each scaled component, added, then truncated: as `rounded`.
        let signed_half = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_and_si512(_mm512_castps_si512(scaled), sign),
            _mm512_castps_si512(half),
        ));
        let whole = _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(_mm512_add_ps(scaled, signed_half)));
        // SAFETY: `codes` is sixteen bytes, what an unaligned 128-bit store writes.
        unsafe { _mm_storeu_si128(codes.as_mut_ptr().cast::<__m128i>(), whole) };
    }
    // The tail, and the scale, as the portable path gives them.
    code_with(tail.iter().map(|x| x.to_f32()), largest, out_tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(len: usize, seed: u32) -> Vec<i8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8 as i8)
            .collect()
    }

    #[test]
    fn every_path_gives_the_exact_sum() {
        // Lengths with and without a tail past the 32- and 16-byte blocks, and the extremes.
        for len in [0, 1, 15, 16, 31, 32, 33, 384, 385] {
            let (a, b) = (codes(len, 7), codes(len, 99));
            let exact: i64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i64::from(x) * i64::from(y))
                .sum();
            assert_eq!(i64::from(dot_i8_portable(&a, &b)), exact, "portable, {len}");
            assert_eq!(i64::from(dot_i8(&a, &b)), exact, "chosen path, {len}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                #[allow(unsafe_code)]
                let avx2 = unsafe { dot_i8_avx2(&a, &b) };
                assert_eq!(i64::from(avx2), exact, "avx2, {len}");
            }
        }
        let lows = vec![i8::MIN; 384];
        assert_eq!(dot_i8(&lows, &lows), 384 * 128 * 128);
        let highs = vec![i8::MAX; 384];
        assert_eq!(dot_i8(&lows, &highs), -384 * 128 * 127);
    }

    #[test]
    fn every_path_codes_alike_and_rounds_half_away_from_zero() {
        let mut out = [1i8; 3];
        assert_eq!(code_f32(&[0.0; 3], &mut out), 0.0);
        assert_eq!(out, [0; 3]);
        // The largest magnitude takes ±127, its sign kept; 0.5 × 127 = 63.5 rounds away.
        assert_eq!(code_f32(&[0.25, -0.5, 0.1], &mut out), 0.5 / 127.0);
        assert_eq!(out, [64, -127, 25]);
        assert_eq!(code_f32(&[-0.25, 0.5, f32::INFINITY], &mut out), 0.0);
        assert_eq!(out, [0; 3]);
        // Lengths with and without a tail past the sixteen-wide blocks.
        for len in [1, 15, 16, 17, 384, 390] {
            let values: Vec<f32> = (0..len)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect();
            let halves: Vec<f16> = values.iter().map(|&x| f16::from_f32(x)).collect();
            let widened: Vec<f32> = halves.iter().map(|x| x.to_f32()).collect();
            let (mut a, mut b, mut c) = (vec![0i8; len], vec![0i8; len], vec![0i8; len]);
            let scale = code_f32(&widened, &mut a);
            assert_eq!(code_f16_portable(&halves, &mut b), scale, "{len}");
            assert_eq!(code_f16(&halves, &mut c), scale, "{len}");
            assert_eq!((&a, &a), (&b, &c), "{len}");
            let worst = widened
                .iter()
                .zip(&a)
                .map(|(x, &q)| (x - f32::from(q) * scale).abs())
                .fold(0f32, f32::max);
            assert!(worst <= scale / 2.0 + 1e-7, "{len}: {worst}");
        }
    }
}
