//! Reading a sentence-transformers model folder: which files it has and what they configure.
//!
//! A folder holds the transformer (`config.json`, `model.safetensors`, `tokenizer.json`) and the
//! sentence-transformers modules around it (`modules.json`, `sentence_bert_config.json`,
//! `1_Pooling/config.json`). The modules decide the pooling and the maximum length; the
//! tokenizer's own truncation (128 for all-MiniLM-L6-v2) is *not* what the model was trained
//! and evaluated with, so the length here wins.

use std::path::{Path, PathBuf};

use candle_transformers::models::bert::Config as BertConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{EmbedError, Result};

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean of the token vectors, padding excluded.
    Mean,
    /// The vector of the first (`[CLS]`) token.
    Cls,
}

/// The configuration of a model folder, read and checked, before any weights are loaded.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    /// The folder.
    pub dir: PathBuf,
    /// The transformer's configuration.
    pub bert: BertConfig,
    /// The pooling the sentence-transformers modules ask for.
    pub pooling: Pooling,
    /// Tokens per text, special tokens included; longer texts are truncated.
    pub max_seq_length: usize,
    /// Whether the modules end with L2 normalisation. paperscout always normalises; this
    /// only records what the model itself declares.
    pub declares_normalize: bool,
}

/// The transformer's weights file.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The transformer's configuration file.
pub const CONFIG_FILE: &str = "config.json";

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
}

impl ModelFolder {
    /// Reads and checks a folder's configuration. Fails with a clear error if a required file is
    /// missing or the model is of a kind this embedder does not run.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(EmbedError::NoModelFolder { dir: dir.into() });
        }
        require(dir, CONFIG_FILE, "the transformer's configuration")?;
        require(dir, TOKENIZER_FILE, "the tokenizer")?;
        require(dir, WEIGHTS_FILE, "the weights (only safetensors are read)")?;

        let config_path = dir.join(CONFIG_FILE);
        let model_type: ModelType = read_json(&config_path, "model configuration")?;
        match model_type.model_type.as_deref() {
            None | Some("bert") => {}
            Some(other) => {
                return Err(EmbedError::Unsupported {
                    dir: dir.into(),
                    what: format!("model_type {other:?} in config.json"),
                });
            }
        }
        let bert: BertConfig = read_json(&config_path, "BERT configuration")?;

        let modules: Vec<ModuleEntry> =
            optional_json(dir, "modules.json", "modules list")?.unwrap_or_default();
        let declares_normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        let pooling_dir = modules
            .iter()
            .find(|m| m.kind.ends_with(".Pooling"))
            .map_or("1_Pooling", |m| m.path.as_str());
        let pooling_config: Option<PoolingConfig> = optional_json(
            dir,
            &format!("{pooling_dir}/config.json"),
            "pooling configuration",
        )?;
        let pooling = match pooling_config {
            None => Pooling::Mean,
            Some(config) => pooling_mode(dir, &config, bert.hidden_size)?,
        };

        let sentence_config: Option<SentenceBertConfig> = optional_json(
            dir,
            "sentence_bert_config.json",
            "sentence-transformers configuration",
        )?;
        let max_seq_length = sentence_config
            .and_then(|c| c.max_seq_length)
            .unwrap_or(bert.max_position_embeddings)
            .min(bert.max_position_embeddings);

        Ok(Self {
            dir: dir.into(),
            bert,
            pooling,
            max_seq_length,
            declares_normalize,
        })
    }

    /// The weights file.
    pub fn weights_path(&self) -> PathBuf {
        self.dir.join(WEIGHTS_FILE)
    }

    /// The tokenizer file.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join(TOKENIZER_FILE)
    }

    /// Dimension of the text vectors.
    pub fn dim(&self) -> usize {
        self.bert.hidden_size
    }
}

fn pooling_mode(dir: &Path, config: &PoolingConfig, hidden: usize) -> Result<Pooling> {
    let unsupported = |what: String| EmbedError::Unsupported {
        dir: dir.into(),
        what,
    };
    if let Some(dim) = config.word_embedding_dimension
        && dim != hidden
    {
        return Err(unsupported(format!(
            "pooling expects {dim}-d token vectors but the transformer makes {hidden}-d ones"
        )));
    }
    let modes = [
        config.pooling_mode_mean_tokens,
        config.pooling_mode_cls_token,
        config.pooling_mode_max_tokens,
        config.pooling_mode_mean_sqrt_len_tokens,
    ];
    match modes {
        [true, false, false, false] => Ok(Pooling::Mean),
        [false, true, false, false] => Ok(Pooling::Cls),
        _ => Err(unsupported(
            "a pooling mode other than mean or CLS alone (max, mean-sqrt-len or several at once)"
                .to_owned(),
        )),
    }
}

fn require(dir: &Path, file: &'static str, why: &'static str) -> Result<()> {
    if dir.join(file).is_file() {
        Ok(())
    } else {
        Err(EmbedError::MissingFile {
            dir: dir.into(),
            file,
            why,
        })
    }
}

fn read_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| EmbedError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| EmbedError::BadConfig {
        path: path.into(),
        what,
        source,
    })
}

fn optional_json<T: DeserializeOwned>(
    dir: &Path,
    file: &str,
    what: &'static str,
) -> Result<Option<T>> {
    let path = dir.join(file);
    if path.is_file() {
        read_json(&path, what).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"model_type": "bert", "vocab_size": 10, "hidden_size": 8,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "max_position_embeddings": 64,
        "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
        "pad_token_id": 0}"#;

    fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            std::fs::write(path, content).expect("write");
        }
        dir
    }

    fn base_files() -> Vec<(&'static str, &'static str)> {
        vec![
            (CONFIG_FILE, CONFIG),
            (TOKENIZER_FILE, "{}"),
            (WEIGHTS_FILE, ""),
        ]
    }

    #[test]
    fn reads_modules_pooling_and_length() {
        let mut files = base_files();
        files.push((
            "modules.json",
            r#"[{"path": "", "type": "sentence_transformers.models.Transformer"},
                {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#,
        ));
        files.push(("sentence_bert_config.json", r#"{"max_seq_length": 32}"#));
        files.push((
            "1_Pooling/config.json",
            r#"{"word_embedding_dimension": 8, "pooling_mode_cls_token": true}"#,
        ));
        let dir = folder_with(&files);
        let folder = ModelFolder::open(dir.path()).expect("valid folder");
        assert_eq!(folder.pooling, Pooling::Cls);
        assert_eq!(folder.max_seq_length, 32);
        assert!(folder.declares_normalize);
        assert_eq!(folder.dim(), 8);
    }

    #[test]
    fn defaults_to_mean_pooling_and_the_position_limit() {
        let dir = folder_with(&base_files());
        let folder = ModelFolder::open(dir.path()).expect("valid folder");
        assert_eq!(folder.pooling, Pooling::Mean);
        assert_eq!(folder.max_seq_length, 64);
        assert!(!folder.declares_normalize);
    }

    #[test]
    fn names_the_missing_file() {
        let files: Vec<_> = base_files()
            .into_iter()
            .filter(|(name, _)| *name != TOKENIZER_FILE)
            .collect();
        let dir = folder_with(&files);
        let err = ModelFolder::open(dir.path()).expect_err("no tokenizer");
        assert!(
            matches!(
                err,
                EmbedError::MissingFile {
                    file: TOKENIZER_FILE,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_other_architectures_and_pooling_modes() {
        let roberta = CONFIG.replace("\"bert\"", "\"roberta\"");
        let mut files = base_files();
        files[0] = (CONFIG_FILE, &roberta);
        let dir = folder_with(&files);
        let err = ModelFolder::open(dir.path()).expect_err("roberta");
        assert!(err.to_string().contains("roberta"), "{err}");

        let mut files = base_files();
        files.push((
            "1_Pooling/config.json",
            r#"{"pooling_mode_max_tokens": true}"#,
        ));
        let dir = folder_with(&files);
        let err = ModelFolder::open(dir.path()).expect_err("max pooling");
        assert!(matches!(err, EmbedError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn malformed_config_is_a_clear_error() {
        let mut files = base_files();
        files[0] = (CONFIG_FILE, "{ not json");
        let dir = folder_with(&files);
        let err = ModelFolder::open(dir.path()).expect_err("bad json");
        assert!(matches!(err, EmbedError::BadConfig { .. }), "{err}");
    }
}
