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
//! input); [`FusedEncoder::supports`] says when a model needs anything else.

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct, PositionEmbeddingType};
use rayon::prelude::*;

use kernels::MatRef;
use paperscout_linalg::encoder as kernels;

/// Rows per task in the element-wise passes: enough work to be worth a thread.
const ROWS_PER_TASK: usize = 32;

/// The weights of one encoder layer, as stored (PyTorch's `out × in` layout).
struct Layer {
    /// Query, key and value weights stacked: `3·hidden × hidden`.
    qkv_weight: Vec<f32>,
    qkv_bias: Vec<f32>,
    out_weight: Vec<f32>,
    out_bias: Vec<f32>,
    attention_norm: (Vec<f32>, Vec<f32>),
    up_weight: Vec<f32>,
    up_bias: Vec<f32>,
    down_weight: Vec<f32>,
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

    /// Takes the weights from safetensors tensors, checking every shape against `config`.
    pub fn load(
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
                Ok(Layer {
                    qkv_weight,
                    qkv_bias,
                    out_weight: get(&at("attention.output.dense.weight"), &[h, h])?,
                    out_bias: get(&at("attention.output.dense.bias"), &[h])?,
                    attention_norm: norm(&at("attention.output.LayerNorm"))?,
                    up_weight: get(&at("intermediate.dense.weight"), &[i, h])?,
                    up_bias: get(&at("intermediate.dense.bias"), &[i])?,
                    down_weight: get(&at("output.dense.weight"), &[h, i])?,
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
        })
    }

    /// The last hidden state of every token of every text, stacked text after text:
    /// `Σ len × hidden`, row-major.
    pub fn forward(&self, texts: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        let h = self.hidden;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let mut x = self.embed_tokens(texts)?;
        let mut qkv = vec![0f32; total * 3 * h];
        let mut context = vec![0f32; total * h];
        let mut projected = vec![0f32; total * h];
        let mut up = vec![0f32; total * self.intermediate];
        let spans = spans(texts);

        for layer in &self.layers {
            linear(&x, h, &layer.qkv_weight, 3 * h, &mut qkv);
            par_rows(&mut qkv, 3 * h, |rows| {
                kernels::add_bias(rows, &layer.qkv_bias);
            });
            self.attention(&qkv, &spans, &mut context);

            linear(&context, h, &layer.out_weight, h, &mut projected);
            residual_norm(
                &mut x,
                &projected,
                &layer.out_bias,
                &layer.attention_norm,
                self.eps,
            );

            linear(&x, h, &layer.up_weight, self.intermediate, &mut up);
            par_rows(&mut up, self.intermediate, |rows| {
                kernels::add_bias_gelu(rows, &layer.up_bias);
            });
            linear(
                &up,
                self.intermediate,
                &layer.down_weight,
                h,
                &mut projected,
            );
            residual_norm(
                &mut x,
                &projected,
                &layer.down_bias,
                &layer.output_norm,
                self.eps,
            );
        }
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
            .map(|&(text, head)| {
                let (start, len) = spans[text];
                let base = start * 3 * h + head * d;
                let queries = strided(&qkv[base..], len, d, 3 * h, 1);
                let keys_t = strided(&qkv[base + h..], d, len, 1, 3 * h);
                let values = strided(&qkv[base + 2 * h..], len, d, 3 * h, 1);
                let mut scores = vec![0f32; len * len];
                kernels::matmul(queries, keys_t, &mut scores, len, scale, false);
                kernels::softmax_rows(&mut scores, len);
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
        for (&(text, head), part) in tasks.iter().zip(&parts) {
            let (start, len) = spans[text];
            for row in 0..len {
                let at = (start + row) * h + head * d;
                context[at..at + d].copy_from_slice(&part[row * d..(row + 1) * d]);
            }
        }
    }
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
