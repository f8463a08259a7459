//! What the ranking benchmarks share: the shared corpus with the peer's vectors, settings from
//! the environment, and peak memory.

use std::io::{BufRead, BufReader};
use std::path::Path;

use paperscout_rank::Matrix;
use paperscout_types::Paper;

/// The embeddings' dimension.
pub const DIM: usize = 384;

/// A number from the environment, or the default.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's peak resident memory so far, in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Every paper's title + abstract of `../shared/data/arxiv-cs/papers.jsonl.gz`, and the
/// peer's vectors of them scaled to unit length, row i for paper i; `None` after a loud
/// message where the shared data is absent.
pub fn corpus() -> Option<(Vec<String>, Matrix)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/arxiv-cs");
    let (papers_path, vectors_path) = (
        root.join("papers.jsonl.gz"),
        root.join("embeddings/all-MiniLM-L6-v2.f16"),
    );
    if !papers_path.is_file() || !vectors_path.is_file() {
        eprintln!(
            "!!!!! {} is missing: no benchmark without the shared data !!!!!",
            root.display()
        );
        return None;
    }
    let decoder = flate2::read::MultiGzDecoder::new(std::fs::File::open(&papers_path).unwrap());
    let texts: Vec<String> = BufReader::new(decoder)
        .lines()
        .map(|line| {
            serde_json::from_str::<Paper>(&line.unwrap())
                .unwrap()
                .embedding_text()
        })
        .collect();
    let rows = paperscout_index::f16_rows(&std::fs::read(&vectors_path).unwrap(), DIM).unwrap();
    let mut vectors = Matrix::from_data(DIM, rows.into_iter().flatten().collect());
    vectors.normalise_rows();
    Some((texts, vectors))
}
