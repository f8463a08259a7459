//! Finding and loading the embedding model the settings ask for.
//!
//! Without a choice, paperscout uses all-MiniLM-L6-v2 as `models/fetch` lays it out, looked for
//! in the data directory, then under `./models`, then beside the source tree this binary was
//! built from. That default is checked against the committed sha256 manifest every time it
//! loads, so a corrupt or swapped file is an error, not silently wrong vectors.

use std::path::PathBuf;

use paperscout_embed::{
    DeviceSpec, Embedder, EmbedderOptions, Engine, Manifest, ModelSource, Precision,
};

use crate::error::{AppError, Result};
use crate::settings::Settings;

/// The default model's folder name.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// The digests of the default model's files, as committed in `models/`.
const DEFAULT_MANIFEST: &str = include_str!("../../../models/all-MiniLM-L6-v2.sha256");

/// Where the model came from, for messages and `model info`.
#[derive(Debug, Clone)]
pub struct Located {
    /// The folder holding the model.
    pub dir: PathBuf,
    /// A short name.
    pub name: String,
    /// Whether this is the default model, checked against the manifest.
    pub is_default: bool,
}

/// Finds the model folder the settings name, or the default one.
pub fn locate(settings: &Settings) -> Result<Located> {
    if let Some(text) = &settings.model.path {
        let source = ModelSource::parse(text);
        let dir = source.resolve(&paperscout_embed::default_hub_cache())?;
        return Ok(Located {
            dir,
            name: source.display_name(),
            is_default: false,
        });
    }
    let candidates = default_locations(settings);
    match candidates.iter().find(|dir| dir.is_dir()) {
        Some(dir) => Ok(Located {
            dir: dir.clone(),
            name: DEFAULT_MODEL.to_owned(),
            is_default: true,
        }),
        None => {
            let searched: Vec<String> = candidates
                .iter()
                .map(|d| format!("  {}", d.display()))
                .collect();
            Err(AppError::NoModel(format!(
                "the default model {DEFAULT_MODEL} is not installed; looked in:\n{}\n\
                 Run `models/fetch` in the paperscout source tree (or `make model`), copy the \
                 folder to one of those places, or pass --model DIR",
                searched.join("\n")
            )))
        }
    }
}

fn default_locations(settings: &Settings) -> Vec<PathBuf> {
    let mut places = vec![
        settings.data_dir.join("models").join(DEFAULT_MODEL),
        PathBuf::from("models").join(DEFAULT_MODEL),
    ];
    // This crate lives in `crates/app` of the source tree.
    let source_tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or(std::path::Path::new("."))
        .join("models")
        .join(DEFAULT_MODEL);
    if !places.contains(&source_tree) {
        places.push(source_tree);
    }
    places
}

/// Loads the model the settings name, on the device they name.
pub fn load(settings: &Settings) -> Result<(Embedder, Located)> {
    let located = locate(settings)?;
    let device: DeviceSpec = settings.model.device.as_deref().unwrap_or("cpu").parse()?;
    let engine: Engine = settings.model.engine.as_deref().unwrap_or("auto").parse()?;
    let precision: Precision = settings
        .model
        .precision
        .as_deref()
        .unwrap_or("auto")
        .parse()?;
    let manifest = if located.is_default {
        Some(Manifest::parse(DEFAULT_MANIFEST).map_err(|err| {
            AppError::Bug(format!("the built-in model manifest is malformed: {err}"))
        })?)
    } else {
        None
    };
    let options = EmbedderOptions {
        device,
        engine,
        precision,
        batch_size: settings
            .model
            .batch_size
            .map_or(paperscout_embed::DEFAULT_BATCH_SIZE, |n| n as usize),
        manifest,
        name: Some(located.name.clone()),
    };
    tracing::info!(model = %located.dir.display(), %device, "loading the embedding model");
    let embedder = Embedder::load(&located.dir, &options)?;
    Ok((embedder, located))
}

/// `model info`: the model in use, its weights' hash, and whether they were checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelReport {
    /// What the embedder says of itself.
    #[serde(flatten)]
    pub info: paperscout_embed::ModelInfo,
    /// sha256 of model.safetensors: identifies the weights exactly.
    pub sha256: String,
    /// Whether the files were checked against the committed manifest.
    pub verified: bool,
}

impl ModelReport {
    /// Loads the model the settings name and reports on it.
    pub fn of(settings: &Settings) -> Result<Self> {
        let (embedder, located) = load(settings)?;
        Ok(Self {
            info: embedder.info().clone(),
            sha256: embedder.weights_sha256()?,
            verified: located.is_default,
        })
    }

    /// The report for people, a line a fact.
    pub fn text(&self) -> String {
        let info = &self.info;
        let verified = if self.verified {
            "yes, against models/all-MiniLM-L6-v2.sha256"
        } else {
            "no (not the default model)"
        };
        let rows = [
            ("model", info.name.clone()),
            ("path", info.path.display().to_string()),
            ("dimension", info.dim.to_string()),
            ("pooling", format!("{:?}", info.pooling).to_lowercase()),
            ("max length", format!("{} tokens", info.max_seq_length)),
            ("layers", info.layers.to_string()),
            ("device", info.device.clone()),
            ("engine", format!("{:?}", info.engine).to_lowercase()),
            ("precision", info.precision.to_string()),
            ("threads", info.threads.to_string()),
            ("batch size", info.batch_size.to_string()),
            ("sha256", self.sha256.clone()),
            ("verified", verified.to_owned()),
        ];
        rows.iter()
            .map(|(key, value)| format!("{key:<11} {value}\n"))
            .collect()
    }
}
