//! The one error type of this crate. Each message says what went wrong and what to do.

use std::path::PathBuf;

pub use paperscout_types::Fault;

/// Everything that can go wrong while finding, checking, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file the model needs is not in its folder.
    #[error(
        "model folder {dir} has no {file}: {why}. Fetch the default model with `models/fetch`, \
         or point --model at a complete sentence-transformers folder"
    )]
    MissingFile {
        /// The model folder.
        dir: PathBuf,
        /// The missing file, relative to `dir`.
        file: &'static str,
        /// What the file is for.
        why: &'static str,
    },

    /// The model folder itself does not exist.
    #[error(
        "model folder {dir} does not exist. Fetch the default model with `models/fetch`, \
         or pass --model with a sentence-transformers folder or a Hugging Face model name"
    )]
    NoModelFolder {
        /// Where the folder was expected.
        dir: PathBuf,
    },

    /// A model name was not found in the local Hugging Face cache.
    #[error(
        "model {name} is not in the Hugging Face cache at {cache}. Download it there with a \
         hub client, build paperscout with `--features hub-download`, or pass a local folder"
    )]
    NotInHubCache {
        /// The model name, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
        name: String,
        /// The cache folder that was searched.
        cache: PathBuf,
    },

    /// Downloading from the hub failed (only with the `hub-download` feature).
    #[error("could not download {name} from the Hugging Face hub: {message}")]
    Download {
        /// The model name.
        name: String,
        /// What the client said.
        message: String,
    },

    /// A JSON configuration file could not be read as the format it should have.
    #[error("{path} is not a valid {what}: {source}. Re-fetch the model or fix the file")]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// Which configuration it should be.
        what: &'static str,
        /// The parser's complaint.
        source: serde_json::Error,
    },

    /// The model uses something this embedder does not implement.
    #[error(
        "unsupported model in {dir}: {what}. paperscout runs BERT-family sentence-transformers \
             with mean or CLS pooling, such as all-MiniLM-L6-v2"
    )]
    Unsupported {
        /// The model folder.
        dir: PathBuf,
        /// What is unsupported.
        what: String,
    },

    /// The tokenizer file could not be loaded.
    #[error(
        "could not load the tokenizer {path}: {message}. Re-fetch the model with `models/fetch`"
    )]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What the tokenizers library said.
        message: String,
    },

    /// The weights could not be loaded, or do not fit the configuration.
    #[error(
        "could not load the weights {path}: {source}. The file may be truncated or corrupt, or \
         not match config.json: re-fetch the model with `models/fetch`"
    )]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What Candle said (boxed: Candle's error is large, and every `Result` of this crate
        /// and its callers would carry its size).
        source: Box<candle_core::Error>,
    },

    /// A model file's checksum differs from the manifest.
    #[error(
        "{path} has sha256 {actual}, but the manifest expects {expected}: the file is corrupt or \
         from another model. Delete the model folder and run `models/fetch` again"
    )]
    HashMismatch {
        /// The file whose hash differs.
        path: PathBuf,
        /// The hash in the manifest.
        expected: String,
        /// The hash of the file on disk.
        actual: String,
    },

    /// A hash manifest line is malformed.
    #[error("line {line} of the hash manifest is malformed: {text:?}. Expected `<sha256>  <file>`")]
    BadManifest {
        /// 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
    },

    /// Reading a file failed.
    #[error("could not read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The device name could not be understood.
    #[error("unknown device {0:?}: use `cpu`, `cuda` or `cuda:N`")]
    BadDeviceName(String),

    /// The engine name could not be understood.
    #[error("unknown engine {0:?}: use `auto`, `fused` or `candle`")]
    BadEngineName(String),

    /// The precision name could not be understood.
    #[error("unknown precision {0:?}: use `auto`, `fp32`, `bf16` or `int8`")]
    BadPrecisionName(String),

    /// The requested precision cannot run here.
    #[error("cannot embed in {precision}: {why}")]
    PrecisionUnsupported {
        /// What was asked for.
        precision: crate::Precision,
        /// Why not, and what to do.
        why: String,
    },

    /// The requested device cannot be used.
    #[error("cannot use device {device}: {message}")]
    Device {
        /// The requested device.
        device: String,
        /// Why not, and what to do.
        message: String,
    },

    /// The tokenizer failed on an input text.
    #[error("could not tokenize a text: {0}")]
    Tokenize(String),

    /// The forward pass failed.
    #[error(
        "the model failed while embedding: {0}. This is a bug; please report it with the input"
    )]
    Compute(Box<candle_core::Error>),
}

impl From<candle_core::Error> for EmbedError {
    fn from(error: candle_core::Error) -> Self {
        Self::Compute(Box::new(error))
    }
}

impl EmbedError {
    /// Whose fault this error is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::NoModelFolder { .. }
            | Self::NotInHubCache { .. }
            | Self::BadDeviceName(_)
            | Self::BadEngineName(_)
            | Self::BadPrecisionName(_)
            | Self::PrecisionUnsupported { .. }
            | Self::Unsupported { .. } => Fault::User,
            Self::MissingFile { .. }
            | Self::Download { .. }
            | Self::BadConfig { .. }
            | Self::Tokenizer { .. }
            | Self::Weights { .. }
            | Self::HashMismatch { .. }
            | Self::BadManifest { .. }
            | Self::Io { .. }
            | Self::Device { .. } => Fault::Environment,
            Self::Tokenize(_) | Self::Compute(_) => Fault::Bug,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;
