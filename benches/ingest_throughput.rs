//! Ingest throughput and memory: the real binary on the shared arXiv data, against the
//! embedder's own throughput on the same papers, in one run.
//!
//! `make bench-ingest` (or `cargo bench --bench ingest_throughput`) runs, each into a fresh
//! data directory:
//! 1. `paperscout ingest papers.jsonl.gz --no-embed` (54,002 papers): papers/s and peak RSS;
//! 2. the same again into the filled store (every paper unchanged): papers/s;
//! 3. `paperscout ingest` of the first N papers with embedding (N = `PAPERSCOUT_BENCH_EMBED`,
//!    default 5000): papers/s, and the share of the time spent in the model;
//! 4. `paperscout embed` of the same N papers to a file: the embedder's own throughput.
//!
//! The ratio of 3 to 4 is what the store costs the embedding path. Peak RSS is the child's
//! high-water mark (`VmHWM`), sampled every 10 ms until it exits.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    seconds: f64,
    peak_rss_mib: f64,
    stdout: String,
}

fn run(args: &[&str], data_dir: &Path) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paperscout"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|line| line.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "paperscout {args:?} failed");
    Run {
        seconds,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        stdout,
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/data/arxiv-cs/papers.jsonl.gz");
    if !corpus.is_file() {
        eprintln!(
            "!!!!! {} is missing: no benchmark without the shared data !!!!!",
            corpus.display()
        );
        return;
    }
    let embed_count: usize = std::env::var("PAPERSCOUT_BENCH_EMBED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5000);
    let work = tempfile::tempdir().unwrap();
    let corpus_arg = corpus.to_str().unwrap();

    let bulk_dir = work.path().join("bulk");
    let bulk = run(&["ingest", "--no-embed", "--json", corpus_arg], &bulk_dir);
    let papers = read_count(&bulk.stdout);
    let again = run(&["ingest", "--no-embed", "--json", corpus_arg], &bulk_dir);
    let store_mib = std::fs::metadata(bulk_dir.join("paperscout.sqlite3"))
        .map_or(0.0, |m| m.len() as f64 / 1048576.0);

    let head = first_papers(&corpus, embed_count, work.path());
    let head_arg = head.to_str().unwrap();
    let embedded = run(
        &["ingest", "--json", head_arg],
        &work.path().join("embedded"),
    );
    let report: serde_json::Value = serde_json::from_str(&embedded.stdout).unwrap();
    let model_share = report["total"]["embed_seconds"].as_f64().unwrap() / embedded.seconds;
    let vectors = work.path().join("vectors.f32");
    let alone = run(
        &[
            "embed",
            head_arg,
            "--format",
            "f32",
            "--out",
            vectors.to_str().unwrap(),
        ],
        &work.path().join("alone"),
    );

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\ningest of {} (store {store_mib:.0} MiB after)\n",
        corpus.display()
    )
    .unwrap();
    writeln!(out, "| run | papers | wall s | papers/s | peak RSS MiB |").unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|").unwrap();
    for (name, count, run) in [
        ("ingest --no-embed, new store", papers, &bulk),
        ("ingest --no-embed, all unchanged", papers, &again),
        ("ingest with embedding", embed_count, &embedded),
        ("embed alone (baseline)", embed_count, &alone),
    ] {
        writeln!(
            out,
            "| {name} | {count} | {:.1} | {:.0} | {:.0} |",
            run.seconds,
            count as f64 / run.seconds,
            run.peak_rss_mib
        )
        .unwrap();
    }
    writeln!(
        out,
        "\ningest with embedding runs at {:.3}x the embedder alone; {:.0}% of its time is in the model",
        alone.seconds / embedded.seconds,
        100.0 * model_share
    )
    .unwrap();
}

fn read_count(json: &str) -> usize {
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    report["total"]["read"].as_u64().unwrap() as usize
}

/// The first `count` papers of the gzipped corpus, as a plain JSONL file.
fn first_papers(corpus: &Path, count: usize, dir: &Path) -> PathBuf {
    let decoder = flate2::read::MultiGzDecoder::new(std::fs::File::open(corpus).unwrap());
    let path = dir.join(format!("first-{count}.jsonl"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for line in BufReader::new(decoder).lines().take(count) {
        writeln!(file, "{}", line.unwrap()).unwrap();
    }
    file.flush().unwrap();
    path
}
