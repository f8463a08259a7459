//! The embedding model as the store and the ingest pipeline see it: a [`ModelKey`] naming the
//! model and its exact weights, and a [`TextEmbedder`] that computes vectors.

use paperscout_embed::Embedder;
use paperscout_ingest::{EmbedFailure, TextEmbedder};
use paperscout_store::ModelKey;

use crate::error::Result;
use crate::settings::Settings;

/// A loaded model with the key its vectors are stored under.
pub struct StoreModel {
    embedder: Embedder,
    key: ModelKey,
}

impl StoreModel {
    /// Loads the model the settings name.
    pub fn load(settings: &Settings) -> Result<Self> {
        let (embedder, _) = crate::model::load(settings)?;
        let key = ModelKey {
            name: embedder.info().name.clone(),
            sha256: embedder.weights_sha256()?,
            dim: embedder.dim(),
        };
        Ok(Self { embedder, key })
    }

    /// The loaded embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The key its vectors are stored under.
    pub fn key(&self) -> &ModelKey {
        &self.key
    }
}

/// The key the settings' model stores its vectors under, the same as [`StoreModel::load`]
/// gives, read from the folder's config and weights without loading the model.
pub fn key_of(settings: &Settings) -> Result<ModelKey> {
    let located = crate::model::locate(settings)?;
    let folder = paperscout_embed::ModelFolder::open(&located.dir)?;
    Ok(ModelKey {
        name: located.name,
        sha256: paperscout_embed::sha256_file(&folder.weights_path())?,
        dim: folder.dim(),
    })
}

impl TextEmbedder for StoreModel {
    fn key(&self) -> &ModelKey {
        &self.key
    }

    fn embed_texts(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, EmbedFailure> {
        self.embedder.embed(texts).map_err(|err| EmbedFailure {
            fault: err.fault(),
            message: err.to_string(),
        })
    }
}
