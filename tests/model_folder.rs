//! A broken model folder is a clear error, never a panic and never wrong vectors.

use std::fs;

use paperscout_embed::{EmbedError, Embedder, EmbedderOptions, Manifest};

use crate::util::{model_copy, repo_root};

fn load(dir: &std::path::Path, manifest: Option<Manifest>) -> Result<Embedder, EmbedError> {
    let options = EmbedderOptions {
        manifest,
        ..EmbedderOptions::default()
    };
    Embedder::load(dir, &options)
}

fn committed_manifest() -> Manifest {
    let text = fs::read_to_string(repo_root().join("models/all-MiniLM-L6-v2.sha256")).unwrap();
    Manifest::parse(&text).unwrap()
}

#[test]
fn the_fetched_model_matches_the_committed_manifest() {
    let dir = crate::util::model_dir();
    committed_manifest().verify(&dir).unwrap();
}

#[test]
fn missing_tokenizer_is_named() {
    let copy = model_copy();
    fs::remove_file(copy.path().join("tokenizer.json")).unwrap();
    let err = load(copy.path(), None).unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::MissingFile {
                file: "tokenizer.json",
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("tokenizer.json") && message.contains("models/fetch"),
        "{message}"
    );
}

#[test]
fn truncated_weights_are_a_weights_error() {
    let copy = model_copy();
    let weights = copy.path().join("model.safetensors");
    let bytes = fs::read(&weights).unwrap();
    fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(copy.path(), None).unwrap_err();
    assert!(matches!(err, EmbedError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn garbage_weights_are_a_weights_error() {
    let copy = model_copy();
    fs::write(
        copy.path().join("model.safetensors"),
        b"\xff\xff\xff\xff\xff\xff\xff\x7fnot safetensors",
    )
    .unwrap();
    let err = load(copy.path(), None).unwrap_err();
    assert!(matches!(err, EmbedError::Weights { .. }), "{err}");
}

#[test]
fn weights_that_do_not_fit_the_config_are_a_weights_error() {
    let copy = model_copy();
    let config_path = copy.path().join("config.json");
    let config = fs::read_to_string(&config_path).unwrap();
    let changed = config.replace("\"intermediate_size\": 1536", "\"intermediate_size\": 1024");
    assert_ne!(
        changed, config,
        "the test must really change the configuration"
    );
    fs::write(&config_path, changed).unwrap();
    let err = load(copy.path(), None).unwrap_err();
    assert!(matches!(err, EmbedError::Weights { .. }), "{err}");
}

#[test]
fn a_changed_file_fails_the_hash_check() {
    let copy = model_copy();
    let tokenizer = copy.path().join("tokenizer.json");
    let mut text = fs::read_to_string(&tokenizer).unwrap();
    text.push('\n');
    fs::write(&tokenizer, text).unwrap();
    // The file still loads as a tokenizer: only the manifest can tell it was changed.
    let err = load(copy.path(), Some(committed_manifest())).unwrap_err();
    assert!(matches!(err, EmbedError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn a_missing_folder_says_how_to_get_one() {
    let err = load("/nonexistent/model".as_ref(), None).unwrap_err();
    assert!(matches!(err, EmbedError::NoModelFolder { .. }), "{err}");
}
