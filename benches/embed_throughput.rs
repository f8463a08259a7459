//! Embedding throughput: paperscout in each precision against sentence-transformers on PyTorch
//! and against ONNX Runtime's int8 model, same texts, same machine, same run.
//!
//! `make bench-embed` (or `cargo bench --bench embed_throughput`) embeds the first 1,000 papers
//! of `../shared/data/arxiv-cs/sample-2k.jsonl` at batch sizes 1, 16 and 64 with the fused
//! engine in FP32, bf16 and int8 (those this CPU runs), and prints texts/s, tokens/s, the
//! arithmetic rate and its share of the machine's FP32 peak. When a Python with torch and
//! sentence-transformers is found (`PAPERSCOUT_BENCH_PYTHON`, else `.venv-bench/bin/python`; see
//! `make bench-venv`), it runs `benches/embed_pytorch.py` on the same texts with as many
//! threads, and `benches/embed_onnx.py` (the model exported to ONNX and quantised to int8 by
//! ONNX Runtime's dynamic quantiser, kept in `target/bench-onnx`), and prints the ratios.
//!
//! Candle's BERT, the reference engine, is measured at batch size 1 (its best) as the
//! in-process baseline.
//!
//! Environment: `PAPERSCOUT_BENCH_TEXTS` (default 1000), `PAPERSCOUT_BENCH_BATCHES` (default
//! `1,16,64`), `PAPERSCOUT_BENCH_PRECISIONS` (default `fp32,bf16,int8`),
//! `PAPERSCOUT_BENCH_CANDLE=0` (skip the Candle baseline), `PAPERSCOUT_BENCH_ONNX=0` (skip ONNX
//! Runtime), `PAPERSCOUT_PEAK_GFLOPS` (override the estimated peak), `RAYON_NUM_THREADS`.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use paperscout_embed::{EmbedError, Embedder, EmbedderOptions, Engine, ModelInfo, Precision};
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
    let precisions: Vec<Precision> = std::env::var("PAPERSCOUT_BENCH_PRECISIONS")
        .unwrap_or_else(|_| "fp32,bf16,int8".into())
        .split(',')
        .map(|p| p.parse().expect("precisions are fp32, bf16 or int8"))
        .collect();
    // `None` where this CPU does not run the precision.
    let load = |engine, precision| {
        let options = EmbedderOptions {
            engine,
            precision,
            ..EmbedderOptions::default()
        };
        match Embedder::load(&model_dir, &options) {
            Ok(embedder) => Some(embedder),
            Err(EmbedError::PrecisionUnsupported { why, .. }) => {
                eprintln!("{precision} not measured: {why}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    };
    let embedder = load(Engine::Auto, Precision::Fp32).unwrap();
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
    let mut runs: Vec<Run> = Vec::new();
    let mut measure = |embedder: &Embedder, batch_size: usize| {
        let started = Instant::now();
        embedder.embed_with_batch_size(&texts, batch_size).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let (engine, precision) = (embedder.info().engine, embedder.info().precision);
        let rate = texts.len() as f64 / seconds;
        eprintln!("{engine:?} {precision} batch {batch_size}: {rate:.1} texts/s");
        runs.push(Run {
            engine,
            precision,
            batch_size,
            seconds,
        });
    };
    for &precision in &precisions {
        let reduced = if precision == Precision::Fp32 {
            None
        } else {
            load(Engine::Fused, precision)
        };
        let Some(embedder) = reduced
            .as_ref()
            .or((precision == Precision::Fp32).then_some(&embedder))
        else {
            continue;
        };
        warm_up(embedder);
        for &batch_size in &batch_sizes {
            measure(embedder, batch_size);
        }
    }
    if std::env::var("PAPERSCOUT_BENCH_CANDLE").as_deref() != Ok("0") {
        let candle = load(Engine::Candle, Precision::Fp32).unwrap();
        warm_up(&candle);
        measure(&candle, 1);
    }

    let texts_file = texts_file(&texts);
    let python = python(root);
    let sizes: Vec<String> = batch_sizes.iter().map(ToString::to_string).collect();
    let common_args = |script: &str| -> Vec<std::ffi::OsString> {
        vec![
            root.join("benches").join(script).into(),
            "--model".into(),
            model_dir.clone().into(),
            "--texts".into(),
            texts_file.path().into(),
            "--batch-sizes".into(),
            sizes.join(",").into(),
            "--threads".into(),
            threads.to_string().into(),
            "--max-seq-length".into(),
            info.max_seq_length.to_string().into(),
        ]
    };
    let pytorch = python.as_ref().and_then(|python| {
        let report = run_python(python, &common_args("embed_pytorch.py"))?;
        println!(
            "PyTorch side: {} on {} threads",
            report["versions"], report["threads"]
        );
        rates(&report["texts_per_s"])
    });
    let onnx = python
        .as_ref()
        .filter(|_| std::env::var("PAPERSCOUT_BENCH_ONNX").as_deref() != Ok("0"))
        .and_then(|python| {
            let mut args = common_args("embed_onnx.py");
            args.extend([
                "--cache".into(),
                root.join("target/bench-onnx").into_os_string(),
                "--precisions".into(),
                "int8".into(),
            ]);
            let report = run_python(python, &args)?;
            println!(
                "ONNX Runtime side: {} on {} threads, dynamic int8 (lowest cosine of its vectors \
                 to its own FP32 export's: {:.4})",
                report["versions"],
                report["threads"],
                report["lowest_cosine_to_fp32"]["int8"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            );
            rates(&report["texts_per_s"]["int8"])
        });

    println!();
    println!(
        "| engine | precision | batch | paperscout texts/s | tokens/s | GFLOP/s | % of FP32 peak | \
         PyTorch texts/s | / PyTorch | ORT int8 texts/s | / ORT int8 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let against = |theirs: Option<&BTreeMap<usize, f64>>, batch_size: usize, ours: f64| match theirs
        .and_then(|t| t.get(&batch_size))
    {
        Some(&t) => (format!("{t:.1}"), format!("{:.2}×", ours / t)),
        None => ("–".into(), "–".into()),
    };
    for run in &runs {
        let per_s = texts.len() as f64 / run.seconds;
        let gflops = flop / run.seconds / 1e9;
        let (torch, torch_ratio) = against(pytorch.as_ref(), run.batch_size, per_s);
        let (ort, ort_ratio) = against(onnx.as_ref(), run.batch_size, per_s);
        println!(
            "| {} | {} | {} | {per_s:.1} | {:.0} | {gflops:.1} | {:.1} % | {torch} | {torch_ratio} | {ort} | {ort_ratio} |",
            format!("{:?}", run.engine).to_lowercase(),
            run.precision,
            run.batch_size,
            texts.len() as f64 / run.seconds * tokens as f64 / texts.len() as f64,
            100.0 * gflops / peak.0,
        );
    }
    println!();
    let best = |rates: Option<&BTreeMap<usize, f64>>| {
        rates.map(|r| r.values().copied().fold(0.0, f64::max))
    };
    let (best_torch, best_ort) = (best(pytorch.as_ref()), best(onnx.as_ref()));
    for &precision in &precisions {
        let ours = runs
            .iter()
            .filter(|run| run.engine == Engine::Fused && run.precision == precision)
            .map(|run| texts.len() as f64 / run.seconds)
            .fold(0.0, f64::max);
        if ours == 0.0 {
            continue;
        }
        let ratio = |theirs: Option<f64>, name: &str| match theirs {
            Some(t) => format!("{:.2}× {name}'s best ({t:.1})", ours / t),
            None => format!("{name} not measured"),
        };
        println!(
            "best {precision}: {ours:.1} texts/s = {}, {}",
            ratio(best_torch, "PyTorch"),
            ratio(best_ort, "ONNX Runtime int8")
        );
    }
    if python.is_none() {
        println!(
            "PyTorch and ONNX Runtime not measured: no Python with torch, sentence-transformers \
             and onnxruntime (run `make bench-venv`, or set PAPERSCOUT_BENCH_PYTHON)"
        );
    }
}

/// One measured configuration.
struct Run {
    engine: Engine,
    precision: Precision,
    batch_size: usize,
    seconds: f64,
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

/// The benchmark Python: `PAPERSCOUT_BENCH_PYTHON`, else `.venv-bench/bin/python`.
fn python(root: &Path) -> Option<PathBuf> {
    std::env::var_os("PAPERSCOUT_BENCH_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(root.join(".venv-bench/bin/python")).filter(|p| p.is_file()))
}

/// The texts as the Python sides read them: JSON lines of `{"text": ...}`.
fn texts_file(texts: &[String]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for text in texts {
        writeln!(file, "{}", serde_json::json!({ "text": text })).unwrap();
    }
    file
}

/// Runs a Python side and reads the JSON object it prints.
fn run_python(python: &Path, args: &[std::ffi::OsString]) -> Option<serde_json::Value> {
    let output = Command::new(python)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("{:?} failed ({}); see above", args.first(), output.status);
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// `{"1": rate, "16": rate, ...}` as batch size → texts/s.
fn rates(report: &serde_json::Value) -> Option<BTreeMap<usize, f64>> {
    Some(
        report
            .as_object()?
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
