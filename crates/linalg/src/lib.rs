//! The one checked dense matrix product paperscout's crates share, and the ranker's loops over
//! candidates: vectorisable `exp`, `ln` and `dot`, and the soft maximum and moments that run
//! with AVX2 where the machine has it (chosen at run time; the same results either way, since
//! no product and sum are fused).
//!
//! [`matmul`] wraps the `gemm` crate (the kernels Candle itself uses, with AVX2/AVX-512/NEON
//! paths chosen at run time) behind bounds checks, so its callers stay free of `unsafe`: the
//! fused encoder's dense layers and attention, and the ranker's profile × candidate scores.
//!
//! Every SIMD kernel and every `unsafe` block of paperscout lives in this crate; the others
//! forbid `unsafe` code. [`encoder`] holds the encoder's element-wise kernels, [`half_precision`]
//! the index's half-precision dot and prefetch, [`byte_codes`] the byte-coded dot its graph
//! walk scores with, [`low_precision`] the encoder's dense layers in int8 (AMX or
//! AVX512-VNNI) and bf16 (AVX512-BF16).

pub mod byte_codes;
pub mod encoder;
pub mod half_precision;
pub mod low_precision;

use gemm::Parallelism;

/// A strided view of a row-major-or-not matrix inside a slice.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows, in elements.
    pub row_stride: usize,
    /// Distance between columns, in elements.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `rows × cols` matrix starting at `data[0]`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view runs past its slice");
        }
    }
}

/// `out[m×n] = scale · a[m×k] · b[k×n]`, `out` row-major with rows `out_stride` apart.
pub fn matmul(
    a: MatRef<'_>,
    b: MatRef<'_>,
    out: &mut [f32],
    out_stride: usize,
    scale: f32,
    parallel: bool,
) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    a.check();
    b.check();
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(out_stride >= n, "output rows overlap");
    assert!(
        (m - 1) * out_stride + n <= out.len(),
        "output runs past its slice"
    );
    let parallelism = if parallel {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every element that gemm reads inside `a.data` and `b.data`
    // and every element it writes inside `out`, which is borrowed mutably, so nothing else can
    // read or write it meanwhile. `read_dst` is false, so `out`'s old contents are not read.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            out_stride as isize,
            false,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            0.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// e^x, relative error below 2e-7, for x in [-87, 88] (clamped outside).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // ln 2 split in two so that n·ln2 is subtracted without rounding error.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let (n, two_to_n) = nearest_power_of_two(x);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series of e^r for |r| ≤ ln2/2, to the 7th power.
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * two_to_n
}

/// The range reduction of the exponentials: n, the integer nearest x·log2(e), and 2^n, for x in
/// [-87, 88]. Written without a libm call or a saturating conversion, so loops over it
/// vectorise.
#[inline(always)]
pub(crate) fn nearest_power_of_two(x: f32) -> (f32, f32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let rounded = x * LOG2E + ROUND;
    let n = rounded - ROUND;
    // `rounded`'s low mantissa bits hold n (|n| ≤ 127): 2^n from integer arithmetic alone,
    // where `n as i32` would be a saturating conversion that does not vectorise.
    let biased = rounded
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    (n, f32::from_bits(biased << 23))
}

/// ln x, error below 3e-7 (relative, absolute near 1) for x in [2^-126, 1]; x below 2^-126 (zero included) is
/// taken as 2^-126. Written so that a loop over many values vectorises, where `f32::ln` is a
/// call per value.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    // ln 2 split in two so that e·ln2 is added without rounding error.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let bits = x.max(f32::MIN_POSITIVE).to_bits();
    // x = m · 2^e with m in [√½, √2): shift the exponent so that m lands there.
    let shifted = bits.wrapping_sub(0x3F35_04F3);
    let e = (shifted as i32 >> 23) as f32;
    let m = f32::from_bits((shifted & 0x007F_FFFF).wrapping_add(0x3F35_04F3));
    // ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172: the odd series to s⁹.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = 1.0 / 9.0;
    let p = p * s2 + 1.0 / 7.0;
    let p = p * s2 + 1.0 / 5.0;
    let p = p * s2 + 1.0 / 3.0;
    let p = p * s2 + 1.0;
    e * LN2_HI + (e * LN2_LO + 2.0 * s * p)
}

/// The inner product, summed in eight running sums so that it vectorises; compiled for AVX2
/// and FMA as well, and run so where the CPU has them (chosen at run time: the default build
/// runs on any x86-64; no product and sum are fused, so both give the same result). The
/// index's distance and the ranker's cosines both come here.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, all that `dot_avx2` is compiled for.
        #[allow(unsafe_code)]
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(unsafe_code)]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0f32; LANES];
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_blocks.zip(b_blocks) {
        for i in 0..LANES {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// For each column j of the rows, (1/t) · ln(Σᵢ wᵢ exp(t · `rows[i][j]`) / Σᵢ wᵢ) into `out[j]`:
/// the weighted mean for t → 0 (and taken as such for t ≤ 0), the maximum for t → ∞. Rows
/// pair with weights in order; every row is at least `out.len()` long. `sums` is room for
/// the work, reused from call to call.
pub fn soft_max_rows(
    rows: &[&[f32]],
    weights: &[f32],
    t: f32,
    out: &mut [f32],
    sums: &mut Vec<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, which is all that `soft_max_rows_avx2` is compiled for.
        #[allow(unsafe_code)]
        unsafe {
            soft_max_rows_avx2(rows, weights, t, out, sums);
        }
        return;
    }
    soft_max_rows_portable(rows, weights, t, out, sums);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn soft_max_rows_avx2(
    rows: &[&[f32]],
    weights: &[f32],
    t: f32,
    out: &mut [f32],
    sums: &mut Vec<f32>,
) {
    soft_max_rows_portable(rows, weights, t, out, sums);
}

#[inline(always)]
fn soft_max_rows_portable(
    rows: &[&[f32]],
    weights: &[f32],
    t: f32,
    out: &mut [f32],
    sums: &mut Vec<f32>,
) {
    let total: f32 = weights
        .iter()
        .take(rows.len())
        .sum::<f32>()
        .max(f32::MIN_POSITIVE);
    let n = out.len();
    // Row by row over contiguous memory, so that the loops vectorise, exp and ln included.
    if t <= 0.0 {
        out.fill(0.0);
        for (row, &w) in rows.iter().zip(weights) {
            for (acc, s) in out.iter_mut().zip(&row[..n]) {
                *acc += s * w;
            }
        }
        for acc in out.iter_mut() {
            *acc /= total;
        }
        return;
    }
    out.fill(f32::NEG_INFINITY);
    for row in rows {
        for (m, &s) in out.iter_mut().zip(&row[..n]) {
            *m = m.max(s);
        }
    }
    sums.clear();
    sums.resize(n, 0.0);
    for (row, &w) in rows.iter().zip(weights) {
        for ((acc, &s), &m) in sums.iter_mut().zip(&row[..n]).zip(out.iter()) {
            *acc += w * exp((s - m) * t);
        }
    }
    let (inverse_total, inverse_t) = (1.0 / total, 1.0 / t);
    for (m, &acc) in out.iter_mut().zip(sums.iter()) {
        *m += ln(acc * inverse_total) * inverse_t;
    }
}

/// The number, sum and sum of squares (in double precision) of the values `counted` marks,
/// all of them when `None`.
pub fn sums_and_squares(values: &[f32], counted: Option<&[bool]>) -> (usize, f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, which is all that `sums_and_squares_avx2` is compiled for.
        #[allow(unsafe_code)]
        return unsafe { sums_and_squares_avx2(values, counted) };
    }
    sums_and_squares_portable(values, counted)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
unsafe fn sums_and_squares_avx2(values: &[f32], counted: Option<&[bool]>) -> (usize, f64, f64) {
    sums_and_squares_portable(values, counted)
}

#[inline(always)]
fn sums_and_squares_portable(values: &[f32], counted: Option<&[bool]>) -> (usize, f64, f64) {
    // Eight running sums each, so that the loops vectorise.
    const LANES: usize = 8;
    let mut sums = [0.0f64; LANES];
    let mut squares = [0.0f64; LANES];
    let count = match counted {
        None => {
            let chunks = values.chunks_exact(LANES);
            let tail = chunks.remainder();
            for chunk in chunks {
                for lane in 0..LANES {
                    let v = f64::from(chunk[lane]);
                    sums[lane] += v;
                    squares[lane] += v * v;
                }
            }
            for &v in tail {
                sums[0] += f64::from(v);
                squares[0] += f64::from(v) * f64::from(v);
            }
            values.len()
        }
        Some(mask) => {
            let mut count = 0;
            let chunks = values.chunks_exact(LANES).zip(mask.chunks_exact(LANES));
            for (chunk, keep) in chunks {
                for lane in 0..LANES {
                    let v = if keep[lane] {
                        f64::from(chunk[lane])
                    } else {
                        0.0
                    };
                    sums[lane] += v;
                    squares[lane] += v * v;
                    count += usize::from(keep[lane]);
                }
            }
            let done = values.len() - values.len() % LANES;
            for (&v, &keep) in values[done..].iter().zip(&mask[done..]) {
                if keep {
                    sums[0] += f64::from(v);
                    squares[0] += f64::from(v) * f64::from(v);
                    count += 1;
                }
            }
            count
        }
    };
    (count, sums.iter().sum(), squares.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_softmax_range() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 97.0 * (i as f32) / 200_000.0;
            let exact = f64::from(x).exp();
            let relative = ((f64::from(exp(x)) - exact) / exact).abs();
            worst = worst.max(relative);
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.0), "clamped, never NaN");
    }

    #[test]
    fn ln_is_accurate_over_the_range_soft_max_needs() {
        // Absolute near 1, where ln x is near 0; relative elsewhere.
        let error = |x: f32| {
            let exact = f64::from(x).ln();
            (f64::from(ln(x)) - exact).abs() / exact.abs().max(1.0)
        };
        let mut worst = 0.0f64;
        for i in 1..=200_000 {
            let x = (i as f32) / 200_000.0;
            worst = worst.max(error(x));
        }
        for e in -126..=0 {
            worst = worst.max(error(2.0f32.powi(e) * 1.37));
        }
        assert!(worst < 3e-7, "worst error {worst}");
        assert_eq!(ln(0.0), ln(f32::MIN_POSITIVE), "zero is clamped, never NaN");
        assert!((ln(1.0)).abs() < 1e-7);
    }

    #[test]
    fn dot_matches_the_plain_sum_at_every_length() {
        for n in [0, 1, 15, 16, 17, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            assert!((f64::from(dot(&a, &b)) - plain).abs() < 1e-4, "length {n}");
        }
    }

    #[test]
    fn soft_max_goes_from_the_weighted_mean_to_the_maximum() {
        let rows: [&[f32]; 3] = [&[0.1, 0.9, 0.5], &[0.3, 0.2, 0.5], &[0.2, 0.1, 0.5]];
        let weights = [1.0, 2.0, 1.0];
        let mut out = [0.0; 3];
        soft_max_rows(&rows, &weights, 0.0, &mut out, &mut Vec::new());
        assert!((out[0] - 0.225).abs() < 1e-6 && (out[2] - 0.5).abs() < 1e-6);
        soft_max_rows(&rows, &weights, 1000.0, &mut out, &mut Vec::new());
        assert!(
            (out[1] - 0.9).abs() < 2e-3,
            "a sharp soft maximum is the maximum: {out:?}"
        );
        soft_max_rows(&rows, &weights, 5.0, &mut out, &mut Vec::new());
        let exact = |j: usize| {
            let sum: f64 = rows
                .iter()
                .zip(weights)
                .map(|(r, w)| f64::from(w) * (5.0 * f64::from(r[j])).exp())
                .sum();
            (sum / 4.0).ln() / 5.0
        };
        for (j, &value) in out.iter().enumerate() {
            assert!((f64::from(value) - exact(j)).abs() < 1e-6, "column {j}");
        }
    }

    #[test]
    fn sums_and_squares_count_only_the_marked_values() {
        let values: Vec<f32> = (0..21).map(|i| i as f32).collect();
        let all = sums_and_squares(&values, None);
        assert_eq!(all, (21, 210.0, 2870.0));
        let odd: Vec<bool> = (0..21).map(|i| i % 2 == 1).collect();
        assert_eq!(sums_and_squares(&values, Some(&odd)), (10, 100.0, 1330.0));
    }

    #[test]
    fn matmul_handles_strides_and_scale() {
        // a = [[1, 2], [3, 4]], b = aᵀ read through strides.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = MatRef {
            data: &a,
            rows: 2,
            cols: 2,
            row_stride: 1,
            col_stride: 2,
        };
        let mut out = [0.0; 6];
        matmul(MatRef::row_major(&a, 2, 2), b, &mut out, 3, 0.5, false);
        // a·aᵀ = [[5, 11], [11, 25]], halved, in rows 3 apart.
        assert_eq!(out, [2.5, 5.5, 0.0, 5.5, 12.5, 0.0]);
    }

    #[test]
    #[should_panic(expected = "runs past")]
    fn matmul_refuses_views_past_the_slice() {
        let a = [1.0; 4];
        let mut out = [0.0; 4];
        matmul(
            MatRef::row_major(&a, 2, 2),
            MatRef::row_major(&a, 2, 3),
            &mut out,
            3,
            1.0,
            false,
        );
    }
}
