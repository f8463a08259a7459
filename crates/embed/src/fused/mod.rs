//! A BERT encoder for the CPU that packs tokens instead of padding them.
//!
//! The dense layers (QKV, attention output, feed-forward) act on each token alone, so the real
//! tokens of every text in a batch are stacked into one matrix and multiplied at once: no
//! arithmetic is spent on padding, and the matrix products are large enough to use every core.
//! Only attention looks across tokens; it runs per text and head, in parallel, with no mask
//! because no padding exists. Each sub-layer's bias, activation, residual and LayerNorm are one
//! pass over memory, and the few buffers are reused by every layer. A text's vector therefore
//! does not depend on which texts share its batch.
//!
//! It computes what Candle's BERT computes (absolute positions, exact GELU, single-segment
//! input); [`FusedEncoder::supports`] says when a model needs anything else. The dense layers
//! run in the [`Precision`] chosen at load (see [`Dense`]); everything else in FP32.

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct, PositionEmbeddingType};
use rayon::prelude::*;

use kernels::MatRef;
use paperscout_linalg::encoder as kernels;
use paperscout_linalg::low_precision::{self, Bf16Weights, Int8Weights, Kernel, Scratch};

use crate::Precision;

/// Rows per task in the element-wise passes: enough work to be worth a thread.
const ROWS_PER_TASK: usize = 32;

/// See [`outlier_inputs`].
const MAX_OUTLIERS: usize = 8;
const OUTLIER_RATIO: f32 = 3.0;

/// One dense layer's weight (PyTorch's `outputs × inputs`), in the form its precision runs.
enum Dense {
    Fp32 {
        weight: Vec<f32>,
        inputs: usize,
        outputs: usize,
    },
    Int8(Int8Weights),
    Bf16(Bf16Weights),
}

impl Dense {
    /// This layer in `precision`; `outliers` are the inputs int8 keeps in FP32.
    fn into_precision(self, precision: Precision, outliers: &[usize]) -> Self {
        let Self::Fp32 {
            weight,
            inputs,
            outputs,
        } = self
        else {
            return self;
        };
        match precision {
            Precision::Int8 => {
                Self::Int8(Int8Weights::quantize(&weight, outputs, inputs, outliers))
            }
            Precision::Bf16 => Self::Bf16(Bf16Weights::round(&weight, outputs, inputs)),
            Precision::Fp32 | Precision::Auto => Self::Fp32 {
                weight,
                inputs,
                outputs,
            },
        }
    }

    /// `out[t × outputs] = x[t × inputs] · Wᵀ`, without the bias, then `then` on every row
    /// (in runs of whole rows, in parallel: fused into the reduced-precision products' tasks).
    fn apply(
        &self,
        x: &[f32],
        out: &mut [f32],
        scratch: &mut Scratch,
        then: impl Fn(&mut [f32]) + Sync + Send,
    ) {
        match self {
            Self::Fp32 {
                weight,
                inputs,
                outputs,
            } => {
                linear(x, *inputs, weight, *outputs, out);
                par_rows(out, *outputs, then);
            }
            Self::Int8(weights) => {
                low_precision::int8_linear_then(x, weights, out, scratch, Kernel::Native, then);
            }
            Self::Bf16(weights) => {
                low_precision::bf16_linear_then(x, weights, out, scratch, Kernel::Native, then);
            }
        }
    }
}

/// The buffers of one forward pass, kept for the next (see [`BufferPool`]).
#[derive(Default)]
struct Buffers {
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    up: Vec<f32>,
    scratch: Scratch,
}

/// Buffers that forward passes lend each other: a batch's intermediate products are tens of
/// megabytes, and fresh ones cost page faults and zeroing on every pass (5 % of the time in a
/// profile of int8). Each concurrent pass takes its own; sets larger than [`KEPT_BYTES`] are
/// let go rather than kept.
#[derive(Default)]
struct BufferPool(std::sync::Mutex<Vec<Buffers>>);

/// The most a kept set of buffers may hold: a batch of 16 abstracts of 256 tokens takes ~60 MB.
const KEPT_BYTES: usize = 128 << 20;

impl BufferPool {
    fn take(&self) -> Buffers {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, buffers: Buffers) {
        let floats = buffers.qkv.capacity()
            + buffers.context.capacity()
            + buffers.projected.capacity()
            + buffers.up.capacity();
        if 4 * floats <= KEPT_BYTES {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(buffers);
        }
    }
}

/// The first `len` elements of `buffer`, grown if it is shorter. What it held before is left
/// as it was: every user below writes each element before reading it.
fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// The weights of one encoder layer.
struct Layer {
    /// Query, key and value weights stacked: `3·hidden × hidden`.
    qkv: Dense,
    qkv_bias: Vec<f32>,
    out: Dense,
    out_bias: Vec<f32>,
    attention_norm: (Vec<f32>, Vec<f32>),
    up: Dense,
    up_bias: Vec<f32>,
    down: Dense,
    down_bias: Vec<f32>,
    output_norm: (Vec<f32>, Vec<f32>),
}

/// A loaded BERT encoder for the fused CPU path.
pub struct FusedEncoder {
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_embedding: Vec<f32>,
    embedding_norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    hidden: usize,
    intermediate: usize,
    heads: usize,
    vocab: usize,
    max_positions: usize,
    eps: f32,
    pool: BufferPool,
    /// How attention runs.
    attention: Attention,
}

/// How the encoder's attention runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attention {
    /// FP32 products, the exact softmax: the FP32 precision, as the reference.
    Exact,
    /// FP32 products, the softmax with the coarse exponential (relative error below 1e-4, far
    /// under int8's and bf16's): a reduced precision where the CPU lacks AMX-BF16 (the softmax
    /// was a ninth of the int8 encoder's time there).
    CoarseSoftmax,
    /// Both products in bf16 on AMX, the coarse softmax: a reduced precision where the CPU has
    /// AMX-BF16 (elsewhere bf16 products would be no faster than FP32's).
    Bf16,
}

impl FusedEncoder {
    /// Whether this encoder computes what the configuration asks for.
    pub fn supports(config: &BertConfig) -> bool {
        matches!(config.hidden_act, HiddenAct::Gelu)
            && matches!(
                config.position_embedding_type,
                PositionEmbeddingType::Absolute
            )
            && config.num_attention_heads > 0
            && config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
    }

    /// Takes the weights from safetensors tensors, checking every shape against `config`, and
    /// prepares the dense layers for `precision` (resolved: not `Auto`, and the CPU runs it).
    /// For int8, `calibration` (a few tokenized texts) is run in FP32 first to find each dense
    /// layer's outlier inputs (see [`outlier_inputs`]).
    pub fn load(
        tensors: &HashMap<String, Tensor>,
        config: &BertConfig,
        precision: Precision,
        calibration: &[&[u32]],
    ) -> candle_core::Result<Self> {
        let mut encoder = Self::load_fp32(tensors, config)?;
        let outliers = if precision == Precision::Int8 {
            let mut ranges = InputRanges::default();
            encoder.run(calibration, Some(&mut ranges))?;
            ranges.layers
        } else {
            Vec::new()
        };
        encoder.attention = match precision {
            Precision::Fp32 | Precision::Auto => Attention::Exact,
            _ if low_precision::amx_bf16_available() => Attention::Bf16,
            _ => Attention::CoarseSoftmax,
        };
        let none = LayerRanges::default();
        encoder.layers = std::mem::take(&mut encoder.layers)
            .into_iter()
            .enumerate()
            .map(|(n, layer)| {
                let ranges = outliers.get(n).unwrap_or(&none);
                let convert = |dense: Dense, range: &[f32]| {
                    dense.into_precision(precision, &outlier_inputs(range))
                };
                Layer {
                    qkv: convert(layer.qkv, &ranges.qkv),
                    out: convert(layer.out, &ranges.out),
                    up: convert(layer.up, &ranges.up),
                    down: convert(layer.down, &ranges.down),
                    ..layer
                }
            })
            .collect();
        Ok(encoder)
    }

    fn load_fp32(
        tensors: &HashMap<String, Tensor>,
        config: &BertConfig,
    ) -> candle_core::Result<Self> {
        let prefix = if tensors.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let get = |name: &str, shape: &[usize]| fetch(tensors, &format!("{prefix}{name}"), shape);
        let norm = |name: &str| -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
            Ok((
                get(&format!("{name}.weight"), &[h])?,
                get(&format!("{name}.bias"), &[h])?,
            ))
        };
        let layers = (0..config.num_hidden_layers)
            .map(|n| {
                let at = |part: &str| format!("encoder.layer.{n}.{part}");
                let mut qkv_weight = get(&at("attention.self.query.weight"), &[h, h])?;
                qkv_weight.extend(get(&at("attention.self.key.weight"), &[h, h])?);
                qkv_weight.extend(get(&at("attention.self.value.weight"), &[h, h])?);
                let mut qkv_bias = get(&at("attention.self.query.bias"), &[h])?;
                qkv_bias.extend(get(&at("attention.self.key.bias"), &[h])?);
                qkv_bias.extend(get(&at("attention.self.value.bias"), &[h])?);
                let dense = |weight, outputs, inputs| Dense::Fp32 {
                    weight,
                    inputs,
                    outputs,
                };
                Ok(Layer {
                    qkv: dense(qkv_weight, 3 * h, h),
                    qkv_bias,
                    out: dense(get(&at("attention.output.dense.weight"), &[h, h])?, h, h),
                    out_bias: get(&at("attention.output.dense.bias"), &[h])?,
                    attention_norm: norm(&at("attention.output.LayerNorm"))?,
                    up: dense(get(&at("intermediate.dense.weight"), &[i, h])?, i, h),
                    up_bias: get(&at("intermediate.dense.bias"), &[i])?,
                    down: dense(get(&at("output.dense.weight"), &[h, i])?, h, i),
                    down_bias: get(&at("output.dense.bias"), &[h])?,
                    output_norm: norm(&at("output.LayerNorm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let token_types = get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        Ok(Self {
            word_embeddings: get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position_embeddings: get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            // Every input is a single segment: only type 0 is ever used.
            token_type_embedding: token_types[..h].to_vec(),
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            hidden: h,
            intermediate: i,
            heads: config.num_attention_heads,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            eps: config.layer_norm_eps as f32,
            pool: BufferPool::default(),
            attention: Attention::Exact,
        })
    }

    /// The last hidden state of every token of every text, stacked text after text:
    /// `Σ len × hidden`, row-major.
    pub fn forward(&self, texts: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        self.run(texts, None)
    }

    /// [`Self::forward`], noting each dense layer's input ranges in `ranges` if given.
    fn run(
        &self,
        texts: &[&[u32]],
        mut ranges: Option<&mut InputRanges>,
    ) -> candle_core::Result<Vec<f32>> {
        let h = self.hidden;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let mut x = self.embed_tokens(texts)?;
        let mut buffers = self.pool.take();
        let Buffers {
            qkv,
            context,
            projected,
            up,
            scratch,
        } = &mut buffers;
        let qkv = sized(qkv, total * 3 * h);
        let context = sized(context, total * h);
        let projected = sized(projected, total * h);
        let up = sized(up, total * self.intermediate);
        let spans = spans(texts);

        for (n, layer) in self.layers.iter().enumerate() {
            let mut note = |input: &[f32], part: fn(&mut LayerRanges) -> &mut Vec<f32>| {
                if let Some(ranges) = ranges.as_deref_mut() {
                    ranges.note(n, part, input, input.len() / total.max(1));
                }
            };
            note(&x, |r| &mut r.qkv);
            layer.qkv.apply(&x, qkv, scratch, |rows| {
                kernels::add_bias(rows, &layer.qkv_bias);
            });
            self.attention(qkv, &spans, context);

            note(context, |r| &mut r.out);
            layer.out.apply(context, projected, scratch, |_| {});
            residual_norm(
                &mut x,
                projected,
                &layer.out_bias,
                &layer.attention_norm,
                self.eps,
            );

            note(&x, |r| &mut r.up);
            layer.up.apply(&x, up, scratch, |rows| {
                kernels::add_bias_gelu(rows, &layer.up_bias);
            });
            note(up, |r| &mut r.down);
            layer.down.apply(up, projected, scratch, |_| {});
            residual_norm(
                &mut x,
                projected,
                &layer.down_bias,
                &layer.output_norm,
                self.eps,
            );
        }
        self.pool.give_back(buffers);
        Ok(x)
    }

    /// Word + position + token-type embeddings, then LayerNorm.
    fn embed_tokens(&self, texts: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        let h = self.hidden;
        let mut x = Vec::with_capacity(texts.iter().map(|t| t.len()).sum::<usize>() * h);
        for ids in texts {
            if ids.len() > self.max_positions {
                candle_core::bail!(
                    "a text of {} tokens exceeds the model's {} positions",
                    ids.len(),
                    self.max_positions
                );
            }
            for (position, &id) in ids.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    candle_core::bail!("token id {id} is outside the vocabulary of {}", self.vocab);
                }
                let word = &self.word_embeddings[id * h..(id + 1) * h];
                let place = &self.position_embeddings[position * h..(position + 1) * h];
                x.extend(
                    word.iter()
                        .zip(place)
                        .zip(&self.token_type_embedding)
                        .map(|((w, p), t)| w + p + t),
                );
            }
        }
        let (gamma, beta) = &self.embedding_norm;
        par_rows(&mut x, h, |rows| {
            kernels::layer_norm(rows, gamma, beta, self.eps);
        });
        Ok(x)
    }

    /// Multi-head self-attention of each text over its own tokens, into `context`.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], context: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let tasks: Vec<(usize, usize)> = (0..spans.len())
            .flat_map(|text| (0..self.heads).map(move |head| (text, head)))
            .collect();
        let parts: Vec<Vec<f32>> = tasks
            .par_iter()
            .map_init(AttentionBuffers::default, |buffers, &(text, head)| {
                let (start, len) = spans[text];
                let base = start * 3 * h + head * d;
                if self.attention == Attention::Bf16 {
                    return attention_in_bf16(&qkv[base..], len, h, d, scale, buffers);
                }
                let queries = strided(&qkv[base..], len, d, 3 * h, 1);
                let keys_t = strided(&qkv[base + h..], d, len, 1, 3 * h);
                let values = strided(&qkv[base + 2 * h..], len, d, 3 * h, 1);
                let mut scores = vec![0f32; len * len];
                kernels::matmul(queries, keys_t, &mut scores, len, scale, false);
                if self.attention == Attention::CoarseSoftmax {
                    kernels::softmax_rows_coarse(&mut scores, len);
                } else {
                    kernels::softmax_rows(&mut scores, len);
                }
                let mut out = vec![0f32; len * d];
                kernels::matmul(
                    MatRef::row_major(&scores, len, len),
                    values,
                    &mut out,
                    d,
                    1.0,
                    false,
                );
                out
            })
            .collect();
        // Each text's heads into its own rows of `context`, the texts in parallel (done in
        // one thread, this copy took a fiftieth of the int8 encoder's time).
        let mut rest = &mut context[..];
        let mut rows_of_text = Vec::with_capacity(spans.len());
        for &(_, len) in spans {
            let (rows, after) = std::mem::take(&mut rest).split_at_mut(len * h);
            rows_of_text.push(rows);
            rest = after;
        }
        rows_of_text
            .into_par_iter()
            .zip(parts.par_chunks(self.heads))
            .for_each(|(rows, heads)| {
                for (head, part) in heads.iter().enumerate() {
                    for (row, values) in rows.chunks_exact_mut(h).zip(part.chunks_exact(d)) {
                        row[head * d..(head + 1) * d].copy_from_slice(values);
                    }
                }
            });
    }
}

/// What one thread's attention tasks in bf16 reuse from head to head.
#[derive(Default)]
struct AttentionBuffers {
    scratch: Scratch,
    queries: Vec<f32>,
    scores: Vec<f32>,
    keys: Bf16Weights,
    values: Bf16Weights,
}

/// One head's attention over one text's `len` tokens in bf16 on AMX, f32 sums and softmax:
/// `qkv` starts at the text's first query of the head, rows `3·h` apart, heads `d` wide.
fn attention_in_bf16(
    qkv: &[f32],
    len: usize,
    h: usize,
    d: usize,
    scale: f32,
    buffers: &mut AttentionBuffers,
) -> Vec<f32> {
    let queries = &mut buffers.queries;
    queries.clear();
    for r in 0..len {
        queries.extend(qkv[r * 3 * h..][..d].iter().map(|v| v * scale));
    }
    // Keys as the weights of a layer with one output per token, values as one with one output
    // per dimension: both products are `bf16_linear`'s `x · Wᵀ`.
    buffers.keys.repack((len, d), &qkv[h..], (3 * h, 1));
    let scores = sized(&mut buffers.scores, len * len);
    low_precision::bf16_linear_then(
        queries,
        &buffers.keys,
        scores,
        &mut buffers.scratch,
        Kernel::Native,
        |rows| kernels::softmax_rows_coarse(rows, len),
    );
    buffers.values.repack((d, len), &qkv[2 * h..], (1, 3 * h));
    let mut out = vec![0f32; len * d];
    low_precision::bf16_linear(
        scores,
        &buffers.values,
        &mut out,
        &mut buffers.scratch,
        Kernel::Native,
    );
    out
}

/// The largest magnitude each input channel of each dense layer took during a calibration run.
#[derive(Default)]
struct InputRanges {
    layers: Vec<LayerRanges>,
}

#[derive(Default)]
struct LayerRanges {
    qkv: Vec<f32>,
    out: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
}

impl InputRanges {
    /// Widens layer `n`'s ranges of one dense layer (`part`) by the rows of `input`, each
    /// `width` wide.
    fn note(
        &mut self,
        n: usize,
        part: fn(&mut LayerRanges) -> &mut Vec<f32>,
        input: &[f32],
        width: usize,
    ) {
        if self.layers.len() <= n {
            self.layers.resize_with(n + 1, LayerRanges::default);
        }
        let ranges = part(&mut self.layers[n]);
        ranges.resize(width, 0.0);
        for row in input.chunks_exact(width) {
            for (range, v) in ranges.iter_mut().zip(row) {
                *range = range.max(v.abs());
            }
        }
    }
}

/// Inputs kept in FP32 by an int8 layer: at most [`MAX_OUTLIERS`] channels, the largest first,
/// each larger than [`OUTLIER_RATIO`] times the median channel's range. In MiniLM these are a
/// few channels (99 and 223 of the hidden state among them) that carry most of the special
/// tokens' magnitude; left in the int8 product they would cost the short texts most (a cosine
/// of 0.986 to the reference for an empty text, against 0.9999 for an abstract).
fn outlier_inputs(ranges: &[f32]) -> Vec<usize> {
    if ranges.is_empty() {
        return Vec::new();
    }
    let mut sorted = ranges.to_vec();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut channels: Vec<usize> = (0..ranges.len())
        .filter(|&k| ranges[k] > OUTLIER_RATIO * median)
        .collect();
    channels.sort_by(|&a, &b| ranges[b].total_cmp(&ranges[a]));
    channels.truncate(MAX_OUTLIERS);
    channels
}

/// `(first row, rows)` of each text in the stacked matrix.
fn spans(texts: &[&[u32]]) -> Vec<(usize, usize)> {
    let mut start = 0;
    texts
        .iter()
        .map(|t| {
            let span = (start, t.len());
            start += t.len();
            span
        })
        .collect()
}

fn strided(
    data: &[f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> MatRef<'_> {
    MatRef {
        data,
        rows,
        cols,
        row_stride,
        col_stride,
    }
}

/// `out[t × outputs] = x[t × inputs] · Wᵀ` for a PyTorch weight `W` of `outputs × inputs`.
fn linear(x: &[f32], inputs: usize, weight: &[f32], outputs: usize, out: &mut [f32]) {
    let rows = x.len() / inputs;
    // Wᵀ read in place: element (k, n) of Wᵀ is W[n][k].
    let weight_t = strided(weight, inputs, outputs, 1, inputs);
    kernels::matmul(
        MatRef::row_major(x, rows, inputs),
        weight_t,
        out,
        outputs,
        1.0,
        true,
    );
}

fn residual_norm(x: &mut [f32], y: &[f32], bias: &[f32], norm: &(Vec<f32>, Vec<f32>), eps: f32) {
    let width = bias.len();
    x.par_chunks_mut(ROWS_PER_TASK * width)
        .zip(y.par_chunks(ROWS_PER_TASK * width))
        .for_each(|(x, y)| {
            kernels::add_bias_residual_layer_norm(x, y, bias, &norm.0, &norm.1, eps);
        });
}

/// Runs `pass` over blocks of whole rows, in parallel.
fn par_rows(data: &mut [f32], width: usize, pass: impl Fn(&mut [f32]) + Sync + Send) {
    data.par_chunks_mut(ROWS_PER_TASK * width).for_each(pass);
}

/// A tensor's elements as f32, after checking its shape.
fn fetch(
    tensors: &HashMap<String, Tensor>,
    name: &str,
    shape: &[usize],
) -> candle_core::Result<Vec<f32>> {
    let Some(tensor) = tensors.get(name) else {
        candle_core::bail!("the weights have no tensor {name}");
    };
    if tensor.dims() != shape {
        candle_core::bail!(
            "{name} has shape {:?}, but config.json implies {shape:?}",
            tensor.dims()
        );
    }
    tensor.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
}
