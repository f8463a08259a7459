//! The numeric kernels of the fused CPU encoder: a checked matrix product over the `gemm`
//! crate, and single passes over memory for what Candle does as several ops (bias + GELU,
//! bias + residual + LayerNorm, scaled softmax).
//!
//! `erf` and `exp` are polynomial approximations written as plain arithmetic so the loops
//! vectorise; libm's scalar versions took a sixth of the time under Candle. Their errors in
//! f32 (exp: 2e-7 relative, erf: 7e-7 absolute) are far inside what the parity tests allow.

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

/// Adds `bias` to every row of `rows` (row-major, `bias.len()` wide).
pub fn add_bias(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

/// Adds `bias`, then applies the exact (erf) GELU, in one pass.
pub fn add_bias_gelu(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, b) in row.iter_mut().zip(bias) {
            let v = *x + b;
            *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// `x = LayerNorm(y + bias + x)` row by row: the residual connection and the normalisation of
/// a BERT sub-layer in one pass. `y` holds the sub-layer's output without its bias.
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

/// LayerNorm over each row of `rows`.
pub fn layer_norm(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in rows.chunks_exact_mut(gamma.len()) {
        layer_norm_row(row, gamma, beta, eps);
    }
}

fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (variance + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Softmax over each row of `rows` (`width` wide).
pub fn softmax_rows(rows: &mut [f32], width: usize) {
    for row in rows.chunks_exact_mut(width) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = exp(*v - max);
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// e^x, relative error below 2e-7, for x in [-87, 88] (clamped outside).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·ln2 is subtracted without rounding error.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
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
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
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
