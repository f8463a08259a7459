//! Helpers shared by the integration tests: where things are, the one shared model, vector maths.

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use paperscout_embed::{Embedder, EmbedderOptions, Engine, Precision};
use serde::Deserialize;

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The default model folder. `make test` fetches it first; a missing model fails loudly
/// rather than skipping, since every embedding test depends on it.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("PAPERSCOUT_TEST_MODEL").map_or_else(
        || repo_root().join("models/all-MiniLM-L6-v2"),
        PathBuf::from,
    );
    assert!(
        dir.join("model.safetensors").is_file(),
        "the model is not at {}: run `models/fetch` (`make test` does it) or set PAPERSCOUT_TEST_MODEL",
        dir.display()
    );
    dir
}

/// A file under `../shared`, or `None` after a loud message where the shared data is absent.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = repo_root().join("../shared").join(relative);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "\n!!!!! SKIPPED: {} is missing; this test needs the shared data beside the repository !!!!!\n",
            path.display()
        );
        None
    }
}

/// The real model on the default engine in FP32 (the reference precision), loaded once for
/// the whole test binary.
pub fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| load(Engine::Auto, Precision::Fp32))
}

/// The real model on the fused engine in a reduced precision, loaded once each; `None` where
/// this CPU does not run it (the test says so and checks nothing more).
pub fn reduced_precision_embedder(precision: Precision) -> Option<&'static Embedder> {
    static INT8: OnceLock<Option<Embedder>> = OnceLock::new();
    static BF16: OnceLock<Option<Embedder>> = OnceLock::new();
    let cell = match precision {
        Precision::Int8 => &INT8,
        Precision::Bf16 => &BF16,
        Precision::Fp32 | Precision::Auto => panic!("{precision} is not a reduced precision"),
    };
    let embedder = cell.get_or_init(|| {
        let options = EmbedderOptions {
            precision,
            ..EmbedderOptions::default()
        };
        match Embedder::load(&model_dir(), &options) {
            Ok(embedder) => Some(embedder),
            Err(paperscout_embed::EmbedError::PrecisionUnsupported { why, .. }) => {
                eprintln!("!!!!! {precision} not tested on this machine: {why} !!!!!");
                None
            }
            Err(err) => panic!("the model loads in {precision}: {err}"),
        }
    });
    embedder.as_ref()
}

/// The real model on Candle's BERT, the reference engine, loaded once.
pub fn candle_embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| load(Engine::Candle, Precision::Fp32))
}

fn load(engine: Engine, precision: Precision) -> Embedder {
    let options = EmbedderOptions {
        engine,
        precision,
        ..EmbedderOptions::default()
    };
    Embedder::load(&model_dir(), &options).expect("the model loads")
}

/// A text with the reference embedding that sentence-transformers computed for it.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    pub id: String,
    /// Papers have a title and an abstract; edge texts only `text`.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, rename = "abstract")]
    pub abstract_text: Option<String>,
    pub text: String,
    pub embedding: Vec<f32>,
}

/// Reads a fixture file of references, or `None` where the shared fixtures are absent.
pub fn references(fixture: &str) -> Option<Vec<Reference>> {
    let path = shared_file(&format!("fixtures/{fixture}"))?;
    let text = std::fs::read_to_string(&path).expect("readable fixture");
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("fixture line is a reference"))
            .collect(),
    )
}

/// Cosine similarity in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors of different dimension");
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    dot / (norm(a) * norm(b))
}

/// L2 norm in f64.
pub fn norm(a: &[f32]) -> f64 {
    a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

/// Largest absolute difference between two vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Copies the model folder into a fresh temporary folder, for tests that break it.
pub fn model_copy() -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temp dir");
    copy_dir(&model_dir(), copy.path());
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable model folder") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The binary with a private home, so no user config or data leaks into a test.
pub fn paperscout(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paperscout"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PAPERSCOUT_")
            || key == "RUST_LOG"
            || key == "XDG_RUNTIME_DIR"
        {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("PAPERSCOUT_MODEL", model_dir());
    command
}

/// The standard error of a finished command, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Papers `skip..skip + count` of the shared sample as JSON lines (the sample's first 328
/// were announced on 2025-03-18, the next 172 on 2025-03-19), or `None` where it is absent.
pub fn sample_lines(skip: usize, count: usize) -> Option<Vec<String>> {
    use std::io::BufRead;
    let path = shared_file("data/arxiv-cs/sample-2k.jsonl")?;
    Some(
        std::io::BufReader::new(std::fs::File::open(path).expect("readable sample"))
            .lines()
            .skip(skip)
            .take(count)
            .map(|line| line.expect("readable line"))
            .collect(),
    )
}

/// The paperscout id of a paper given as a JSON line.
pub fn paper_id(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line).expect("a JSON paper")["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// Writes lines into `home/name`, one a line.
pub fn write_lines(home: &Path, name: &str, lines: &[String]) -> PathBuf {
    let file = home.join(name);
    std::fs::write(&file, lines.join("\n") + "\n").expect("writable home");
    file
}

/// Ingests JSON-line papers with the command line (written to `home/name` first).
pub fn ingest_lines(home: &Path, name: &str, lines: &[String]) {
    let file = write_lines(home, name, lines);
    let output = paperscout(home)
        .arg("ingest")
        .arg(&file)
        .output()
        .expect("paperscout runs");
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The index folder of the one model a test's data directory has used.
pub fn index_dir(home: &Path) -> PathBuf {
    let root = home.join("data/paperscout/index");
    let folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("an index folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(folders.len(), 1, "one model's index in {}", root.display());
    folders.into_iter().next().expect("one")
}

/// Writes the config file a `paperscout` of this home reads.
pub fn write_config(home: &Path, text: &str) {
    let dir = home.join("config/paperscout");
    std::fs::create_dir_all(&dir).expect("config folder");
    std::fs::write(dir.join("config.toml"), text).expect("config file");
}

/// The ids of the papers in `user`'s digest of `today` in a scheduler's outbox, after checking
/// that the folder holds exactly that day's digest (`.json` and `.md`) and nothing pending.
pub fn one_digest_of_the_day(outbox: &Path, user: &str, today: &str) -> Vec<String> {
    let folder = outbox.join(user);
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .expect("the user's outbox folder")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [format!("{today}.json"), format!("{today}.md")],
        "{user}: one digest of the day, nothing pending"
    );
    let text = std::fs::read_to_string(folder.join(&names[0])).expect("the digest");
    let digest: serde_json::Value = serde_json::from_str(&text).expect("a JSON digest");
    digest["papers"]
        .as_array()
        .expect("papers")
        .iter()
        .map(|entry| entry["id"].as_str().expect("an id").to_owned())
        .collect()
}
