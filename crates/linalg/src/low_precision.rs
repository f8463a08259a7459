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

/// Rows of activations one AVX-512 kernel call computes.
pub const TILE_ROWS: usize = 8;
/// Rows one AMX kernel call computes (a tile register's 16 rows); activations are padded to a
/// multiple of it.
const AMX_ROWS: usize = 16;
/// Outputs one kernel call computes: three registers of 16 f32 or i32 lanes.
pub const BLOCK_COLS: usize = LANES * GROUPS;
const LANES: usize = 16;
const GROUPS: usize = 3;
/// Inputs per int8 step (one i32 lane holds four bytes) and per bf16 step (two halves).
const INT8_STEP: usize = 4;
const BF16_STEP: usize = 2;
/// Inputs per AMX bf16 chunk: a tile row of 64 bytes.
const BF16_CHUNK: usize = 32;

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

/// Whether this CPU runs the int8 product on AMX tiles (Intel since Sapphire Rapids), and the
/// operating system lets this process use them.
pub fn amx_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        int8_available() && x86::amx_available().0
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the bf16 product on AMX tiles, as [`amx_available`] for int8.
pub fn amx_bf16_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        bf16_available() && x86::amx_available().1
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which implementation a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The fastest this CPU has: int8 on AMX where [`amx_available`] (and the depth is a
    /// multiple of 64), else AVX512-VNNI; bf16 on AVX512-BF16. The caller checks
    /// [`int8_available`] or [`bf16_available`] first.
    Native,
    /// AVX512-VNNI or AVX512-BF16, even where AMX is there.
    Avx512,
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

/// A PyTorch weight (`outputs × inputs`) rounded to bf16 and packed for the kernel. The default
/// is an empty weight, to [`Self::repack`] into.
#[derive(Debug, Clone, Default)]
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
        let mut rounded = Self::default();
        rounded.repack((outputs, inputs), weight, (inputs, 1));
        rounded
    }

    /// Rounds and packs, in place, the `outputs × inputs` weight whose element `(n, k)` is
    /// `source[n · output_stride + k · input_stride]`, keeping this one's allocation: attention
    /// packs each head's keys (one output a token, its inputs side by side) and values (one
    /// output a dimension, read down a column) this way, with no copy of them and no allocation
    /// per head.
    pub fn repack(&mut self, shape: (usize, usize), source: &[f32], strides: (usize, usize)) {
        self.repack_in(shape, source, strides, pack_in_simd());
    }

    /// [`Self::repack`] in AVX-512 (`simd`, which the CPU must have) or portable code: the
    /// same halves.
    fn repack_in(
        &mut self,
        (outputs, inputs): (usize, usize),
        source: &[f32],
        (output_stride, input_stride): (usize, usize),
        simd: bool,
    ) {
        let _ = simd; // read on x86-64 only
        if outputs > 0 && inputs > 0 {
            assert!(
                (outputs - 1) * output_stride + (inputs - 1) * input_stride < source.len(),
                "the weight runs past its source"
            );
        }
        let depth = inputs.next_multiple_of(BF16_CHUNK);
        let blocks = outputs.div_ceil(BLOCK_COLS);
        let steps = depth / BF16_STEP;
        // Padding (outputs past `outputs`, inputs past `inputs`) must be zeros.
        self.packed.clear();
        self.packed.resize(blocks * BLOCK_COLS * depth, 0);
        (self.outputs, self.inputs, self.depth) = (outputs, inputs, depth);
        if input_stride == 1 {
            // Output by output: its inputs are side by side in `source`.
            for n in 0..outputs {
                let row = &source[n * output_stride..][..inputs];
                let (block, col) = (n / BLOCK_COLS, n % BLOCK_COLS);
                let first = block * steps * BLOCK_COLS + col;
                #[cfg(target_arch = "x86_64")]
                if simd {
                    // SAFETY: the CPU has AVX512-F and BW (`pack_in_simd`); pair
                    // `first + s · BLOCK_COLS` (s < steps) lies in this block of `packed`.
                    #[allow(unsafe_code)]
                    unsafe {
                        x86::pack_row_pairs(row, &mut self.packed, first, BLOCK_COLS);
                    }
                    continue;
                }
                for (s, pair) in row.chunks(BF16_STEP).enumerate() {
                    let at = (first + s * BLOCK_COLS) * BF16_STEP;
                    for (h, &w) in self.packed[at..at + BF16_STEP].iter_mut().zip(pair) {
                        *h = to_bf16(w);
                    }
                }
            }
            return;
        }
        // Step by step (two inputs), each run of a block's outputs from two columns at once:
        // for values, whose dimensions (the outputs) are side by side in a token's row.
        for s in 0..inputs.div_ceil(BF16_STEP) {
            let k = s * BF16_STEP;
            for block in 0..blocks {
                let cols = (outputs - block * BLOCK_COLS).min(BLOCK_COLS);
                let column = |k: usize| {
                    let at = k * input_stride + block * BLOCK_COLS * output_stride;
                    (0..cols).map(move |c| source[at + c * output_stride])
                };
                let at = (block * steps + s) * BLOCK_COLS * BF16_STEP;
                let pairs = &mut self.packed[at..at + cols * BF16_STEP];
                #[cfg(target_arch = "x86_64")]
                if simd && output_stride == 1 {
                    let low = &source[k * input_stride + block * BLOCK_COLS..][..cols];
                    let high = if k + 1 < inputs {
                        &source[(k + 1) * input_stride + block * BLOCK_COLS..][..cols]
                    } else {
                        &[]
                    };
                    // SAFETY: the CPU has AVX-512 F (`pack_in_simd`); `pairs` holds two halves
                    // per value of `low`, `high` is empty or as long.
                    #[allow(unsafe_code)]
                    unsafe {
                        x86::pack_column_pairs(low, high, pairs);
                    }
                    continue;
                }
                let pairs = pairs.chunks_exact_mut(BF16_STEP);
                if k + 1 < inputs {
                    for ((pair, low), high) in pairs.zip(column(k)).zip(column(k + 1)) {
                        pair[0] = to_bf16(low);
                        pair[1] = to_bf16(high);
                    }
                } else {
                    for (pair, low) in pairs.zip(column(k)) {
                        pair[0] = to_bf16(low);
                    }
                }
            }
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

/// `halves = bf16(row)`, rounded to nearest even; `simd` with AVX512-BF16 (which also flushes
/// subnormals to zero, the one difference).
fn round_row(row: &[f32], halves: &mut [u16], simd: bool) {
    assert_eq!(row.len(), halves.len());
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the callers checked `bf16_available`; the lengths are equal, as asserted.
        #[allow(unsafe_code)]
        unsafe {
            x86::round_row(row, halves);
        }
        return;
    }
    let _ = simd;
    for (h, &v) in halves.iter_mut().zip(row) {
        *h = to_bf16(v);
    }
}

/// bf16 bits of `x`, rounded to nearest even (NaN stays NaN, made quiet): the `half` crate's
/// rounding, written without a branch so the loops that call it vectorise.
#[inline(always)]
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16;
    let quiet_nan = (bits >> 16) | 0x40;
    (if x.is_nan() { quiet_nan } else { rounded }) as u16
}

/// Whether [`Bf16Weights::repack`] runs its AVX-512 loops (the same halves as its portable ones).
fn pack_in_simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Makes `buffer` at least `len` long, filling what it adds with `fill`.
fn grow<T: Copy>(buffer: &mut Vec<T>, len: usize, fill: T) {
    if buffer.len() < len {
        buffer.resize(len, fill);
    }
}

/// Rows per parallel task: enough tasks for every thread a few times over, whole tiles of
/// either kernel each, and at most 64, whose outputs stay in cache for `*_linear_then`'s pass
/// (64 rows of 1,536 outputs are 384 KiB).
fn rows_per_task(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(4 * threads)
        .next_multiple_of(AMX_ROWS)
        .clamp(AMX_ROWS, 4 * AMX_ROWS)
}

/// The AMX tile configuration loaded on this thread for one task, released when dropped.
struct AmxTiles;

impl AmxTiles {
    /// Only where [`amx_available`] said yes.
    fn begin() -> Self {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked `amx_available`.
        #[allow(unsafe_code)]
        unsafe {
            x86::amx_begin();
        }
        Self
    }
}

impl Drop for AmxTiles {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `begin` loaded the configuration on this thread (a task runs on one thread).
        #[allow(unsafe_code)]
        unsafe {
            x86::amx_end();
        }
    }
}

/// `out = x · Wᵀ` in int8: `x` row-major `rows × inputs`, `out` row-major `rows × outputs`.
pub fn int8_linear(
    x: &[f32],
    weights: &Int8Weights,
    out: &mut [f32],
    scratch: &mut Scratch,
    kernel: Kernel,
) {
    int8_linear_then(x, weights, out, scratch, kernel, |_| {});
}

/// [`int8_linear`], then `then` on each run of whole rows of `out` as soon as they are done,
/// while they are still in cache (a bias and an activation, a softmax): once for every row.
pub fn int8_linear_then(
    x: &[f32],
    weights: &Int8Weights,
    out: &mut [f32],
    scratch: &mut Scratch,
    kernel: Kernel,
    then: impl Fn(&mut [f32]) + Sync,
) {
    let (inputs, outputs, depth) = (weights.inputs, weights.outputs, weights.depth);
    let rows = checked_rows(x, inputs, out, outputs);
    if kernel != Kernel::Portable {
        assert!(int8_available(), "this CPU has no AVX512-VNNI");
    }
    if rows == 0 {
        return;
    }
    let amx = kernel == Kernel::Native && depth.is_multiple_of(64) && amx_available();
    let outliers = &weights.outliers;
    let padded_rows = rows.next_multiple_of(AMX_ROWS);
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
                *scale = quantize_row(row, &weights.kept, bytes, kernel != Kernel::Portable);
                for (j, &k) in outliers.iter().enumerate() {
                    values[r * outliers.len() + j] = row[k];
                }
            }
        });

    let (bytes, row_scales) = (&scratch.bytes, &scratch.row_scales);
    let values = &scratch.outlier_values;
    let tile_rows = if amx { AMX_ROWS } else { TILE_ROWS };
    let k = outliers.len();
    for_each_tile(
        out,
        outputs,
        per_task,
        tile_rows,
        amx,
        |at, block, tile, out| {
            let rows = Int8Rows {
                bytes: &bytes[at * depth..(at + tile_rows) * depth],
                scales: &row_scales[at..at + tile_rows],
                outliers: &values[at * k..(at + tile_rows) * k],
            };
            let weights = weights.block(block);
            match kernel {
                Kernel::Native | Kernel::Avx512 => int8_tile_native(rows, weights, out, tile, amx),
                Kernel::Portable => int8_tile_portable(rows, weights, out, tile),
            }
        },
        then,
    );
}

/// The rows of `x` (`inputs` wide), after checking that `out` holds as many, `outputs` wide.
fn checked_rows(x: &[f32], inputs: usize, out: &[f32], outputs: usize) -> usize {
    assert!(
        inputs > 0 && x.len().is_multiple_of(inputs),
        "x is not rows × inputs"
    );
    let rows = x.len() / inputs;
    assert_eq!(out.len(), rows * outputs, "out is not rows × outputs");
    rows
}

/// Walks `out` (`outputs` wide) tile by tile, in parallel tasks of `per_task` rows: `run(row,
/// block, tile, out)` for each tile of `tile_rows` rows at `row` and block of outputs `block`,
/// `out` starting at the tile's first output, then `then` on the task's rows (at most 64, still
/// in cache: see [`rows_per_task`]). With `amx`, each task loads the tile configuration on its
/// thread first.
fn for_each_tile(
    out: &mut [f32],
    outputs: usize,
    per_task: usize,
    tile_rows: usize,
    amx: bool,
    run: impl Fn(usize, usize, Tile, &mut [f32]) + Sync,
    then: impl Fn(&mut [f32]) + Sync,
) {
    out.par_chunks_mut(per_task * outputs)
        .enumerate()
        .for_each(|(task, out)| {
            let task_rows = out.len() / outputs;
            let _tiles = amx.then(AmxTiles::begin);
            for block in 0..outputs.div_ceil(BLOCK_COLS) {
                let col = block * BLOCK_COLS;
                for start in (0..task_rows).step_by(tile_rows) {
                    let tile = Tile {
                        rows: (task_rows - start).min(tile_rows),
                        cols: (outputs - col).min(BLOCK_COLS),
                        out_stride: outputs,
                    };
                    run(
                        task * per_task + start,
                        block,
                        tile,
                        &mut out[start * outputs + col..],
                    );
                }
            }
            then(out);
        });
}

/// Quantises one row to offset bytes (q + 128, q = round-to-even(x·kept · 127 / max|x·kept|)),
/// returning its scale max|x·kept|/127 (0 for a row of zeros, whose bytes are all 128). An empty
/// `kept` keeps every value. `simd` runs it in AVX-512 (the same bytes).
fn quantize_row(row: &[f32], kept: &[f32], bytes: &mut [u8], simd: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        assert!(bytes.len() >= row.len() && (kept.is_empty() || kept.len() == row.len()));
        // SAFETY: the CPU has AVX512-F, BW and VL (`int8_linear` checked `int8_available`), and
        // `bytes` and a non-empty `kept` hold at least a value per value of `row`, as asserted.
        #[allow(unsafe_code)]
        return unsafe { x86::quantize_row(row, kept, bytes) };
    }
    let _ = simd;
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
        assert!(self.rows <= AMX_ROWS && self.cols <= BLOCK_COLS);
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
                // Fused, as the native kernels' `vfmadd`: one rounding, the same result.
                value = rows.outliers[r * outliers + j]
                    .mul_add(weights.outlier_weights[j * BLOCK_COLS + c], value);
            }
            out[r * tile.out_stride + c] = value;
        }
    }
}

fn int8_tile_native(
    rows: Int8Rows<'_>,
    weights: Int8Block<'_>,
    out: &mut [f32],
    tile: Tile,
    amx: bool,
) {
    let tile_rows = if amx { AMX_ROWS } else { TILE_ROWS };
    let depth = rows.bytes.len() / tile_rows;
    assert_eq!(rows.bytes.len(), tile_rows * depth);
    assert!(depth.is_multiple_of(if amx { 64 } else { INT8_STEP }));
    assert_eq!(weights.packed.len(), depth * BLOCK_COLS);
    assert_eq!(rows.scales.len(), tile_rows);
    assert!(tile.rows <= tile_rows);
    assert!(weights.scales.len() >= BLOCK_COLS && weights.sums.len() >= BLOCK_COLS);
    assert!(rows.outliers.len().is_multiple_of(tile_rows));
    assert_eq!(
        weights.outlier_weights.len(),
        rows.outliers.len() / tile_rows * BLOCK_COLS
    );
    tile.check(out);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asserts above bound every read (TILE_ROWS rows of `depth` bytes, `depth/4`
    // steps of 192 weight bytes, 48 scales and sums, the outliers' values and weights) and
    // `Tile::check` every store; the callers check that the CPU has AVX512-F, BW and VNNI
    // (`int8_available`), and for AMX that it has the tiles and this thread has loaded their
    // configuration (`AmxTiles`).
    #[allow(unsafe_code)]
    unsafe {
        if amx {
            x86::int8_tile_amx(rows, weights, out, tile);
        } else {
            x86::int8_tile(rows, weights, out, tile);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = amx;
        int8_tile_portable(rows, weights, out, tile);
    }
}

/// `out = x · Wᵀ` in bf16 with f32 sums: `x` row-major `rows × inputs`, `out` `rows × outputs`.
pub fn bf16_linear(
    x: &[f32],
    weights: &Bf16Weights,
    out: &mut [f32],
    scratch: &mut Scratch,
    kernel: Kernel,
) {
    bf16_linear_then(x, weights, out, scratch, kernel, |_| {});
}

/// [`bf16_linear`], then `then` on each run of whole rows of `out` as soon as they are done,
/// while they are still in cache (a bias and an activation, a softmax): once for every row.
pub fn bf16_linear_then(
    x: &[f32],
    weights: &Bf16Weights,
    out: &mut [f32],
    scratch: &mut Scratch,
    kernel: Kernel,
    then: impl Fn(&mut [f32]) + Sync,
) {
    let (inputs, outputs, depth) = (weights.inputs, weights.outputs, weights.depth);
    let rows = checked_rows(x, inputs, out, outputs);
    if kernel != Kernel::Portable {
        assert!(bf16_available(), "this CPU has no AVX512-BF16");
    }
    if rows == 0 {
        return;
    }
    let amx = kernel == Kernel::Native && amx_bf16_available();
    let tile_rows = if amx { AMX_ROWS } else { TILE_ROWS };
    let padded_rows = rows.next_multiple_of(AMX_ROWS);
    // Padding rows are not cleared, as in `int8_linear`; a row's padding inputs are (below),
    // since a NaN left there would reach the row's sums through the zero weights.
    grow(&mut scratch.halves, padded_rows * depth, 0);
    let per_task = rows_per_task(rows);
    scratch.halves[..padded_rows * depth]
        .par_chunks_mut(per_task * depth)
        .zip(x.par_chunks(per_task * inputs))
        .for_each(|(halves, x)| {
            for (row, halves) in x.chunks_exact(inputs).zip(halves.chunks_exact_mut(depth)) {
                let (values, padding) = halves.split_at_mut(inputs);
                round_row(row, values, kernel != Kernel::Portable);
                padding.fill(0);
            }
        });

    let halves = &scratch.halves;
    for_each_tile(
        out,
        outputs,
        per_task,
        tile_rows,
        amx,
        |at, block, tile, out| {
            let a = &halves[at * depth..(at + tile_rows) * depth];
            let packed = weights.block(block);
            match kernel {
                Kernel::Native | Kernel::Avx512 => bf16_tile_native(a, packed, out, tile, amx),
                Kernel::Portable => bf16_tile_portable(a, packed, out, tile),
            }
        },
        then,
    );
}

fn bf16_tile_portable(a: &[u16], packed: &[u16], out: &mut [f32], tile: Tile) {
    let depth = packed.len() / BLOCK_COLS;
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

fn bf16_tile_native(a: &[u16], packed: &[u16], out: &mut [f32], tile: Tile, amx: bool) {
    let tile_rows = if amx { AMX_ROWS } else { TILE_ROWS };
    let depth = a.len() / tile_rows;
    assert_eq!(a.len(), tile_rows * depth);
    assert!(depth.is_multiple_of(BF16_CHUNK));
    assert_eq!(packed.len(), depth * BLOCK_COLS);
    assert!(tile.rows <= tile_rows);
    tile.check(out);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asserts above bound every read (`tile_rows` rows of `depth` halves, `depth/2`
    // steps of 96 weight halves) and `Tile::check` every store; the callers check that the CPU
    // has AVX512-F, BW and BF16 (`bf16_available`), and for AMX that it has the tiles and this
    // thread has loaded their configuration (`AmxTiles`).
    #[allow(unsafe_code)]
    unsafe {
        if amx {
            x86::bf16_tile_amx(a, packed, out, tile);
        } else {
            x86::bf16_tile(a, packed, out, tile);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = amx;
        bf16_tile_portable(a, packed, out, tile);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::asm;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{
        AMX_ROWS, BF16_STEP, BLOCK_COLS, GROUPS, INT8_STEP, Int8Block, Int8Rows, LANES, TILE_ROWS,
        Tile,
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
        let mut sums = [0i32; TILE_ROWS * BLOCK_COLS];
        for (r, acc) in acc.iter().enumerate() {
            for (group, acc) in acc.iter().enumerate() {
                // SAFETY: row r's group lies inside `sums` (TILE_ROWS rows of 48).
                unsafe {
                    _mm512_storeu_si512(
                        sums.as_mut_ptr().add(r * BLOCK_COLS + group * LANES).cast(),
                        *acc,
                    );
                }
            }
        }
        // SAFETY: as this function's; `sums` holds TILE_ROWS rows of 48.
        unsafe { finish_tile(&sums, rows, weights, out, tile) };
    }

    /// The epilogue of a tile: each row's int32 sums (`sums`, rows of 48) less the offset, times
    /// the row's and each output's scale, plus the outlier inputs' FP32 products, stored.
    ///
    /// # Safety
    /// As [`int8_tile`]'s; `sums` holds `tile.rows` rows of 48.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
    #[inline]
    unsafe fn finish_tile(
        sums: &[i32],
        rows: Int8Rows<'_>,
        weights: Int8Block<'_>,
        out: &mut [f32],
        tile: Tile,
    ) {
        assert!(sums.len() >= tile.rows * BLOCK_COLS);
        let outliers = weights.outlier_weights.len() / BLOCK_COLS;
        for group in 0..GROUPS {
            let mask = group_mask(tile.cols, group);
            if mask == 0 {
                continue;
            }
            let at = group * LANES;
            // SAFETY: 48 sums and scales, `outliers × 48` outlier weights, as asserted by the
            // callers.
            let (offset, scale) = unsafe {
                (
                    _mm512_slli_epi32::<7>(_mm512_loadu_si512(
                        weights.sums.as_ptr().add(at).cast(),
                    )),
                    _mm512_loadu_ps(weights.scales.as_ptr().add(at)),
                )
            };
            for r in 0..tile.rows {
                // SAFETY: row r's group lies inside `sums`, as asserted.
                let acc =
                    unsafe { _mm512_loadu_si512(sums.as_ptr().add(r * BLOCK_COLS + at).cast()) };
                let value = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, offset));
                let both = _mm512_mul_ps(_mm512_set1_ps(rows.scales[r]), scale);
                let mut value = _mm512_mul_ps(value, both);
                for j in 0..outliers {
                    let x = _mm512_set1_ps(rows.outliers[r * outliers + j]);
                    let w = unsafe {
                        _mm512_loadu_ps(weights.outlier_weights.as_ptr().add(j * BLOCK_COLS + at))
                    };
                    // Fused, as the portable twin's `mul_add`.
                    value = _mm512_fmadd_ps(x, w, value);
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

    /// Whether the CPU has AMX with int8 and with bf16 (CPUID leaf 7: AMX-TILE, AMX-INT8,
    /// AMX-BF16) and Linux lets this process use the tile registers (asked once, by
    /// `arch_prctl`). `PAPERSCOUT_AMX=0` in the environment says no, so a machine with AMX can
    /// measure what CPUs without it (AVX512-VNNI alone: AMD Zen 4, Intel before Sapphire
    /// Rapids) run.
    pub(super) fn amx_available() -> (bool, bool) {
        static GRANTED: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();
        *GRANTED.get_or_init(|| {
            if std::env::var("PAPERSCOUT_AMX").is_ok_and(|v| v == "0") {
                return (false, false);
            }
            // CPUID leaf 7, sub-leaf 0, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE, 25 AMX-INT8.
            let edx = __cpuid_count(7, 0).edx;
            let (tile, int8, bf16) = (edx & 1 << 24 != 0, edx & 1 << 25 != 0, edx & 1 << 22 != 0);
            if tile && (int8 || bf16) && request_tile_data() {
                (int8, bf16)
            } else {
                (false, false)
            }
        })
    }

    /// Asks Linux for the tile registers' state (XTILEDATA), which a process must do once
    /// before any AMX instruction.
    #[cfg(target_os = "linux")]
    fn request_tile_data() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM only changes which register state the
        // kernel saves for this process; it reads and writes no memory of ours.
        unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn request_tile_data() -> bool {
        false
    }

    /// The tile configuration of [`int8_tile_amx`]: tiles 0–2 the 16 × 16 int32 sums of the
    /// block's three groups of outputs, tile 3 sixteen rows of 64 activation bytes, tiles 4–6
    /// sixteen steps of the three groups' weights; every tile 16 rows of 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    const AMX_CONFIG: TileConfig = {
        let mut bytes = [0u8; 64];
        bytes[0] = 1; // palette 1
        let mut tile = 0;
        while tile < 7 {
            bytes[16 + 2 * tile] = 64; // bytes per row (little-endian u16)
            bytes[48 + tile] = 16; // rows
            tile += 1;
        }
        TileConfig(bytes)
    };

    /// The AMX product of 16 rows (`a`, rows `a_stride` bytes apart) with one block of packed
    /// weights (`b`), `chunks` chunks of 64 bytes deep, into 16 rows of 48 sums at `c` (rows
    /// `c_stride` bytes apart): `op` is `tdpbusd` (int8) or `tdpbf16ps` (bf16); tiles as
    /// [`AMX_CONFIG`]. Every one of the 16 × 192 bytes at `c` is written. The caller's `unsafe`
    /// block vouches for every address.
    macro_rules! block_product {
        ($op:literal, a = $a:expr, a_stride = $a_stride:expr, b = $b:expr, chunks = $chunks:expr,
         c = $c:expr, c_stride = $c_stride:expr) => {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "2:",
                "tileloadd tmm3, [{a} + {a_stride}*1]",
                "tileloadd tmm4, [{b} + {b_stride}*1]",
                "tileloadd tmm5, [{b} + {b_stride}*1 + 64]",
                "tileloadd tmm6, [{b} + {b_stride}*1 + 128]",
                concat!($op, " tmm0, tmm3, tmm4"),
                concat!($op, " tmm1, tmm3, tmm5"),
                concat!($op, " tmm2, tmm3, tmm6"),
                "add {a}, 64",
                "add {b}, {b_step}",
                "dec {chunks}",
                "jnz 2b",
                "tilestored [{c} + {c_stride}*1], tmm0",
                "tilestored [{c} + {c_stride}*1 + 64], tmm1",
                "tilestored [{c} + {c_stride}*1 + 128], tmm2",
                a = inout(reg) $a => _,
                b = inout(reg) $b => _,
                chunks = inout(reg) $chunks => _,
                a_stride = in(reg) $a_stride,
                b_stride = in(reg) GROUPS * 64,
                b_step = in(reg) 16 * GROUPS * 64,
                c = in(reg) $c,
                c_stride = in(reg) $c_stride,
                options(nostack),
            )
        };
    }

    /// Loads the tile configuration on this thread: before the first [`int8_tile_amx`] of a task.
    ///
    /// # Safety
    /// [`amx_available`] said yes.
    pub(super) unsafe fn amx_begin() {
        // SAFETY: the configuration is 64 bytes, aligned, and valid for palette 1.
        unsafe {
            asm!("ldtilecfg [{config}]", config = in(reg) AMX_CONFIG.0.as_ptr(), options(nostack, readonly));
        }
    }

    /// Releases this thread's tiles: after the last [`int8_tile_amx`] of a task.
    ///
    /// # Safety
    /// [`amx_begin`] ran on this thread.
    pub(super) unsafe fn amx_end() {
        // SAFETY: tilerelease only resets the tile state.
        unsafe {
            asm!("tilerelease", options(nostack, nomem));
        }
    }

    /// [`int8_tile`] for 16 rows on AMX: the same sums (exact integers), then the same
    /// epilogue.
    ///
    /// # Safety
    /// [`amx_begin`] ran on this thread; `rows` holds 16 rows of `depth` bytes (`depth` a
    /// multiple of 64) and their scales and outliers, `weights` is as `int8_tile_native`
    /// asserts, and `out` holds the tile.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn int8_tile_amx(
        rows: Int8Rows<'_>,
        weights: Int8Block<'_>,
        out: &mut [f32],
        tile: Tile,
    ) {
        let depth = rows.bytes.len() / AMX_ROWS;
        // Not cleared first (a memset per tile cost a tenth of the int8 encoder's time): the
        // product writes all of it.
        let mut sums = MaybeUninit::<[i32; AMX_ROWS * BLOCK_COLS]>::uninit();
        // SAFETY: each of the depth/64 chunks reads 16 rows of 64 bytes, `depth` apart, from
        // `rows.bytes` (16 × depth) and 16 steps of 192 weight bytes (3 × 64 at a time) from
        // `weights.packed` (depth/4 steps of 192); the sums are stored 16 rows of 192 bytes
        // into `sums`, which they fill, so it is initialised after.
        let sums = unsafe {
            block_product!(
                "tdpbusd",
                a = rows.bytes.as_ptr(),
                a_stride = depth,
                b = weights.packed.as_ptr(),
                chunks = depth / 64,
                c = sums.as_mut_ptr().cast::<i32>(),
                c_stride = BLOCK_COLS * 4
            );
            sums.assume_init_ref()
        };
        // SAFETY: as this function's; `sums` holds 16 rows of 48.
        unsafe { finish_tile(sums, rows, weights, out, tile) };
    }

    /// The bf16 bits of 16 values ([`super::to_bf16`]'s rounding, NaN made quiet) in the high
    /// half of each 32-bit lane, the low half zero.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn bf16_high_halves(v: __m512) -> __m512i {
        let bits = _mm512_castps_si512(v);
        let lowest_kept = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
        let rounded = _mm512_add_epi32(
            bits,
            _mm512_add_epi32(lowest_kept, _mm512_set1_epi32(0x7fff)),
        );
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        let quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x40_0000));
        let chosen = _mm512_mask_mov_epi32(rounded, nan, quiet);
        _mm512_and_si512(chosen, _mm512_set1_epi32(0xffff_0000_u32 as i32))
    }

    /// The mask of the first `n` (≤ 16) lanes.
    #[inline(always)]
    fn first_lanes(n: usize) -> __mmask16 {
        ((1u32 << n.min(LANES)) - 1) as __mmask16
    }

    /// Rounds one output's inputs (`row`) to bf16 pairs and stores pair `s` at pair index
    /// `first + s · stride` of `packed` (counted in pairs of halves): [`super::Bf16Weights::repack`]
    /// for a weight whose outputs are rows.
    ///
    /// # Safety
    /// The CPU has AVX512-F and BW; `packed` holds at least `first + (⌈row.len()/2⌉ − 1) ·
    /// stride + 1` pairs.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn pack_row_pairs(
        row: &[f32],
        packed: &mut [u16],
        first: usize,
        stride: usize,
    ) {
        let pairs = row.len().div_ceil(BF16_STEP);
        if pairs == 0 {
            return;
        }
        assert!(2 * (first + (pairs - 1) * stride + 1) <= packed.len());
        assert!(packed.len() / 2 <= i32::MAX as usize);
        let steps = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(stride as i32),
        );
        for at in (0..row.len()).step_by(2 * LANES) {
            let (low_n, high_n) = (
                (row.len() - at).min(LANES),
                (row.len() - at).saturating_sub(LANES).min(LANES),
            );
            // SAFETY: the masks load only row[at..len].
            let (low, high) = unsafe {
                (
                    _mm512_maskz_loadu_ps(first_lanes(low_n), row.as_ptr().add(at)),
                    _mm512_maskz_loadu_ps(first_lanes(high_n), row.as_ptr().add(at + LANES)),
                )
            };
            // 32 halves in order: 16 pairs (input 2s in the low half of pair s).
            let halves = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(
                    bf16_high_halves(low),
                ))),
                _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(bf16_high_halves(high))),
            );
            let step = at / BF16_STEP;
            let index = _mm512_add_epi32(steps, _mm512_set1_epi32((first + step * stride) as i32));
            // SAFETY: pair `step + j` (j < the pairs left) lies inside `packed`, as asserted.
            unsafe {
                _mm512_mask_i32scatter_epi32::<4>(
                    packed.as_mut_ptr().cast(),
                    first_lanes(pairs - step),
                    index,
                    halves,
                );
            }
        }
    }

    /// `pairs[2c] = bf16(low[c])`, `pairs[2c + 1] = bf16(high[c])` (0 where `high` is empty):
    /// [`super::Bf16Weights::repack`] for a weight whose inputs are rows.
    ///
    /// # Safety
    /// The CPU has AVX512-F; `pairs` holds two halves per value of `low`, and `high` is empty
    /// or as long as `low`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pack_column_pairs(low: &[f32], high: &[f32], pairs: &mut [u16]) {
        assert!(pairs.len() >= 2 * low.len() && (high.is_empty() || high.len() == low.len()));
        for at in (0..low.len()).step_by(LANES) {
            let mask = first_lanes(low.len() - at);
            let high_mask = if high.is_empty() { 0 } else { mask };
            // SAFETY: the masks load low[at..] and high[at..] up to their ends and store two
            // halves for each, inside `pairs` as asserted.
            unsafe {
                let low = bf16_high_halves(_mm512_maskz_loadu_ps(mask, low.as_ptr().add(at)));
                let high =
                    bf16_high_halves(_mm512_maskz_loadu_ps(high_mask, high.as_ptr().add(at)));
                let both = _mm512_or_si512(_mm512_srli_epi32::<16>(low), high);
                _mm512_mask_storeu_epi32(pairs.as_mut_ptr().add(2 * at).cast(), mask, both);
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

    /// [`bf16_tile`] for 16 rows on AMX (`tdpbf16ps`, f32 sums): a whole tile stored in place,
    /// a partial one through a buffer.
    ///
    /// # Safety
    /// [`amx_begin`] ran on this thread; `a` holds 16 rows of `depth` halves (`depth` a
    /// multiple of 32), `packed` `depth × BLOCK_COLS` halves, and `out` the tile.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn bf16_tile_amx(a: &[u16], packed: &[u16], out: &mut [f32], tile: Tile) {
        let depth = a.len() / AMX_ROWS;
        if tile.rows == AMX_ROWS && tile.cols == BLOCK_COLS {
            // SAFETY: as below, but the 16 rows of 192 bytes go to `out`, rows `out_stride`
            // apart: `Tile::check` (the callers') bounds exactly those 16 × 48 values.
            unsafe {
                block_product!(
                    "tdpbf16ps",
                    a = a.as_ptr(),
                    a_stride = 2 * depth,
                    b = packed.as_ptr(),
                    chunks = depth / 32,
                    c = out.as_mut_ptr(),
                    c_stride = 4 * tile.out_stride
                );
            }
            return;
        }
        let mut sums = MaybeUninit::<[f32; AMX_ROWS * BLOCK_COLS]>::uninit();
        // SAFETY: each of the depth/32 chunks reads 16 rows of 64 bytes, 2·depth bytes apart,
        // from `a` and 16 steps of 192 weight bytes (3 × 64 at a time) from `packed`; the sums
        // are stored 16 rows of 192 bytes into `sums`, which they fill.
        let sums = unsafe {
            block_product!(
                "tdpbf16ps",
                a = a.as_ptr(),
                a_stride = 2 * depth,
                b = packed.as_ptr(),
                chunks = depth / 32,
                c = sums.as_mut_ptr().cast::<f32>(),
                c_stride = BLOCK_COLS * 4
            );
            sums.assume_init_ref()
        };
        for group in 0..GROUPS {
            let mask = group_mask(tile.cols, group);
            if mask == 0 {
                continue;
            }
            for r in 0..tile.rows {
                // SAFETY: row r's group lies in `sums`; `Tile::check` bounds row r's valid
                // outputs and the mask stores no more.
                unsafe {
                    let value = _mm512_loadu_ps(sums.as_ptr().add(r * BLOCK_COLS + group * LANES));
                    _mm512_mask_storeu_ps(
                        out.as_mut_ptr().add(r * tile.out_stride + group * LANES),
                        mask,
                        value,
                    );
                }
            }
        }
    }

    /// [`super::round_row`] with `vcvtneps2bf16`.
    ///
    /// # Safety
    /// The CPU has AVX512-F, BW, VL and BF16; `halves` is as long as `row`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn round_row(row: &[f32], halves: &mut [u16]) {
        let len = row.len();
        for at in (0..len).step_by(LANES) {
            let mask = ((1u32 << (len - at).min(LANES)) - 1) as __mmask16;
            // SAFETY: the mask loads row[at..len] and stores halves[at..len], in bounds.
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, row.as_ptr().add(at));
                let h: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(v));
                _mm256_mask_storeu_epi16(halves.as_mut_ptr().add(at).cast(), mask, h);
            }
        }
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
    const SHAPES: [(usize, usize, usize); 5] = [
        (13, 10, 50),
        (1, 7, 3),
        (37, 384, 1152),
        (9, 1536, 384),
        (70, 64, 100),
    ];

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
                // Native is AMX where the CPU has it and the depth allows (a multiple of 64).
                let kernels: &[Kernel] = if int8_available() {
                    &[Kernel::Native, Kernel::Avx512]
                } else {
                    &[]
                };
                for &kernel in kernels {
                    let mut native = vec![f32::NAN; rows * outputs];
                    int8_linear(&x, weights, &mut native, &mut scratch, kernel);
                    assert!(
                        native
                            .iter()
                            .zip(&portable)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{rows}×{inputs}→{outputs}, outliers {:?}: {kernel:?} and portable differ",
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
            // Native is AMX where the CPU has it.
            let kernels: &[Kernel] = if bf16_available() {
                &[Kernel::Native, Kernel::Avx512]
            } else {
                &[]
            };
            for &kernel in kernels {
                let mut native = vec![f32::NAN; rows * outputs];
                bf16_linear(&x, &weights, &mut native, &mut scratch, kernel);
                for (got, want) in native.iter().zip(&portable) {
                    assert!(
                        (got - want).abs() <= 1e-5 * magnitude,
                        "{kernel:?}: {got} against {want}"
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
    fn bf16_rounding_is_the_half_crates() {
        let mut specials = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x7f7f_8000),
            f32::from_bits(0x3f80_8000),
            f32::from_bits(0x3f81_8000),
            f32::from_bits(0x7f80_0001),
        ];
        specials.extend(values(10_000, 3).iter().map(|v| v * 1e3));
        for x in specials {
            assert_eq!(to_bf16(x), half::bf16::from_f32(x).to_bits(), "{x:e}");
        }
    }

    #[test]
    fn repacking_reads_rows_or_columns_into_the_packed_order() {
        let mut reused = Bf16Weights::default();
        // A reused weight shrinking and growing, 1 to 3 blocks, with padding on both sides.
        for (outputs, inputs) in [(50, 10), (7, 33), (3, 2), (100, 64), (1, 1)] {
            let w = values(outputs * inputs, 9);
            // What the kernels read: the rounded weight, zero-padded to whole blocks and
            // chunks, in `pack`'s order.
            let depth = inputs.next_multiple_of(BF16_CHUNK);
            let padded = outputs.next_multiple_of(BLOCK_COLS);
            let mut rounded = vec![0u16; padded * depth];
            for (n, row) in w.chunks_exact(inputs).enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    rounded[n * depth + k] = to_bf16(v);
                }
            }
            let want = pack(&rounded, padded, depth, BF16_STEP);
            // The same weight stored transposed, read down its columns.
            let transposed: Vec<f32> = (0..inputs * outputs)
                .map(|i| w[(i % outputs) * inputs + i / outputs])
                .collect();
            for simd in [false, pack_in_simd()] {
                reused.repack_in((outputs, inputs), &w, (inputs, 1), simd);
                assert_eq!(reused.packed, want, "{outputs}×{inputs} by rows, {simd}");
                assert_eq!((reused.outputs, reused.inputs), (outputs, inputs));
                reused.repack_in((outputs, inputs), &transposed, (1, outputs), simd);
                assert_eq!(reused.packed, want, "{outputs}×{inputs} by columns, {simd}");
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
