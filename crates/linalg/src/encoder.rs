//! The numeric kernels of `paperscout-embed`'s fused CPU encoder: the checked matrix product,
//! and single passes over memory for what Candle does as several ops (bias + GELU, bias +
//! residual + LayerNorm, scaled softmax).
//!
//! `erf` and `exp` are polynomial approximations written as plain arithmetic so the loops
//! vectorise; libm's scalar versions took a sixth of the time under Candle. Their errors in
//! f32 (exp: 2e-7 relative, erf: 7e-7 absolute) are far inside what the parity tests allow.

pub use crate::{MatRef, exp, matmul};

/// Defines a kernel that runs compiled for AVX-512 or for AVX2 and FMA where the CPU has them
/// (chosen at run time, so the default build still runs on any x86-64) and as portable code
/// elsewhere. The body and the `#[inline(always)]` helpers it calls are compiled once for each;
/// no product and sum are fused and every sum keeps its lanes' order, so all give one result.
macro_rules! vectorised {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn portable($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX-512 F and BW, AVX2 (implied) and FMA, as checked
                    // just above.
                    #[allow(unsafe_code)]
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA, as checked just above.
                    #[allow(unsafe_code)]
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

/// Lanes of the partial sums in reductions: wide enough for one AVX2 register.
const LANES: usize = 8;

/// Lanes of the partial sums where the result need not be the same on AVX2 and AVX-512 (the
/// reduced-precision attention, which runs on AVX-512 CPUs only): one AVX-512 register.
const WIDE_LANES: usize = 16;

vectorised! {
    /// Adds `bias` to every row of `rows` (row-major, `bias.len()` wide).
    pub fn add_bias(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (x, b) in row.iter_mut().zip(bias) {
                *x += b;
            }
        }
    }
}

vectorised! {
    /// Adds `bias`, then applies the exact (erf) GELU, in one pass.
    pub fn add_bias_gelu(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (x, b) in row.iter_mut().zip(bias) {
                let v = *x + b;
                *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
    }
}

vectorised! {
    /// `x = LayerNorm(y + bias + x)` row by row: the residual connection and the normalisation
    /// of a BERT sub-layer in one pass. `y` holds the sub-layer's output without its bias.
    pub fn add_bias_residual_layer_norm(
        x: &mut [f32],
        y: &[f32],
        bias: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        let width = bias.len();
        for (x_row, y_row) in x.chunks_exact_mut(width).zip(y.chunks_exact(width)) {
            for ((x, y), b) in x_row.iter_mut().zip(y_row).zip(bias) {
                *x += y + b;
            }
            layer_norm_row(x_row, gamma, beta, eps);
        }
    }
}

vectorised! {
    /// LayerNorm over each row of `rows`.
    pub fn layer_norm(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        for row in rows.chunks_exact_mut(gamma.len()) {
            layer_norm_row(row, gamma, beta, eps);
        }
    }
}

#[inline(always)]
fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row.iter().copied(), row.len()) / n;
    let variance = sum(row.iter().map(|v| (v - mean) * (v - mean)), row.len()) / n;
    let inv = 1.0 / (variance + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Sums `len` values in [`LANES`] partial sums, so the loop vectorises (a single running sum
/// must be added in order, which forbids it).
#[inline(always)]
fn sum(values: impl Iterator<Item = f32>, len: usize) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut values = values;
    for _ in 0..len / LANES {
        for lane in &mut lanes {
            *lane += values.next().unwrap_or_default();
        }
    }
    lanes.iter().sum::<f32>() + values.sum::<f32>()
}

vectorised! {
    /// Softmax over each row of `rows` (`width` wide).
    pub fn softmax_rows(rows: &mut [f32], width: usize) {
        for row in rows.chunks_exact_mut(width) {
            softmax_row::<LANES>(row, exp);
        }
    }
}

vectorised! {
    /// [`softmax_rows`] with a coarser exponential ([`exp_coarse`], relative error below 1e-4),
    /// for attention in the reduced precisions, whose errors are far larger (bf16's relative
    /// step is 4e-3).
    pub fn softmax_rows_coarse(rows: &mut [f32], width: usize) {
        for row in rows.chunks_exact_mut(width) {
            softmax_row::<WIDE_LANES>(row, exp_coarse);
        }
    }
}

/// Softmax of one row with the exponential `exp`: the maximum in `L` running maxima, then the
/// exponentials and their sum in one pass (lane by lane, the order [`sum`] adds in when `L` is
/// [`LANES`]), then the scaling.
#[inline(always)]
fn softmax_row<const L: usize>(row: &mut [f32], exp: impl Fn(f32) -> f32) {
    let mut maxima = [f32::NEG_INFINITY; L];
    let mut blocks = row.chunks_exact(L);
    for block in &mut blocks {
        for (m, v) in maxima.iter_mut().zip(block) {
            // A comparison rather than `f32::max`, whose care for NaN cost a compare and a
            // blend per step (half the softmax's time); a NaN score makes the row NaN either way.
            if *v > *m {
                *m = *v;
            }
        }
    }
    let max = blocks
        .remainder()
        .iter()
        .chain(&maxima)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let mut lanes = [0f32; L];
    let mut blocks = row.chunks_exact_mut(L);
    for block in &mut blocks {
        for (lane, v) in lanes.iter_mut().zip(block) {
            *v = exp(*v - max);
            *lane += *v;
        }
    }
    let mut tail = 0f32;
    for v in blocks.into_remainder() {
        *v = exp(*v - max);
        tail += *v;
    }
    let inv = 1.0 / (lanes.iter().sum::<f32>() + tail);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// e^x for x ≤ 0 (a softmax's shifted scores), relative error below 1e-4: [`exp`]'s range
/// reduction with the series cut at the 4th power.
#[inline(always)]
pub fn exp_coarse(x: f32) -> f32 {
    const LN2: f32 = std::f32::consts::LN_2;
    let x = x.clamp(-87.0, 0.0);
    let (n, two_to_n) = crate::nearest_power_of_two(x);
    let r = x - n * LN2;
    let p = 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    p * two_to_n
}

/// erf(x), absolute error below 1e-6 in f32 (Abramowitz and Stegun's formula 7.1.26, 1.5e-7 in
/// exact arithmetic; f32 rounding adds the rest).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_accurate() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -8.0 + 16.0 * (i as f32) / 200_000.0;
            let exact = libm::erf(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - exact).abs());
        }
        assert!(worst < 1e-6, "worst absolute error {worst}");
        // Odd, as erf is; at 0 the formula is off by its own error (2e-7), not exactly 0.
        assert_eq!(erf(-0.7), -erf(0.7));
        assert!(erf(0.0).abs() < 1e-6);
    }

    #[test]
    fn the_coarse_exponential_is_within_its_bound() {
        let mut worst = 0.0f64;
        for i in 0..=100_000 {
            let x = -80.0 * (i as f32) / 100_000.0;
            let exact = f64::from(x).exp();
            worst = worst.max(((f64::from(exp_coarse(x)) - exact) / exact).abs());
        }
        assert!(worst < 1e-4, "worst relative error {worst}");
        let mut rows = [0.0, (2.0f32).ln(), 0.0, 0.0];
        softmax_rows_coarse(&mut rows, 2);
        for (got, want) in rows.iter().zip([1.0 / 3.0, 2.0 / 3.0, 0.5, 0.5]) {
            assert!((got - want).abs() < 1e-4, "{rows:?}");
        }
    }

    #[test]
    fn layer_norm_and_softmax_match_their_definitions() {
        let mut row = [1.0, 2.0, 3.0, 4.0];
        layer_norm(&mut row, &[1.0; 4], &[0.0; 4], 0.0);
        let expected = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
        for (got, want) in row.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{row:?}");
        }
        let mut scores = [0.0, (2.0f32).ln(), 0.0, 0.0];
        softmax_rows(&mut scores, 2);
        for (got, want) in scores.iter().zip([1.0 / 3.0, 2.0 / 3.0, 0.5, 0.5]) {
            assert!((got - want).abs() < 1e-6, "{scores:?}");
        }
    }
}
