//! The one checked dense matrix product paperscout's crates share, and a vectorisable `exp`.
//!
//! [`matmul`] wraps the `gemm` crate (the kernels Candle itself uses, with AVX2/AVX-512/NEON
//! paths chosen at run time) behind bounds checks, so its callers stay free of `unsafe`: the
//! fused encoder's dense layers and attention, and the ranker's profile × candidate scores.

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
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·ln2 is subtracted without rounding error.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let rounded = x * LOG2E + ROUND;
    let n = rounded - ROUND;
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
    // `rounded`'s low mantissa bits hold n (|n| ≤ 127): 2^n from integer arithmetic alone,
    // where `n as i32` would be a saturating conversion that does not vectorise.
    let biased = rounded
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(biased << 23)
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
