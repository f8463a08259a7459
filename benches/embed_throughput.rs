//! Embedding throughput: paperscout against sentence-transformers on PyTorch, same texts, same
//! machine, same run.
//!
//! `make bench-embed` (or `cargo bench --bench embed_throughput`) embeds the first 1,000 papers
//! of `../shared/data/arxiv-cs/sample-2k.jsonl` at batch sizes 1, 16 and 64, and prints texts/s,
//! tokens/s, the arithmetic rate and its share of the machine's FP32 peak. When a Python with
//! torch and sentence-transformers is found (`PAPERSCOUT_BENCH_PYTHON`, else
//! `.venv-bench/bin/python`; see `make bench-venv`), it runs `benches/embed_pytorch.py` on the
//! same texts with as many threads and prints the ratio paperscout / PyTorch.
//!
//! The default engine is measured at every batch size; Candle's BERT, the reference engine, at
//! batch size 1 (its best) as the in-process baseline.
//!
//! Environment: `PAPERSCOUT_BENCH_TEXTS` (default 1000), `PAPERSCOUT_BENCH_BATCHES` (default
//! `1,16,64`), `PAPERSCOUT_BENCH_CANDLE=0` (skip the Candle baseline), `PAPERSCOUT_PEAK_GFLOPS`
//! (override the estimated peak), `RAYON_NUM_THREADS`.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use paperscout_embed::{Embedder, EmbedderOptions, Engine, ModelInfo};
use paperscout_types::Paper;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("../shared/data/arxiv-cs/sample-2k.jsonl");
    if !sample.is_file() {
        eprintln!(
            "!!!!! {} is missing: no benchmark without the shared data !!!!!",
            sample.display()
        );
        return;
    }
    let count: usize = env_or("PAPERSCOUT_BENCH_TEXTS", 1000);
    let batch_sizes: Vec<usize> = std::env::var("PAPERSCOUT_BENCH_BATCHES")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .map(|b| b.trim().parse().expect("batch sizes are numbers"))
        .collect();

    let texts: Vec<String> = std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .take(count)
        .map(|line| {
            serde_json::from_str::<Paper>(line)
                .unwrap()
                .embedding_text()
        })
        .collect();
    let model_dir = std::env::var_os("PAPERSCOUT_MODEL")
        .map_or_else(|| root.join("models/all-MiniLM-L6-v2"), PathBuf::from);
    let load = |engine| {
        let options = EmbedderOptions {
            engine,
            ..EmbedderOptions::default()
        };
        Embedder::load(&model_dir, &options).unwrap_or_else(|e| panic!("{e}"))
    };
    let embedder = load(Engine::Auto);
    let info = embedder.info().clone();
    let threads = info.threads;
    let token_counts = embedder.token_counts(&texts).unwrap();
    let tokens: usize = token_counts.iter().sum();
    let flop = useful_flop(&info, &token_counts);
    let peak = peak_gflops(threads);

    println!(
        "paperscout embedding throughput: {} texts of {}, {tokens} tokens after truncation \
         (mean {:.1}), max {} tokens, {threads} threads",
        texts.len(),
        sample.file_name().unwrap().to_string_lossy(),
        tokens as f64 / texts.len() as f64,
        info.max_seq_length,
    );
    println!(
        "useful arithmetic {:.1} MFLOP/token (dense layers + attention); FP32 peak {:.0} GFLOP/s ({})",
        flop / tokens as f64 / 1e6,
        peak.0,
        peak.1
    );

    let warm_up = |embedder: &Embedder| {
        let few = &texts[..8.min(texts.len())];
        embedder.embed_with_batch_size(few, 8).unwrap();
    };
    let mut runs: Vec<(Engine, usize, f64)> = Vec::new();
    let mut measure = |embedder: &Embedder, batch_size: usize| {
        let started = Instant::now();
        embedder.embed_with_batch_size(&texts, batch_size).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let engine = embedder.info().engine;
        let rate = texts.len() as f64 / seconds;
        eprintln!("{engine:?} batch {batch_size}: {rate:.1} texts/s");
        runs.push((engine, batch_size, seconds));
    };
    warm_up(&embedder);
    for &batch_size in &batch_sizes {
        measure(&embedder, batch_size);
    }
    if std::env::var("PAPERSCOUT_BENCH_CANDLE").as_deref() != Ok("0") {
        let candle = load(Engine::Candle);
        warm_up(&candle);
        measure(&candle, 1);
    }

    let pytorch = run_pytorch(
        root,
        &model_dir,
        &texts,
        &batch_sizes,
        threads,
        info.max_seq_length,
    );

    println!();
    println!(
        "| engine | batch | paperscout texts/s | tokens/s | GFLOP/s | % of peak | PyTorch texts/s | paperscout / PyTorch |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for &(engine, batch_size, seconds) in &runs {
        let per_s = texts.len() as f64 / seconds;
        let gflops = flop / seconds / 1e9;
        let (theirs, ratio) = match pytorch.as_ref().and_then(|p| p.get(&batch_size)) {
            Some(&t) => (format!("{t:.1}"), format!("{:.2}×", per_s / t)),
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {} | {batch_size} | {per_s:.1} | {:.0} | {gflops:.1} | {:.1} % | {theirs} | {ratio} |",
            format!("{engine:?}").to_lowercase(),
            tokens as f64 / seconds,
            100.0 * gflops / peak.0,
        );
    }
    if let Some(p) = &pytorch {
        let default_engine = embedder.info().engine;
        let (best_ours, best_theirs) = (
            runs.iter()
                .filter(|run| run.0 == default_engine)
                .map(|run| texts.len() as f64 / run.2)
                .fold(0.0, f64::max),
            p.values().copied().fold(0.0, f64::max),
        );
        println!(
            "\nbest against best (default engine): {best_ours:.1} vs {best_theirs:.1} texts/s = {:.2}× PyTorch",
            best_ours / best_theirs
        );
    } else {
        println!(
            "\nPyTorch not measured: no Python with torch and sentence-transformers \
             (run `make bench-venv`, or set PAPERSCOUT_BENCH_PYTHON)"
        );
    }
}

/// FLOPs that the texts need, counting only real tokens: the dense layers (2 FLOP per
/// multiply-add of Q, K, V, output, and the two feed-forward matrices) plus attention scores and
/// the weighted sum, which grow with each text's own length.
fn useful_flop(info: &ModelInfo, token_counts: &[usize]) -> f64 {
    let hidden = info.dim as f64;
    // MiniLM-L6 and BERT use 4 × hidden for the feed-forward layer.
    let intermediate = 4.0 * hidden;
    let layers = info.layers as f64;
    let dense_per_token = 2.0 * layers * (4.0 * hidden * hidden + 2.0 * hidden * intermediate);
    token_counts
        .iter()
        .map(|&n| {
            let n = n as f64;
            n * dense_per_token + 2.0 * layers * 2.0 * n * n * hidden
        })
        .sum()
}

/// The machine's FP32 peak in GFLOP/s and how it was found. Estimated as threads × clock ×
/// 32 FLOP/cycle (two 8-wide FMA pipes, as on Zen 4 and most AVX2 cores); override with
/// PAPERSCOUT_PEAK_GFLOPS where the machine differs.
fn peak_gflops(threads: usize) -> (f64, String) {
    if let Some(peak) = std::env::var("PAPERSCOUT_PEAK_GFLOPS")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        return (peak, "PAPERSCOUT_PEAK_GFLOPS".into());
    }
    let mhz = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(2600.0);
    (
        threads as f64 * mhz / 1000.0 * 32.0,
        format!(
            "estimate: {threads} cores × {:.2} GHz × 32 FLOP/cycle",
            mhz / 1000.0
        ),
    )
}

fn run_pytorch(
    root: &Path,
    model_dir: &Path,
    texts: &[String],
    batch_sizes: &[usize],
    threads: usize,
    max_seq_length: usize,
) -> Option<BTreeMap<usize, f64>> {
    let python = std::env::var_os("PAPERSCOUT_BENCH_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(root.join(".venv-bench/bin/python")).filter(|p| p.is_file()))?;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for text in texts {
        writeln!(file, "{}", serde_json::json!({ "text": text })).unwrap();
    }
    let sizes: Vec<String> = batch_sizes.iter().map(ToString::to_string).collect();
    let output = Command::new(&python)
        .arg(root.join("benches/embed_pytorch.py"))
        .arg("--model")
        .arg(model_dir)
        .arg("--texts")
        .arg(file.path())
        .args(["--batch-sizes", &sizes.join(",")])
        .args(["--threads", &threads.to_string()])
        .args(["--max-seq-length", &max_seq_length.to_string()])
        .env("HF_HUB_OFFLINE", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("the PyTorch run failed ({}); see above", output.status);
        return None;
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    println!(
        "PyTorch side: {} on {} threads",
        report["versions"], report["threads"]
    );
    let rates = report["texts_per_s"].as_object()?;
    Some(
        rates
            .iter()
            .filter_map(|(b, r)| Some((b.parse().ok()?, r.as_f64()?)))
            .collect(),
    )
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
