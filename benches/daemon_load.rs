//! A load generator on the daemon's socket: `similar` by id and by free text against the
//! 54,002-paper shared corpus, at 1, 8 and 64 concurrent clients, reporting queries/s and
//! p50/p99 latency. Free text is run twice, with the model worker batching concurrent
//! requests (the default) and with batching off (`--model-batch 1`), as the baseline.
//!
//! `make bench-daemon` (or `cargo bench --bench daemon_load`). The first run builds a store in
//! `target/bench-daemon/` from `../shared/data/arxiv-cs/papers.jsonl.gz` with the peer's
//! vectors of the same model (`embeddings/all-MiniLM-L6-v2.f16`) stored under paperscout's
//! model key, so that no hour is spent embedding; the daemon then builds and saves its index.
//! Later runs reuse both.
//!
//! Environment: `PAPERSCOUT_BENCH_SECONDS` (seconds per row, default 4).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;

use paperscout_index::f16_rows;
use paperscout_store::{ModelKey, SqliteStore, Store};
use serde_json::{Value, json};

#[path = "common/load.rs"]
mod load;
#[path = "common/vectors.rs"]
mod vectors;

use load::{Conn, Daemon, Latencies, healthy, run_clients};
use vectors::store_peer_vectors;

const DIM: usize = 384;

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paperscout"));
    command
        .env_remove("PAPERSCOUT_SOCKET")
        .env_remove("XDG_RUNTIME_DIR");
    command
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some((papers_file, vectors_file)) = vectors::corpus_files() else {
        return;
    };
    let seconds: f64 = std::env::var("PAPERSCOUT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let data_dir = root.join("target/bench-daemon/data");
    let ids = prepare_store(&data_dir, &papers_file, &vectors_file);
    let socket = root.join("target/bench-daemon/paperscout.sock");

    println!("| query | batching | clients | queries | q/s | p50 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let daemon = start(&data_dir, &socket, &[]);
    // Spread over the corpus; the load cycles through them.
    let by_id: Vec<Value> = ids
        .iter()
        .step_by(27)
        .map(|id| json!({"op": "similar", "query": id, "k": 10}))
        .collect();
    let titles = titles(&socket, &ids);
    let by_text: Vec<Value> = titles
        .iter()
        .map(|t| json!({"op": "similar", "query": t, "by": "text", "k": 10}))
        .collect();
    for clients in [1, 8, 64] {
        print(
            &run(&socket, &by_id, clients, seconds),
            "by id",
            "-",
            clients,
        );
    }
    let mut batched = Vec::new();
    for clients in [1, 8, 64] {
        let row = run(&socket, &by_text, clients, seconds * 2.0);
        print(&row, "free text", "on", clients);
        batched.push(row.per_second());
    }
    drop(daemon);
    let daemon = start(&data_dir, &socket, &["--model-batch", "1"]);
    let mut single = Vec::new();
    for clients in [1, 8, 64] {
        let row = run(&socket, &by_text, clients, seconds * 2.0);
        print(&row, "free text", "off", clients);
        single.push(row.per_second());
    }
    drop(daemon);
    println!();
    for (n, clients) in [1, 8, 64].iter().enumerate() {
        println!(
            "free text at {clients} clients: batching gives {:.2}x the queries/s of one at a time",
            batched[n] / single[n]
        );
    }
}

/// The store with every paper and the peer's vector for each under paperscout's model key;
/// returns the paper ids in file order.
fn prepare_store(data_dir: &Path, papers: &Path, vectors: &Path) -> Vec<String> {
    let store_path = paperscout_store::file_in(data_dir);
    let output = bin()
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--quiet",
            "ingest",
            "--no-embed",
        ])
        .arg(papers)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info = bin().args(["model", "info", "--json"]).output().unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let key = ModelKey {
        name: info["name"].as_str().unwrap().to_owned(),
        sha256: info["sha256"].as_str().unwrap().to_owned(),
        dim: DIM,
    };
    let ids: Vec<String> = BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(papers).unwrap(),
    ))
    .lines()
    .map(|line| {
        serde_json::from_str::<Value>(&line.unwrap()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    })
    .collect();
    let mut store = SqliteStore::open(&store_path).unwrap();
    let stored = store.stats().unwrap();
    let have = stored
        .models
        .iter()
        .find(|m| m.sha256 == key.sha256)
        .map_or(0, |m| m.count);
    if have as usize >= ids.len() {
        return ids;
    }
    eprintln!(
        "storing the peer's vectors of {} papers under {}",
        ids.len(),
        key.name
    );
    let bytes = std::fs::read(vectors).unwrap();
    let rows = f16_rows(&bytes, DIM).unwrap();
    assert_eq!(rows.len(), ids.len(), "one vector per paper");
    store_peer_vectors(&mut store, &key, &ids, &rows);
    ids
}

/// Starts a daemon on the store, waiting until it answers.
fn start(data_dir: &Path, socket: &Path, extra: &[&str]) -> Daemon {
    let mut command = bin();
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--socket")
        .arg(socket)
        .args(["serve", "--foreground"])
        .args(extra);
    Daemon::start(command, &data_dir.join("../daemon.log"), || healthy(socket))
}

/// Titles of 500 papers spread over the corpus, as free-text queries.
fn titles(socket: &Path, ids: &[String]) -> Vec<String> {
    let mut conn = Conn::connect(socket).unwrap();
    ids.iter()
        .step_by(ids.len() / 500)
        .take(500)
        .map(|id| {
            let answer = conn.ask(&json!({"op": "similar", "query": id, "k": 1}));
            answer["result"]["query"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn print(row: &Latencies, query: &str, batching: &str, clients: usize) {
    println!("{}", row.row(&format!("{query} | {batching} | {clients}")));
}

/// `clients` threads, each on its own connection, asking one request after another for
/// `seconds`.
fn run(socket: &Path, requests: &[Value], clients: usize, seconds: f64) -> Latencies {
    let lines: Vec<String> = requests.iter().map(|r| format!("{r}\n")).collect();
    run_clients(clients, seconds, |_| {
        let mut conn = Conn::connect(socket).unwrap();
        let lines = &lines;
        move |n| {
            conn.send(&lines[n % lines.len()])
                .starts_with("{\"v\":1,\"ok\":true")
        }
    })
}
