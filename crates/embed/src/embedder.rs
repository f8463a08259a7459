//! The embedder: texts in, unit-length vectors out, in input order.
//!
//! Texts are tokenized first, then sorted by length and cut into batches, each padded only to
//! its own longest member: a batch of similar lengths wastes little arithmetic on padding. The
//! vectors are put back in input order before they are returned.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use serde::Serialize;
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use crate::device::DeviceSpec;
use crate::error::{EmbedError, Result};
use crate::fused::FusedEncoder;
use crate::manifest::{Manifest, sha256_file};
use crate::model_dir::{ModelFolder, Pooling};
use crate::pooling::{l2_normalize, pool, pool_packed};
use crate::precision::Precision;
use crate::source::ModelSource;

/// Texts per forward pass unless the caller says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 16;

/// What the int8 encoder runs in FP32 at load to find the channels it keeps in FP32: an empty
/// text (only the special tokens, whose hidden states hold the largest outliers), a title with
/// an abstract, and a short query.
const CALIBRATION_TEXTS: [&str; 3] = [
    "",
    "Sparse retrieval meets dense encoders\nWe study how term-weighting models and learned \
     sentence embeddings complement each other when ranking scientific abstracts, and report \
     gains on three benchmarks with a simple score fusion.",
    "graph neural networks for molecule property prediction",
];

/// Which implementation of the transformer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The fused CPU encoder where it applies (CPU, a BERT it implements), Candle otherwise.
    #[default]
    Auto,
    /// The fused CPU encoder: packed tokens, fused kernels (see the `fused` module).
    Fused,
    /// Candle's BERT: the reference implementation, and the one that runs on GPUs.
    Candle,
}

impl std::str::FromStr for Engine {
    type Err = EmbedError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "fused" => Ok(Self::Fused),
            "candle" => Ok(Self::Candle),
            _ => Err(EmbedError::BadEngineName(s.to_owned())),
        }
    }
}

/// How to load and run a model.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Where the model runs.
    pub device: DeviceSpec,
    /// Which implementation runs it.
    pub engine: Engine,
    /// The arithmetic of the dense layers (the fused engine only).
    pub precision: Precision,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// If given, the folder's files must match these digests before anything is loaded.
    pub manifest: Option<Manifest>,
    /// A name for the model in logs and `model info`; the folder name if not given.
    pub name: Option<String>,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        Self {
            device: DeviceSpec::Cpu,
            engine: Engine::Auto,
            precision: Precision::Auto,
            batch_size: DEFAULT_BATCH_SIZE,
            manifest: None,
            name: None,
        }
    }
}

/// What a loaded model is, for `paperscout model info` and for recording which model made
/// which vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// The model's name.
    pub name: String,
    /// The folder it was loaded from.
    pub path: PathBuf,
    /// Dimension of the vectors.
    pub dim: usize,
    /// How token vectors are pooled.
    pub pooling: Pooling,
    /// Tokens per text, special tokens included.
    pub max_seq_length: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Where it runs.
    pub device: String,
    /// Which implementation runs it (never `auto`).
    pub engine: Engine,
    /// The arithmetic of its dense layers (never `auto`).
    pub precision: Precision,
    /// CPU threads it computes on: rayon's pool, which follows `RAYON_NUM_THREADS`.
    pub threads: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
}

/// The transformer, in the implementation chosen at load time.
enum Runner {
    Candle(BertModel),
    Fused(FusedEncoder),
}

/// A loaded sentence-transformer.
pub struct Embedder {
    runner: Runner,
    tokenizer: Tokenizer,
    folder: ModelFolder,
    device: Device,
    info: ModelInfo,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Checks and loads the model in `dir`.
    pub fn load(dir: &Path, options: &EmbedderOptions) -> Result<Self> {
        let folder = ModelFolder::open(dir)?;
        if let Some(manifest) = &options.manifest {
            manifest.verify(dir)?;
        }
        let tokenizer = load_tokenizer(&folder)?;
        let device = options.device.open()?;

        let weights_path = folder.weights_path();
        let weights = std::fs::read(&weights_path).map_err(|source| EmbedError::Io {
            path: weights_path.clone(),
            source,
        })?;
        let weights_error = |source| EmbedError::Weights {
            path: weights_path.clone(),
            source: Box::new(source),
        };
        let engine = choose_engine(options, &folder)?;
        let precision = options.precision.resolve(engine == Engine::Fused)?;
        let runner = match engine {
            Engine::Fused => {
                let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
                    .map_err(weights_error)?;
                // Only int8 calibrates: the other precisions load without running the model.
                let calibration = if precision == Precision::Int8 {
                    tokenizer
                        .encode_batch(CALIBRATION_TEXTS.to_vec(), true)
                        .map_err(|e| EmbedError::Tokenize(e.to_string()))?
                } else {
                    Vec::new()
                };
                let calibration: Vec<&[u32]> = calibration.iter().map(Encoding::get_ids).collect();
                Runner::Fused(
                    FusedEncoder::load(&tensors, &folder.bert, precision, &calibration)
                        .map_err(weights_error)?,
                )
            }
            // `choose_engine` resolves `Auto`; the arm only keeps the match exhaustive.
            Engine::Candle | Engine::Auto => {
                let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
                    .map_err(weights_error)?;
                Runner::Candle(BertModel::load(vb, &folder.bert).map_err(weights_error)?)
            }
        };

        let name = options
            .name
            .clone()
            .unwrap_or_else(|| ModelSource::Folder(dir.into()).display_name());
        let info = ModelInfo {
            name,
            path: dir.into(),
            dim: folder.dim(),
            pooling: folder.pooling,
            max_seq_length: folder.max_seq_length,
            layers: folder.bert.num_hidden_layers,
            device: options.device.to_string(),
            engine,
            precision,
            threads: rayon::current_num_threads(),
            batch_size: options.batch_size.max(1),
        };
        tracing::debug!(?info, "model loaded");
        Ok(Self {
            runner,
            tokenizer,
            folder,
            device,
            info,
        })
    }

    /// What this model is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.info.dim
    }

    /// The sha256 of the weights file, which identifies the model exactly.
    pub fn weights_sha256(&self) -> Result<String> {
        sha256_file(&self.folder.weights_path())
    }

    /// Embeds `texts` with the configured batch size. Row `i` is the vector of `texts[i]`.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_with_batch_size(texts, self.info.batch_size)
    }

    /// Embeds `texts`, at most `batch_size` of them per forward pass.
    pub fn embed_with_batch_size<S: AsRef<str>>(
        &self,
        texts: &[S],
        batch_size: usize,
    ) -> Result<Vec<Vec<f32>>> {
        // The generic surface only borrows the strings: the work below is compiled (and
        // optimised) in this crate, not in each caller's.
        self.embed_strs(&as_strs(texts), batch_size)
    }

    /// Tokens each text becomes after truncation, special tokens included.
    pub fn token_counts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<usize>> {
        Ok(self
            .tokenize(&as_strs(texts))?
            .iter()
            .map(Encoding::len)
            .collect())
    }

    fn embed_strs(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let encodings = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        // Longest first: Candle's padded batches waste little on padding, the fused engine's
        // attention tasks are of similar size, and the first batch shows the peak memory.
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));

        let mut vectors = vec![Vec::new(); encodings.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let rows = self.forward(&batch)?;
            for (&i, row) in chunk.iter().zip(rows) {
                vectors[i] = row;
            }
        }
        Ok(vectors)
    }

    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        let needed: Vec<&str> = texts
            .iter()
            .map(|text| tokenizer_prefix(text, self.folder.max_seq_length))
            .collect();
        self.tokenizer
            .encode_batch(needed, true)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))
    }

    /// One forward pass over a batch of encodings.
    fn forward(&self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        match &self.runner {
            Runner::Candle(model) => self.forward_padded(model, batch),
            Runner::Fused(encoder) => {
                let ids: Vec<&[u32]> = batch.iter().map(|e| e.get_ids()).collect();
                let hidden = encoder.forward(&ids)?;
                let lengths: Vec<usize> = ids.iter().map(|i| i.len()).collect();
                Ok(pool_packed(
                    &hidden,
                    self.dim(),
                    &lengths,
                    self.folder.pooling,
                ))
            }
        }
    }

    /// Candle's forward pass over encodings padded to the longest of them.
    fn forward_padded(&self, model: &BertModel, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        let width = batch.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = vec![self.folder.bert.pad_token_id as u32; rows * width];
        let mut mask = vec![0f32; rows * width];
        for (row, encoding) in batch.iter().enumerate() {
            let start = row * width;
            ids[start..start + encoding.len()].copy_from_slice(encoding.get_ids());
            mask[start..start + encoding.len()].fill(1.0);
        }
        let ids = Tensor::from_vec(ids, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        // Single-segment input: every token type is 0.
        let token_types = ids.zeros_like()?;
        let hidden = model.forward(&ids, &token_types, Some(&mask))?;
        let pooled = pool(&hidden, &mask, self.folder.pooling)?;
        Ok(l2_normalize(&pooled)?.to_vec2()?)
    }
}

/// The engine that will run: `auto` resolved, `fused` refused where it does not apply.
fn choose_engine(options: &EmbedderOptions, folder: &ModelFolder) -> Result<Engine> {
    let fused_applies = options.device == DeviceSpec::Cpu && FusedEncoder::supports(&folder.bert);
    match options.engine {
        Engine::Auto if fused_applies => Ok(Engine::Fused),
        Engine::Auto | Engine::Candle => Ok(Engine::Candle),
        Engine::Fused if fused_applies => Ok(Engine::Fused),
        Engine::Fused => Err(EmbedError::Unsupported {
            dir: folder.dir.clone(),
            what: format!(
                "the fused engine on {} for this configuration (it runs on the CPU, with exact \
                 GELU and absolute positions); use --engine candle or auto",
                options.device
            ),
        }),
    }
}

fn as_strs<S: AsRef<str>>(texts: &[S]) -> Vec<&str> {
    texts.iter().map(AsRef::as_ref).collect()
}

/// Loads the tokenizer with paperscout's own length policy: no padding (batches pad themselves)
/// and truncation at the model's `max_seq_length`, whatever tokenizer.json says.
fn load_tokenizer(folder: &ModelFolder) -> Result<Tokenizer> {
    let path = folder.tokenizer_path();
    let failed = |message: String| EmbedError::Tokenizer {
        path: path.clone(),
        message,
    };
    let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| failed(e.to_string()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: folder.max_seq_length,
            ..TruncationParams::default()
        }))
        .map_err(|e| failed(e.to_string()))?;
    Ok(tokenizer)
}

/// No text longer than this reaches the tokenizer, whatever its words.
pub const MAX_TOKENIZED_BYTES: usize = 64 * 1024;

/// The part of `text` the tokenizer needs to produce the first `max_tokens` tokens.
///
/// Truncation keeps only the first `max_tokens` tokens, yet the tokenizer would normalise and
/// split the whole text first: a 100 MB abstract cost 6 GB and 39 s. Every whitespace-separated
/// word holding a letter or digit becomes at least one token, and words are tokenised on their
/// own, so the text up to the end of word `max_tokens + 1` yields the same first tokens as the
/// whole. [`MAX_TOKENIZED_BYTES`] caps what remains (a text of few, enormous words).
pub fn tokenizer_prefix(text: &str, max_tokens: usize) -> &str {
    let mut words = 0;
    let mut in_word = false;
    let mut counts = false;
    for (at, c) in text.char_indices() {
        if at >= MAX_TOKENIZED_BYTES {
            return &text[..at];
        }
        if c.is_whitespace() {
            if in_word && counts {
                words += 1;
                if words > max_tokens {
                    return &text[..at];
                }
            }
            in_word = false;
            counts = false;
        } else {
            in_word = true;
            counts |= c.is_alphanumeric();
        }
    }
    text
}
