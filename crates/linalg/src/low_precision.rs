//! Dense layers in reduced precision for the fused encoder: `out = x · Wᵀ` with int8 weights
//! and activations on AVX512-VNNI (int32 sums), or bf16 on AVX512-BF16 (f32 sums).
//!
//! Weights are prepared once, at load: int8 per output channel (symmetric, scale max|w|/127),
//! bf16 by rounding to nearest even; then packed in the order the kernel reads them, blocks of
//! [`BLOCK_COLS`] outputs, each block a run of steps of 4 (int8) or 2 (bf16) inputs for all its
//! outputs side by side: one 64-byte load per 16 outputs and step. Activations are prepared per
//! call: int8 per row (symmetric, scale max|x|/127), stored offset by 128 because VNNI multiplies
//! unsigned bytes by signed ones (the offset comes back out through each output's weight sum);
//! bf16 rounded to nearest even. Rows are padded to a multiple of [`TILE_ROWS`] so that every
//! tile reads whole rows.
//!
//! The kernel computes a tile of 8 rows × 48 outputs in 24 registers; the epilogue applies the
//! row's and the output's scales and stores the valid part. Each path has a portable twin used
//! by the tests: int8's computes the same integers and the same f32 products, so the two agree
//! bit for bit; bf16's agrees to f32 rounding.

use rayon::prelude::*;

/// Rows of activations one kernel call computes.
pub const TILE_ROWS: usize = 8;
/// Outputs one kernel call computes: three registers of 16 f32 or i32 lanes.
pub const BLOCK_COLS: usize = LANES * GROUPS;
const LANES: usize = 16;
const GROUPS: usize = 3;
/// Inputs per int8 step (one i32 lane holds four bytes) and per bf16 step (two halves).
const INT8_STEP: usize = 4;
const BF16_STEP: usize = 2;

/// Whether this CPU runs the int8 kernel (AVX-512 F, BW, VL and VNNI).
pub fn int8_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the bf16 kernel (AVX-512 with BF16 dot products).
pub fn bf16_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which implementation a call runs: the CPU's instructions, or the portable twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX512-VNNI for int8, AVX512-BF16 for bf16; the caller checks availability first.
    Native,
    /// Plain Rust: slow, for CPUs without the instructions and for the tests.
    Portable,
}

/// The buffers a call prepares its activations in, kept between calls (the encoder makes one
/// per forward pass) so that a layer does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    bytes: Vec<u8>,
    halves: Vec<u16>,
    row_scales: Vec<f32>,
    outlier_values: Vec<f32>,
}

/// A PyTorch weight (`outputs × inputs`) quantised to int8 per output and packed for the kernel,
/// but for a few *outlier* inputs that stay FP32.
///
/// A transformer's hidden states put most of some tokens' magnitude in a few channels (in
/// MiniLM, channel 99 of the `[CLS]` token's is 20 times its root mean square): quantised per row
/// with them, every other value of the row would get a handful of levels. Those channels are
/// taken out of the int8 product (their bytes and weights are zero) and added back in FP32 in
/// the kernel's epilogue, as LLM.int8() does; which channels they are is the caller's choice
/// (the encoder measures them on a few texts at load).
#[derive(Debug, Clone)]
pub struct Int8Weights {
    outputs: usize,
    inputs: usize,
    /// Inputs rounded up to a whole step.
    depth: usize,
    /// `blocks × depth/4 × BLOCK_COLS × 4`.
    packed: Vec<i8>,
    /// Per output (padded to whole blocks with zeros): the step back to real values.
    scales: Vec<f32>,
    /// Per output: the sum of its quantised weights, which takes the activations' offset out.
    sums: Vec<i32>,
    /// The outlier inputs, ascending.
    outliers: Vec<usize>,
    /// Per input: 1, or 0 for an outlier (the activations are multiplied by it before they
    /// are quantised); empty when there are no outliers.
    kept: Vec<f32>,
    /// The outliers' FP32 weights, `blocks × outliers × BLOCK_COLS`.
    outlier_weights: Vec<f32>,
}

impl Int8Weights {
    /// Quantises `weight`, row-major `outputs × inputs`, keeping the inputs `outliers` in FP32.
    pub fn quantize(weight: &[f32], outputs: usize, inputs: usize, outliers: &[usize]) -> Self {
        assert_eq!(
            weight.len(),
            outputs * inputs,
            "weight is not outputs × inputs"
        );
        let mut outliers = outliers.to_vec();
        outliers.sort_unstable();
        outliers.dedup();
        assert!(
            outliers.iter().all(|&k| k < inputs),
            "an outlier is not an input"
        );
        let kept: Vec<f32> = if outliers.is_empty() {
            Vec::new()
        } else {
            (0..inputs)
                .map(|k| {
                    if outliers.binary_search(&k).is_ok() {
                        0.0
                    } else {
                        1.0
                    }
                })
                .collect()
        };
        let depth = inputs.next_multiple_of(INT8_STEP);
        let blocks = outputs.div_ceil(BLOCK_COLS);
        let padded = blocks * BLOCK_COLS;
        let mut scales = vec![0f32; padded];
        let mut sums = vec![0i32; padded];
        let mut quantized = vec![0i8; padded * depth];
        let mut outlier_weights = vec![0f32; blocks * outliers.len() * BLOCK_COLS];
        for (n, row) in weight.chunks_exact(inputs).enumerate() {
            let (block, col) = (n / BLOCK_COLS, n % BLOCK_COLS);
            for (j, &k) in outliers.iter().enumerate() {
                outlier_weights[(block * outliers.len() + j) * BLOCK_COLS + col] = row[k];
            }
            let quantized_input = |k: usize| kept.get(k).is_none_or(|&keep| keep == 1.0);
            let max = row
                .iter()
                .enumerate()
                .filter(|&(k, _)| quantized_input(k))
                .fold(0f32, |m, (_, w)| m.max(w.abs()));
            if max == 0.0 || !max.is_finite() {
                continue;
            }
            scales[n] = max / 127.0;
            let inverse = 127.0 / max;
            for (k, (q, w)) in quantized[n * depth..].iter_mut().zip(row).enumerate() {
                if quantized_input(k) {
                    *q = (w * inverse).round_ties_even().clamp(-127.0, 127.0) as i8;
                }
            }
            sums[n] = quantized[n * depth..(n + 1) * depth]
                .iter()
                .map(|&q| i32::from(q))
                .sum();
        }
        Self {
            outputs,
            inputs,
            depth,
            packed: pack(&quantized, padded, depth, INT8_STEP),
            scales,
            sums,
            outliers,
            kept,
            outlier_weights,
        }
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Inputs per row.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The inputs kept in FP32.
    pub fn outliers(&self) -> &[usize] {
        &self.outliers
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.packed.len()
            + 4 * (self.scales.len() + self.sums.len() + self.kept.len())
            + 4 * self.outlier_weights.len()
    }

    /// What the kernel reads of block `block`.
    fn block(&self, block: usize) -> Int8Block<'_> {
        let col = block * BLOCK_COLS;
        let (len, outlier_len) = (self.depth * BLOCK_COLS, self.outliers.len() * BLOCK_COLS);
        Int8Block {
            packed: &self.packed[block * len..(block + 1) * len],
            scales: &self.scales[col..col + BLOCK_COLS],
            sums: &self.sums[col..col + BLOCK_COLS],
            outlier_weights: &self.outlier_weights[block * outlier_len..(block + 1) * outlier_len],
        }
    }
}

/// One block of outputs of an [`Int8Weights`], as a tile reads it.
#[derive(Clone, Copy)]
struct Int8Block<'a> {
    packed: &'a [i8],
    scales: &'a [f32],
    sums: &'a [i32],
    /// `outliers × BLOCK_COLS`.
    outlier_weights: &'a [f32],
}

/// One tile of activations, as prepared by [`int8_linear`].
#[derive(Clone, Copy)]
struct Int8Rows<'a> {
    /// `TILE_ROWS × depth` offset bytes.
    bytes: &'a [u8],
    /// Per row.
    scales: &'a [f32],
    /// `TILE_ROWS × outliers`: the rows' outlier values.
    outliers: &'a [f32],
}

/// A PyTorch weight (`outputs × inputs`) rounded to bf16 and packed for the kernel.
#[derive(Debug, Clone)]
pub struct Bf16Weights {
    outputs: usize,
    inputs: usize,
    depth: usize,
    /// `blocks × depth/2 × BLOCK_COLS × 2` bf16 bit patterns.
    packed: Vec<u16>,
}

impl Bf16Weights {
    /// Rounds `weight`, row-major `outputs × inputs`, to bf16.
    pub fn round(weight: &[f32], outputs: usize, inputs: usize) -> Self {
        assert_eq!(
            weight.len(),
            outputs * inputs,
            "weight is not outputs × inputs"
        );
        let depth = inputs.next_multiple_of(BF16_STEP);
        let padded = outputs.div_ceil(BLOCK_COLS) * BLOCK_COLS;
        let mut halves = vec![0u16; padded * depth];
        for (n, row) in weight.chunks_exact(inputs).enumerate() {
            for (h, &w) in halves[n * depth..].iter_mut().zip(row) {
                *h = to_bf16(w);
            }
        }
        Self {
            outputs,
            inputs,
            depth,
            packed: pack(&halves, padded, depth, BF16_STEP),
        }
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Inputs per row.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        2 * self.packed.len()
    }

    fn block(&self, block: usize) -> &[u16] {
        let len = self.depth * BLOCK_COLS;
        &self.packed[block * len..(block + 1) * len]
    }
}

/// Reorders `rows × depth` (one output's inputs per row, `rows` a whole number of blocks) into
/// blocks of [`BLOCK_COLS`] outputs, each a run of `step`-input steps over all its outputs.
fn pack<T: Copy + Default>(rows: &[T], padded: usize, depth: usize, step: usize) -> Vec<T> {
    let steps = depth / step;
    let mut packed = vec![T::default(); padded * depth];
    for block in 0..padded / BLOCK_COLS {
        for s in 0..steps {
            for col in 0..BLOCK_COLS {
                let from = (block * BLOCK_COLS + col) * depth + s * step;
                let to = ((block * steps + s) * BLOCK_COLS + col) * step;
                packed[to..to + step].copy_from_slice(&rows[from..from + step]);
            }
        }
    }
    packed
}

/// bf16 bits of `x`, rounded to nearest even (NaN stays NaN).
#[inline(always)]
fn to_bf16(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

/// Makes `buffer` at least `len` long, filling what it adds with `fill`.
fn grow<T: Copy>(buffer: &mut Vec<T>, len: usize, fill: T) {
    if buffer.len() < len {
        buffer.resize(len, fill);
    }
}

/// Rows per parallel task: enough tasks for every thread a few times over, whole tiles each.
fn rows_per_task(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(4 * threads)
        .next_multiple_of(TILE_ROWS)
        .clamp(TILE_ROWS, 8 * TILE_ROWS)
}

/// `out = x · Wᵀ` in int8: `x` row-major `rows × inputs`, `out` row-major `rows × outputs`.
pub fn int8_linear(
    x: &[f32],
    weights: &Int8Weights,
    out: &mut [f32],
    scratch: &mut Scratch,
    kernel: Kernel,
) {
    let (inputs, outputs, depth) = (weights.inputs, weights.outputs, weights.depth);
    assert!(
        inputs > 0 && x.len().is_multiple_of(inputs),
        "x is not rows × inputs"
    );
    let rows = x.len() / inputs;
    assert_eq!(out.len(), rows * outputs, "out is not rows × outputs");
    if kernel == Kernel::Native {
        assert!(int8_available(), "this CPU has no AVX512-VNNI");
    }
    if rows == 0 {
        return;
    }
    let outliers = &weights.outliers;
    let padded_rows = rows.next_multiple_of(TILE_ROWS);
    // One value a row at least: `par_chunks_mut` takes no chunks of 0, and the zip below needs
    // a chunk for every task.
    let outlier_width = outliers.len().max(1);
    // Not cleared: every real row is written below, and what the padding rows hold only
    // reaches outputs that are not stored (nor do the bytes past `inputs` in a row: their
    // weights are zero).
    grow(&mut scratch.bytes, padded_rows * depth, 128);
    grow(&mut scratch.row_scales, padded_rows, 0.0);
    grow(
        &mut scratch.outlier_values,
        padded_rows * outlier_width,
        0.0,
    );
    let per_task = rows_per_task(rows);
    scratch.bytes[..padded_rows * depth]
        .par_chunks_mut(per_task * depth)
        .zip(scratch.row_scales[..padded_rows].par_chunks_mut(per_task))
        .zip(x.par_chunks(per_task * inputs))
        .zip(
            scratch.outlier_values[..padded_rows * outlier_width]
                .par_chunks_mut(per_task * outlier_width),
        )
        .for_each(|(((bytes, scales), x), values)| {
            for (r, ((row, bytes), scale)) in x
                .chunks_exact(inputs)
                .zip(bytes.chunks_exact_mut(depth))
                .zip(scales.iter_mut())
                .enumerate()
            {
                *scale = quantize_row(row, &weights.kept, bytes, kernel);
                for (j, &k) in outliers.iter().enumerate() {
                    values[r * outliers.len() + j] = row[k];
                }
            }
        });

    let (bytes, row_scales) = (&scratch.bytes, &scratch.row_scales);
    let values = &scratch.outlier_values;
    out.par_chunks_mut(per_task * outputs)
        .enumerate()
        .for_each(|(task, out)| {
            let first = task * per_task;
            let task_rows = out.len() / outputs;
            for block in 0..outputs.div_ceil(BLOCK_COLS) {
                let col = block * BLOCK_COLS;
                let weights = weights.block(block);
                for start in (0..task_rows).step_by(TILE_ROWS) {
                    let at = first + start;
                    let rows = Int8Rows {
                        bytes: &bytes[at * depth..(at + TILE_ROWS) * depth],
                        scales: &row_scales[at..at + TILE_ROWS],
                        outliers: &values[at * outliers.len()..(at + TILE_ROWS) * outliers.len()],
                    };
                    let tile = Tile {
                        rows: (task_rows - start).min(TILE_ROWS),
                        cols: (outputs - col).min(BLOCK_COLS),
                        out_stride: outputs,
                    };
                    let out = &mut out[start * outputs + col..];
                    match kernel {
                        Kernel::Native => int8_tile_native(rows, weights, out, tile),
                        Kernel::Portable => int8_tile_portable(rows, weights, out, tile),
                    }
                }
            }
        });
}

/// Quantises one row to offset bytes (q + 128, q = round-to-even(x·kept · 127 / max|x·kept|)),
/// returning its scale max|x·kept|/127 (0 for a row of zeros, whose bytes are all 128). An empty
/// `kept` keeps every value.
fn quantize_row(row: &[f32], kept: &[f32], bytes: &mut [u8], kernel: Kernel) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Native {
        assert!(bytes.len() >= row.len() && (kept.is_empty() || kept.len() == row.len()));
        // SAFETY: the CPU has AVX512-F, BW and VL (`int8_linear` checked `int8_available`), and
        // `bytes` and a non-empty `kept` hold at least a value per value of `row`, as asserted.
        #[allow(unsafe_code)]
        return unsafe { x86::quantize_row(row, kept, bytes) };
    }
    let _ = kernel;
    let value = |k: usize| kept.get(k).map_or(row[k], |keep| row[k] * keep);
    let max = (0..row.len()).fold(0f32, |m, k| m.max(value(k).abs()));
    if max == 0.0 || !max.is_finite() {
        bytes.fill(128);
        return 0.0;
    }
    let inverse = 127.0 / max;
    for (k, b) in bytes.iter_mut().enumerate().take(row.len()) {
        // In [-127, 127] by construction; the clamp guards the rounding of `v * inverse`.
        let q = (value(k) * inverse).round_ties_even().clamp(-127.0, 127.0) as i32;
        *b = (q + 128) as u8;
    }
    max / 127.0
}

/// Where a tile's results go: `rows` valid rows (of [`TILE_ROWS`]) and `cols` valid outputs (of
/// [`BLOCK_COLS`]), rows `out_stride` apart.
#[derive(Clone, Copy)]
struct Tile {
    rows: usize,
    cols: usize,
    out_stride: usize,
}

impl Tile {
    /// Checks that the tile's valid part lies inside `out`: the one thing the native kernels'
    /// raw stores rely on.
    fn check(&self, out: &[f32]) {
        assert!(self.rows <= TILE_ROWS && self.cols <= BLOCK_COLS);
        if self.rows > 0 && self.cols > 0 {
            assert!(
                (self.rows - 1) * self.out_stride + self.cols <= out.len(),
                "tile runs past the output"
            );
        }
    }
}

fn int8_tile_portable(rows: Int8Rows<'_>, weights: Int8Block<'_>, out: &mut [f32], tile: Tile) {
    let depth = rows.bytes.len() / TILE_ROWS;
    let outliers = rows.outliers.len() / TILE_ROWS;
    for r in 0..tile.rows {
        let row = &rows.bytes[r * depth..(r + 1) * depth];
        for c in 0..tile.cols {
            let mut acc = 0i32;
            for (s, four) in row.chunks_exact(INT8_STEP).enumerate() {
                let at = (s * BLOCK_COLS + c) * INT8_STEP;
                for (x, w) in four.iter().zip(&weights.packed[at..at + INT8_STEP]) {
                    acc += i32::from(*x) * i32::from(*w);
                }
            }
            let mut value =
                (acc - 128 * weights.sums[c]) as f32 * (rows.scales[r] * weights.scales[c]);
            for j in 0..outliers {
                value +=
                    rows.outliers[r * outliers + j] * weights.outlier_weights[j * BLOCK_COLS + c];
            }
            out[r * tile.out_stride + c] = value;
        }
    }
}

fn int8_tile_native(rows: Int8Rows<'_>, weights: Int8Block<'_>, out: &mut [f32], tile: Tile) {
    let depth = rows.bytes.len() / TILE_ROWS;
    assert_eq!(rows.bytes.len(), TILE_ROWS * depth);
    assert!(depth.is_multiple_of(INT8_STEP));
    assert_eq!(weights.packed.len(), depth * BLOCK_COLS);
    assert!(rows.scales.len() >= TILE_ROWS);
    assert!(weights.scales.len() >= BLOCK_COLS && weights.sums.len() >= BLOCK_COLS);
    assert!(rows.outliers.len().is_multiple_of(TILE_ROWS));
    assert_eq!(
        weights.outlier_weights.len(),
        rows.outliers.len() / TILE_ROWS * BLOCK_COLS
    );
    tile.check(out);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asserts above bound every read (TILE_ROWS rows of `depth` bytes, `depth/4`
    // steps of 192 weight bytes, 48 scales and sums, the outliers' values and weights) and
    // `Tile::check` every store; the callers check that the CPU has AVX512-F, BW and VNNI
    // (`int8_available`).
    #[allow(unsafe_code)]
    unsafe {
        x86::int8_tile(rows, weights, out, tile);
    }
    #[cfg(not(target_arch = "x86_64"))]
    int8_tile_portable(rows, weights, out, tile);
}

/// `out = x · Wᵀ` in bf16 with f32 sums: `x` row-major `rows × inputs`, `out` `rows × outputs`.
pub fn bf16_linear(
    x: &[f32],
    weights: &Bf16Weights,
    out: &mut [f32],
    scratch: &mut Scratch,
    kernel: Kernel,
) {
    let (inputs, outputs, depth) = (weights.inputs, weights.outputs, weights.depth);
    assert!(
        inputs > 0 && x.len().is_multiple_of(inputs),
        "x is not rows × inputs"
    );
    let rows = x.len() / inputs;
    assert_eq!(out.len(), rows * outputs, "out is not rows × outputs");
    if kernel == Kernel::Native {
        assert!(bf16_available(), "this CPU has no AVX512-BF16");
    }
    if rows == 0 {
        return;
    }
    let padded_rows = rows.next_multiple_of(TILE_ROWS);
    // Not cleared, as in `int8_linear`.
    grow(&mut scratch.halves, padded_rows * depth, 0);
    let per_task = rows_per_task(rows);
    scratch.halves[..padded_rows * depth]
        .par_chunks_mut(per_task * depth)
        .zip(x.par_chunks(per_task * inputs))
        .for_each(|(halves, x)| {
            for (row, halves) in x.chunks_exact(inputs).zip(halves.chunks_exact_mut(depth)) {
                for (h, &v) in halves.iter_mut().zip(row) {
                    *h = to_bf16(v);
                }
            }
        });

    let halves = &scratch.halves;
    out.par_chunks_mut(per_task * outputs)
        .enumerate()
        .for_each(|(task, out)| {
            let first = task * per_task;
            let task_rows = out.len() / outputs;
            for block in 0..outputs.div_ceil(BLOCK_COLS) {
                let col = block * BLOCK_COLS;
                let packed = weights.block(block);
                for start in (0..task_rows).step_by(TILE_ROWS) {
                    let at = first + start;
                    let a = &halves[at * depth..(at + TILE_ROWS) * depth];
                    let tile = Tile {
                        rows: (task_rows - start).min(TILE_ROWS),
                        cols: (outputs - col).min(BLOCK_COLS),
                        out_stride: outputs,
                    };
                    let out = &mut out[start * outputs + col..];
                    match kernel {
                        Kernel::Native => bf16_tile_native(a, packed, out, tile),
                        Kernel::Portable => bf16_tile_portable(a, packed, out, tile),
                    }
                }
            }
        });
}

fn bf16_tile_portable(a: &[u16], packed: &[u16], out: &mut [f32], tile: Tile) {
    let depth = a.len() / TILE_ROWS;
    let value = |bits: u16| f32::from_bits(u32::from(bits) << 16);
    for r in 0..tile.rows {
        let row = &a[r * depth..(r + 1) * depth];
        for c in 0..tile.cols {
            let mut acc = 0f32;
            for (s, pair) in row.chunks_exact(BF16_STEP).enumerate() {
                let at = (s * BLOCK_COLS + c) * BF16_STEP;
                acc += value(pair[0]) * value(packed[at]);
                acc += value(pair[1]) * value(packed[at + 1]);
            }
            out[r * tile.out_stride + c] = acc;
        }
    }
}

fn bf16_tile_native(a: &[u16], packed: &[u16], out: &mut [f32], tile: Tile) {
    let depth = a.len() / TILE_ROWS;
    assert_eq!(a.len(), TILE_ROWS * depth);
    assert!(depth.is_multiple_of(BF16_STEP));
    assert_eq!(packed.len(), depth * BLOCK_COLS);
    tile.check(out);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asserts above bound every read (TILE_ROWS rows of `depth` halves, `depth/2`
    // steps of 96 weight halves) and `Tile::check` every store; the callers check that the CPU
    // has AVX512-F, BW and BF16 (`bf16_available`).
    #[allow(unsafe_code)]
    unsafe {
        x86::bf16_tile(a, packed, out, tile);
    }
    #[cfg(not(target_arch = "x86_64"))]
    bf16_tile_portable(a, packed, out, tile);
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    use super::{
        BF16_STEP, BLOCK_COLS, GROUPS, INT8_STEP, Int8Block, Int8Rows, LANES, TILE_ROWS, Tile,
    };

    /// The store mask of group `group` when `cols` of the block's outputs are valid.
    #[inline(always)]
    fn group_mask(cols: usize, group: usize) -> __mmask16 {
        let valid = cols.saturating_sub(group * LANES).min(LANES);
        ((1u32 << valid) - 1) as __mmask16
    }

    /// # Safety
    /// The CPU has AVX512-F, BW and VNNI; `rows` and `weights` are as `int8_tile_native`
    /// asserts, and `out` holds the tile.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn int8_tile(
        rows: Int8Rows<'_>,
        weights: Int8Block<'_>,
        out: &mut [f32],
        tile: Tile,
    ) {
        let depth = rows.bytes.len() / TILE_ROWS;
        let outliers = rows.outliers.len() / TILE_ROWS;
        let (a, mut w) = (rows.bytes.as_ptr(), weights.packed.as_ptr());
        let mut acc = [[_mm512_setzero_si512(); GROUPS]; TILE_ROWS];
        for step in 0..depth / INT8_STEP {
            // SAFETY (all reads): step < depth/4, so the three 64-byte weight loads end at
            // most at packed[depth × 48] and each row's four bytes inside its row.
            let loaded = unsafe {
                [
                    _mm512_loadu_si512(w.cast()),
                    _mm512_loadu_si512(w.add(64).cast()),
                    _mm512_loadu_si512(w.add(128).cast()),
                ]
            };
            w = w.wrapping_add(GROUPS * 64);
            for (r, acc) in acc.iter_mut().enumerate() {
                let four = unsafe {
                    a.add(r * depth + step * INT8_STEP)
                        .cast::<i32>()
                        .read_unaligned()
                };
                let x = _mm512_set1_epi32(four);
                for (acc, loaded) in acc.iter_mut().zip(&loaded) {
                    *acc = _mm512_dpbusd_epi32(*acc, x, *loaded);
                }
            }
        }
        for group in 0..GROUPS {
            let mask = group_mask(tile.cols, group);
            if mask == 0 {
                continue;
            }
            let at = group * LANES;
            // SAFETY: 48 sums and scales, `outliers × 48` outlier weights, as asserted.
            let (offset, scale) = unsafe {
                (
                    _mm512_slli_epi32::<7>(_mm512_loadu_si512(
                        weights.sums.as_ptr().add(at).cast(),
                    )),
                    _mm512_loadu_ps(weights.scales.as_ptr().add(at)),
                )
            };
            for (r, acc) in acc.iter().enumerate().take(tile.rows) {
                let value = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[group], offset));
                let both = _mm512_mul_ps(_mm512_set1_ps(rows.scales[r]), scale);
                let mut value = _mm512_mul_ps(value, both);
                for j in 0..outliers {
                    let x = _mm512_set1_ps(rows.outliers[r * outliers + j]);
                    let w = unsafe {
                        _mm512_loadu_ps(weights.outlier_weights.as_ptr().add(j * BLOCK_COLS + at))
                    };
                    // Not fused, as the portable twin adds the product.
                    value = _mm512_add_ps(value, _mm512_mul_ps(x, w));
                }
                // SAFETY: `Tile::check` bounds row r's valid outputs; the mask stores no more.
                unsafe {
                    _mm512_mask_storeu_ps(
                        out.as_mut_ptr().add(r * tile.out_stride + at),
                        mask,
                        value,
                    );
                }
            }
        }
    }

    /// [`super::quantize_row`] in AVX-512: the same products, the same rounding (to nearest
    /// even, the default mode), so the same bytes.
    ///
    /// # Safety
    /// The CPU has AVX512-F, BW and VL; `bytes` is at least as long as `row`, and `kept` empty or
    /// as long.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn quantize_row(row: &[f32], kept: &[f32], bytes: &mut [u8]) -> f32 {
        let len = row.len();
        let mask_of = |at: usize| -> __mmask16 {
            let left = (len - at).min(LANES);
            ((1u32 << left) - 1) as __mmask16
        };
        // SAFETY: the mask loads only [at..len] of `row` and of a non-empty `kept`.
        let load = |at: usize, mask: __mmask16| unsafe {
            let v = _mm512_maskz_loadu_ps(mask, row.as_ptr().add(at));
            if kept.is_empty() {
                v
            } else {
                _mm512_mul_ps(v, _mm512_maskz_loadu_ps(mask, kept.as_ptr().add(at)))
            }
        };
        let mut maxima = _mm512_setzero_ps();
        for at in (0..len).step_by(LANES) {
            maxima = _mm512_max_ps(maxima, _mm512_abs_ps(load(at, mask_of(at))));
        }
        let max = _mm512_reduce_max_ps(maxima);
        if max == 0.0 || !max.is_finite() {
            bytes[..len].fill(128);
            return 0.0;
        }
        let inverse = _mm512_set1_ps(127.0 / max);
        let (low, high) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let offset = _mm512_set1_epi32(128);
        for at in (0..len).step_by(LANES) {
            let mask = mask_of(at);
            let scaled = _mm512_min_ps(
                _mm512_max_ps(_mm512_mul_ps(load(at, mask), inverse), low),
                high,
            );
            let q = _mm512_add_epi32(_mm512_cvtps_epi32(scaled), offset);
            // SAFETY: the mask stores bytes[at..len], in bounds.
            unsafe {
                _mm_mask_storeu_epi8(
                    bytes.as_mut_ptr().add(at).cast(),
                    mask,
                    _mm512_cvtusepi32_epi8(q),
                );
            }
        }
        max / 127.0
    }

    /// The same 512 bits seen as 32 bf16 values.
    #[inline(always)]
    fn bh(bits: __m512i) -> __m512bh {
        // SAFETY: both are 512 bits of plain data; every bit pattern is a valid value of each.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(bits) }
    }

    /// # Safety
    /// The CPU has AVX512-F, BW and BF16; `a` holds `TILE_ROWS` rows of `depth` halves, `packed`
    /// `depth × BLOCK_COLS` halves, and `out` the tile.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn bf16_tile(a: &[u16], packed: &[u16], out: &mut [f32], tile: Tile) {
        let depth = a.len() / TILE_ROWS;
        let (a, mut w) = (a.as_ptr(), packed.as_ptr());
        let mut acc = [[_mm512_setzero_ps(); GROUPS]; TILE_ROWS];
        for step in 0..depth / BF16_STEP {
            // SAFETY (all reads): step < depth/2, so the three 32-half weight loads end at most
            // at packed[depth × 48] and each row's pair inside its row.
            let weights: [__m512bh; GROUPS] = unsafe {
                [
                    bh(_mm512_loadu_si512(w.cast())),
                    bh(_mm512_loadu_si512(w.add(32).cast())),
                    bh(_mm512_loadu_si512(w.add(64).cast())),
                ]
            };
            w = w.wrapping_add(GROUPS * 32);
            for (r, acc) in acc.iter_mut().enumerate() {
                let pair = unsafe {
                    a.add(r * depth + step * BF16_STEP)
                        .cast::<i32>()
                        .read_unaligned()
                };
                let x = bh(_mm512_set1_epi32(pair));
                for (acc, weights) in acc.iter_mut().zip(&weights) {
                    *acc = _mm512_dpbf16_ps(*acc, x, *weights);
                }
            }
        }
        for group in 0..GROUPS {
            let mask = group_mask(tile.cols, group);
            if mask == 0 {
                continue;
            }
            for (r, acc) in acc.iter().enumerate().take(tile.rows) {
                // SAFETY: `Tile::check` bounds row r's valid outputs; the mask stores no more.
                unsafe {
                    _mm512_mask_storeu_ps(
                        out.as_mut_ptr().add(r * tile.out_stride + group * LANES),
                        mask,
                        acc[group],
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) with a few large ones, as hidden states have.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let v = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                if i % 97 == 0 { v * 8.0 } else { v }
            })
            .collect()
    }

    fn exact(x: &[f32], w: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
        let rows = x.len() / inputs;
        let mut out = vec![0f32; rows * outputs];
        for r in 0..rows {
            for n in 0..outputs {
                let a = &x[r * inputs..(r + 1) * inputs];
                let b = &w[n * inputs..(n + 1) * inputs];
                out[r * outputs + n] =
                    a.iter().zip(b).map(|(a, b)| f64::from(a * b)).sum::<f64>() as f32;
            }
        }
        out
    }

    /// Shapes with a partial tile of rows, a partial block of outputs and inputs that are not a
    /// whole step, beside the encoder's own.
    const SHAPES: [(usize, usize, usize); 4] =
        [(13, 10, 50), (1, 7, 3), (37, 384, 1152), (9, 1536, 384)];

    #[test]
    fn int8_native_and_portable_agree_bit_for_bit_and_approximate_the_product() {
        for (seed, &(rows, inputs, outputs)) in SHAPES.iter().enumerate() {
            let x = values(rows * inputs, seed as u64 + 1);
            let w = values(outputs * inputs, seed as u64 + 100);
            let mut scratch = Scratch::default();
            // Without outliers, and with two (where the shape has the inputs).
            let with_outliers = Int8Weights::quantize(&w, outputs, inputs, &[inputs / 2, 0]);
            let weights = Int8Weights::quantize(&w, outputs, inputs, &[]);
            for weights in [&with_outliers, &weights] {
                let mut portable = vec![f32::NAN; rows * outputs];
                int8_linear(&x, weights, &mut portable, &mut scratch, Kernel::Portable);
                if int8_available() {
                    let mut native = vec![f32::NAN; rows * outputs];
                    int8_linear(&x, weights, &mut native, &mut scratch, Kernel::Native);
                    assert!(
                        native
                            .iter()
                            .zip(&portable)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{rows}×{inputs}→{outputs}, outliers {:?}: native and portable differ",
                        weights.outliers()
                    );
                }
            }
            let mut portable = vec![f32::NAN; rows * outputs];
            int8_linear(&x, &weights, &mut portable, &mut scratch, Kernel::Portable);
            let exact = exact(&x, &w, inputs, outputs);
            // x = sx·qx + ex with |ex| ≤ sx/2, the same for w: the sum of products is off by at
            // most sx/2·Σ|w| + sw/2·Σ|x| + k·sx·sw/4, plus f32 rounding.
            for (i, (got, want)) in portable.iter().zip(&exact).enumerate() {
                let (r, n) = (i / outputs, i % outputs);
                let (xr, wn) = (
                    &x[r * inputs..(r + 1) * inputs],
                    &w[n * inputs..(n + 1) * inputs],
                );
                let step = |v: &[f32]| v.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                let l1 = |v: &[f32]| v.iter().map(|v| v.abs()).sum::<f32>();
                let (sx, sw) = (step(xr), step(wn));
                let bound = sx / 2.0 * l1(wn) + sw / 2.0 * l1(xr) + inputs as f32 * sx * sw / 4.0;
                assert!(
                    (got - want).abs() <= bound * 1.001 + 1e-5,
                    "{rows}×{inputs}→{outputs} at {i}: {got} against {want}, bound {bound}"
                );
            }
        }
    }

    /// A row whose magnitude is in one channel: quantised with it, its other values get a few
    /// levels; with that channel kept in FP32, the product is as close as for any other row.
    #[test]
    fn an_outlier_channel_kept_in_fp32_spares_the_rest_of_its_row() {
        let (rows, inputs, outputs) = (16, 384, 96);
        let mut x = values(rows * inputs, 3);
        for r in 0..rows {
            x[r * inputs + 99] = 60.0;
        }
        let w = values(outputs * inputs, 4);
        let exact = exact(&x, &w, inputs, outputs);
        let error = |outliers: &[usize]| {
            let weights = Int8Weights::quantize(&w, outputs, inputs, outliers);
            let mut out = vec![0f32; rows * outputs];
            let kernel = if int8_available() {
                Kernel::Native
            } else {
                Kernel::Portable
            };
            int8_linear(&x, &weights, &mut out, &mut Scratch::default(), kernel);
            out.iter()
                .zip(&exact)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max)
        };
        let (plain, kept) = (error(&[]), error(&[99]));
        assert!(
            kept * 4.0 < plain,
            "largest error {kept} with channel 99 kept, {plain} without"
        );
    }

    #[test]
    fn bf16_native_and_portable_agree_and_approximate_the_product() {
        for (seed, &(rows, inputs, outputs)) in SHAPES.iter().enumerate() {
            let x = values(rows * inputs, seed as u64 + 7);
            let w = values(outputs * inputs, seed as u64 + 70);
            let weights = Bf16Weights::round(&w, outputs, inputs);
            let mut scratch = Scratch::default();
            let mut portable = vec![f32::NAN; rows * outputs];
            bf16_linear(&x, &weights, &mut portable, &mut scratch, Kernel::Portable);
            let magnitude: f32 = x.iter().map(|v| v.abs()).sum::<f32>() / rows as f32;
            if bf16_available() {
                let mut native = vec![f32::NAN; rows * outputs];
                bf16_linear(&x, &weights, &mut native, &mut scratch, Kernel::Native);
                for (got, want) in native.iter().zip(&portable) {
                    assert!(
                        (got - want).abs() <= 1e-5 * magnitude,
                        "{got} against {want}"
                    );
                }
            }
            let exact = exact(&x, &w, inputs, outputs);
            for (got, want) in portable.iter().zip(&exact) {
                // Each factor is within 2^-9 of itself.
                assert!(
                    (got - want).abs() <= 0.01 * magnitude,
                    "{got} against {want}"
                );
            }
        }
    }

    #[test]
    fn zero_rows_and_weights_give_zeros() {
        let weights = Int8Weights::quantize(&[0.0; 12], 3, 4, &[]);
        let mut out = vec![f32::NAN; 6];
        int8_linear(
            &[0.0; 8],
            &weights,
            &mut out,
            &mut Scratch::default(),
            Kernel::Portable,
        );
        assert_eq!(out, vec![0.0; 6]);
    }
}
