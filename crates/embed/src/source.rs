//! Where a model comes from: a local folder, or a Hugging Face model name.
//!
//! A name such as `sentence-transformers/all-MiniLM-L6-v2` is looked up in the local hub cache
//! (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`) in the layout that
//! hub clients write: `models--ORG--NAME/refs/REVISION` holds a commit, and
//! `models--ORG--NAME/snapshots/COMMIT/` the files. Only with the `hub-download` feature is a
//! missing model downloaded into that cache.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::error::{EmbedError, Result};
use crate::model_dir::CONFIG_FILE;

/// A model as the user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A sentence-transformers folder on disk.
    Folder(PathBuf),
    /// A Hugging Face model name, at a revision (`main` unless given as `NAME@REV`).
    Hub {
        /// `ORG/NAME`.
        name: String,
        /// A branch, tag or commit.
        revision: String,
    },
}

impl ModelSource {
    /// Reads what the user typed. An existing path is a folder; otherwise a name of the form
    /// `ORG/NAME[@REV]` is a hub model; anything else is a folder that does not exist (yet).
    pub fn parse(text: &str) -> Self {
        let path = Path::new(text);
        if path.exists() || !looks_like_hub_name(text) {
            return Self::Folder(path.into());
        }
        let (name, revision) = text.split_once('@').unwrap_or((text, "main"));
        Self::Hub {
            name: name.to_owned(),
            revision: revision.to_owned(),
        }
    }

    /// The folder that holds the model, looking in the hub cache for names.
    pub fn resolve(&self, hub_cache: &Path) -> Result<PathBuf> {
        match self {
            Self::Folder(dir) => Ok(dir.clone()),
            Self::Hub { name, revision } => resolve_in_cache(hub_cache, name, revision),
        }
    }

    /// A short name for logs and `model info`.
    pub fn display_name(&self) -> String {
        match self {
            Self::Folder(dir) => dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            Self::Hub { name, revision } if revision == "main" => name.clone(),
            Self::Hub { name, revision } => format!("{name}@{revision}"),
        }
    }
}

fn looks_like_hub_name(text: &str) -> bool {
    let name = text.split_once('@').map_or(text, |(name, _)| name);
    let mut parts = name.split('/');
    let valid = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!((parts.next(), parts.next(), parts.next()), (Some(org), Some(model), None) if valid(org) && valid(model))
}

/// The hub cache folder that hub clients use on this machine.
pub fn default_hub_cache() -> PathBuf {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Cache::from_env().path().clone(),
    }
}

fn resolve_in_cache(cache_dir: &Path, name: &str, revision: &str) -> Result<PathBuf> {
    let repo = Repo::with_revision(name.to_owned(), RepoType::Model, revision.to_owned());
    let cached = Cache::new(cache_dir.into())
        .repo(repo.clone())
        .get(CONFIG_FILE);
    match cached {
        Some(config) => Ok(config
            .parent()
            .map_or_else(|| cache_dir.to_path_buf(), Path::to_path_buf)),
        None => download(cache_dir, name, repo),
    }
}

#[cfg(not(feature = "hub-download"))]
fn download(cache_dir: &Path, name: &str, _repo: Repo) -> Result<PathBuf> {
    Err(EmbedError::NotInHubCache {
        name: name.to_owned(),
        cache: cache_dir.into(),
    })
}

#[cfg(feature = "hub-download")]
fn download(cache_dir: &Path, name: &str, repo: Repo) -> Result<PathBuf> {
    use crate::model_dir::{TOKENIZER_FILE, WEIGHTS_FILE};

    let failed = |message: String| EmbedError::Download {
        name: name.to_owned(),
        message,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_cache(Cache::new(cache_dir.into()))
        .build()
        .map_err(|e| failed(e.to_string()))?
        .repo(repo);
    let config = api.get(CONFIG_FILE).map_err(|e| failed(e.to_string()))?;
    for file in [TOKENIZER_FILE, WEIGHTS_FILE] {
        api.get(file).map_err(|e| failed(e.to_string()))?;
    }
    // The sentence-transformers modules are optional: plain BERT repositories lack them.
    for file in [
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ] {
        if let Err(e) = api.get(file) {
            tracing::debug!("{name} has no {file}: {e}");
        }
    }
    Ok(config
        .parent()
        .map_or_else(|| cache_dir.to_path_buf(), Path::to_path_buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_folders_from_hub_names() {
        assert_eq!(
            ModelSource::parse("sentence-transformers/all-MiniLM-L6-v2@v1"),
            ModelSource::Hub {
                name: "sentence-transformers/all-MiniLM-L6-v2".into(),
                revision: "v1".into()
            }
        );
        assert!(matches!(
            ModelSource::parse("./models/x"),
            ModelSource::Folder(_)
        ));
        assert!(matches!(
            ModelSource::parse("/abs/path"),
            ModelSource::Folder(_)
        ));
        assert!(matches!(
            ModelSource::parse("a/b/c"),
            ModelSource::Folder(_)
        ));
        assert!(matches!(
            ModelSource::parse("plain"),
            ModelSource::Folder(_)
        ));

        // An existing relative folder of the same shape is a folder, not a hub name.
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("org/model");
        std::fs::create_dir_all(&nested).expect("mkdir");
        let text = nested.to_string_lossy().into_owned();
        assert_eq!(ModelSource::parse(&text), ModelSource::Folder(nested));
    }

    #[test]
    fn resolves_a_name_through_the_cache_layout() {
        let cache = tempfile::tempdir().expect("temp dir");
        let repo = cache.path().join("models--org--tiny-model");
        let snapshot = repo.join("snapshots/0123abcd");
        std::fs::create_dir_all(&snapshot).expect("mkdir");
        std::fs::create_dir_all(repo.join("refs")).expect("mkdir");
        std::fs::write(repo.join("refs/main"), "0123abcd").expect("write ref");
        std::fs::write(snapshot.join(CONFIG_FILE), "{}").expect("write config");

        let source = ModelSource::parse("org/tiny-model");
        assert_eq!(source.resolve(cache.path()).expect("in cache"), snapshot);
        assert_eq!(source.display_name(), "org/tiny-model");
    }

    #[cfg(not(feature = "hub-download"))]
    #[test]
    fn a_name_missing_from_the_cache_says_where_it_looked() {
        let cache = tempfile::tempdir().expect("temp dir");
        let err = ModelSource::parse("org/absent")
            .resolve(cache.path())
            .expect_err("not cached");
        assert!(matches!(err, EmbedError::NotInHubCache { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&cache.path().display().to_string())
        );
    }
}
