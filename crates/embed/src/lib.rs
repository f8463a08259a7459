//! Sentence-transformer embeddings on the user's own machine, with Candle.
//!
//! paperscout embeds every abstract with all-MiniLM-L6-v2 (or another BERT-family
//! sentence-transformer): tokenize, run the transformer, pool the token vectors over the
//! attention mask, L2-normalise. The result matches the sentence-transformers reference on
//! PyTorch to a cosine of 0.99999 or better, at any batch size.
//!
//! - [`ModelSource`] says where a model comes from (a folder, or a name in the hub cache);
//! - [`ModelFolder`] reads and checks a folder's configuration before anything is loaded;
//! - [`Manifest`] checks the folder's files against known sha256 digests;
//! - [`Embedder`] loads the weights and turns texts into vectors.
//!
//! ```no_run
//! use paperscout_embed::{Embedder, EmbedderOptions};
//! # fn main() -> Result<(), paperscout_embed::EmbedError> {
//! let embedder = Embedder::load("models/all-MiniLM-L6-v2".as_ref(), &EmbedderOptions::default())?;
//! let vectors = embedder.embed(&["Attention is all you need\nThe dominant sequence ..."])?;
//! assert_eq!(vectors[0].len(), embedder.dim());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod device;
mod embedder;
mod error;
mod fused;
mod manifest;
mod model_dir;
mod pooling;
mod precision;
mod source;

pub use device::DeviceSpec;
pub use embedder::{
    DEFAULT_BATCH_SIZE, Embedder, EmbedderOptions, Engine, MAX_TOKENIZED_BYTES, ModelInfo,
    tokenizer_prefix,
};
pub use error::{EmbedError, Fault, Result};
pub use manifest::{Manifest, sha256_file};
pub use model_dir::{ModelFolder, Pooling, TOKENIZER_FILE, WEIGHTS_FILE};
pub use precision::Precision;
pub use source::{ModelSource, default_hub_cache};
