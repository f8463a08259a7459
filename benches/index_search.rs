//! The index side by side with hnswlib and faiss: build time, memory, recall@10 and
//! single-thread queries/s at ef 16, 32, 64, 128 and 256, against exact search, in one run.
//!
//! `make bench-index` (or `cargo bench --bench index_search`) indexes the peer's embeddings of
//! `../shared/data/arxiv-cs/` (all but the last 500 papers, which are the queries), optionally
//! grown with perturbed copies, with M = 16 and ef_construction = 200 on every core, and saves
//! it. A fresh process of this same binary then opens the saved index, as a daemon starts, and
//! answers k = 10 queries on one thread: the open's time and the resident memory it added are
//! what the table reports for paperscout. The same vectors, queries and exact answers (in
//! single precision, over the vectors as given) go to `benches/ann_peers.py`, which builds
//! hnswlib and faiss HNSW with the same M and ef_construction when the Python has them (`make
//! bench-venv` installs them), and one table compares all of them.
//!
//! Environment:
//! - `PAPERSCOUT_BENCH_VECTORS`: real papers to use (default all 54,002);
//! - `PAPERSCOUT_BENCH_PERTURBED`: perturbed copies to add (default 0; 946,498 makes the 1M
//!   set), each a real vector plus uniform noise of amplitude 0.1, back on the unit sphere;
//! - `PAPERSCOUT_BENCH_PYTHON`: the Python for the peers (default `.venv-bench/bin/python`,
//!   else `python3`); `PAPERSCOUT_BENCH_PEERS=0` leaves them out;
//! - `PAPERSCOUT_BENCH_M`, `PAPERSCOUT_BENCH_EFC`: M and ef_construction for every engine
//!   (default 16 and 200, paperscout's defaults);
//! - `PAPERSCOUT_BENCH_KEEP`: a folder to save the index in and keep (default a temporary
//!   one); `PAPERSCOUT_BENCH_OPEN=FOLDER` then runs only the opening and the searches again,
//!   printing them as JSON (the same queries' environment is needed).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use paperscout_index::{Expected, Filter, Hit, IndexParams, PaperIndex, dot, f16_rows};
use rayon::prelude::*;
use serde_json::{Value, json};

const DIM: usize = 384;
const QUERIES: usize = 500;
const K: usize = 10;
const EFS: [usize; 7] = [16, 32, 64, 96, 128, 192, 256];
/// Each ef's queries are timed this many times and the fastest kept, for every engine (as
/// ann-benchmarks does): one pass of 500 queries lasts a fraction of a second at 1M, and a
/// single pass read up to 1.3× apart between two runs on a shared machine.
const RUNS: usize = 3;
/// The recall the issue compares engines at.
const TARGET_RECALL: f64 = 0.96;
/// Set in the fresh process that opens the saved index: its folder.
const LOAD_ENV: &str = "PAPERSCOUT_BENCH_OPEN";
const MODEL: &str = "bench";

/// One engine's figures.
struct Engine {
    name: String,
    build_s: f64,
    memory_mib: f64,
    /// (ef, recall, queries/s)
    searches: Vec<(usize, f64, f64)>,
}

impl Engine {
    /// Queries/s at exactly the target recall: log(queries/s) interpolated linearly in
    /// recall between the two ef whose recalls bracket it (comparing at the first ef that
    /// reaches it would favour whichever engine lands just above).
    fn at_target(&self) -> Option<f64> {
        let searches = &self.searches;
        if let Some(first) = searches.first()
            && first.1 >= TARGET_RECALL
        {
            return Some(first.2);
        }
        searches.windows(2).find_map(|pair| {
            let ((_, r0, q0), (_, r1, q1)) = (pair[0], pair[1]);
            (r0 < TARGET_RECALL && r1 >= TARGET_RECALL).then(|| {
                let t = (TARGET_RECALL - r0) / (r1 - r0);
                (q0.ln() + t * (q1.ln() - q0.ln())).exp()
            })
        })
    }
}

/// The indexed vectors and the queries, the same in both processes.
struct Data {
    indexed: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    real: usize,
    perturbed: usize,
}

fn data() -> Option<Data> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/arxiv-cs/embeddings/all-MiniLM-L6-v2.f16");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!(
            "!!!!! {} is missing: no benchmark without the shared data !!!!!",
            path.display()
        );
        return None;
    };
    let available = bytes.len() / (DIM * 2);
    let count = env_or("PAPERSCOUT_BENCH_VECTORS", available).min(available);
    let perturbed = env_or("PAPERSCOUT_BENCH_PERTURBED", 0);
    let vectors = f16_rows(&bytes[..count * DIM * 2], DIM).unwrap();
    let (real, queries) = vectors.split_at(count - QUERIES);
    let mut indexed: Vec<Vec<f32>> = real.to_vec();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for i in 0..perturbed {
        indexed.push(noise.perturb(&real[i % real.len()], 0.1));
    }
    Some(Data {
        indexed,
        queries: queries.to_vec(),
        real: real.len(),
        perturbed,
    })
}

fn params() -> IndexParams {
    let mut params = IndexParams::default();
    params.ef_construction = env_or("PAPERSCOUT_BENCH_EFC", params.ef_construction);
    params.max_connections = env_or("PAPERSCOUT_BENCH_M", params.max_connections);
    params
}

fn main() {
    if let Some(dir) = std::env::var_os(LOAD_ENV) {
        open_and_search(Path::new(&dir));
        return;
    }
    let Some(Data {
        indexed,
        queries,
        real,
        perturbed,
    }) = data()
    else {
        return;
    };
    let ids: Vec<String> = (0..indexed.len()).map(|i| i.to_string()).collect();
    let params = params();

    let before = rss_mib();
    let started = Instant::now();
    let mut index = PaperIndex::new(DIM, params, indexed.len());
    let batch: Vec<(&str, &[f32])> = ids
        .iter()
        .zip(&indexed)
        .map(|(id, v)| (id.as_str(), v.as_slice()))
        .collect();
    // As `paperscout` builds it: 300 papers held back, searched for to choose ef, then added.
    let (_, calibration) = index.upsert_and_calibrate(&batch, 0.97, 300, K).unwrap();
    let insert_s = started.elapsed().as_secs_f64();
    // A calibration leaves the flat copy taken; without one it is taken here.
    if !index.is_optimised() {
        index.optimise();
    }
    let build_s = started.elapsed().as_secs_f64();
    let built_mib = rss_mib() - before;
    let peak_mib = peak_rss_mib() - before;
    let built = index.memory();
    drop(batch);

    let temporary = tempfile::tempdir().unwrap();
    let folder = std::env::var_os("PAPERSCOUT_BENCH_KEEP")
        .map_or_else(|| temporary.path().to_path_buf(), PathBuf::from);
    let started = Instant::now();
    let saved = index.save(&folder, MODEL).unwrap();
    let save_s = started.elapsed().as_secs_f64();
    index.saved(saved);
    let served = index.memory();
    drop(index);

    // The truth: exact search in single precision over the vectors as given, every core.
    let started = Instant::now();
    let truth = exact_truth(&indexed, &queries);
    let exact_qps =
        QUERIES as f64 / started.elapsed().as_secs_f64() * rayon::current_num_threads() as f64;
    let truth_ids: Vec<Vec<String>> = truth
        .iter()
        .map(|hits| hits.iter().map(|h| h.id.clone()).collect())
        .collect();
    std::fs::write(
        folder.join("truth.json"),
        serde_json::to_vec(&truth_ids).unwrap(),
    )
    .unwrap();
    let opened = open_in_fresh_process(&folder);

    println!(
        "index benchmark: {} vectors ({real} real all-MiniLM-L6-v2 + {perturbed} perturbed), \
         {QUERIES} held-out real queries, k = {K}, M = {}, ef_construction = {}, built on {} \
         threads, queries on 1 thread",
        indexed.len(),
        params.max_connections,
        params.ef_construction,
        rayon::current_num_threads(),
    );
    println!(
        "paperscout: inserts and calibration (with its flat search copies) {insert_s:.1} s, \
         flat search copy after {:.1} s, saved in {save_s:.1} s; exact search (single \
         precision, the truth) {exact_qps:.0} queries/s a thread\n",
        build_s - insert_s
    );
    let per_paper = |mib: f64| mib * 1_048_576.0 / built.points.max(1) as f64;
    println!(
        "while building: resident memory grew {built_mib:.0} MiB ({:.0} B a paper), peak \
         {peak_mib:.0} MiB; {}",
        per_paper(built_mib),
        built.text()
    );
    println!("saved, hnsw_rs's graph let go: {}", served.text());
    println!(
        "opened in a fresh process (a daemon's start): {:.2} s, resident memory {:.0} MiB \
         ({:.0} B a paper); {}",
        opened.load_s,
        opened.memory_mib,
        per_paper(opened.memory_mib),
        opened.parts
    );
    println!(
        "peak while building / the opened index's memory: {:.2}×\n",
        peak_mib / opened.memory_mib.max(f64::MIN_POSITIVE)
    );
    if let Some(c) = calibration {
        println!(
            "paperscout's own ef, chosen while building for recall@{} {} on {} papers held back \
             until then (included in the build time): ef {}, measured {:.3} there; on the \
             held-out queries recall {:.3} at {:.0} queries/s\n",
            c.k, c.target, c.queries, c.ef, c.recall, opened.calibrated.0, opened.calibrated.1
        );
    }
    let ours = Engine {
        name: "paperscout (opened: coded rows + flat graph)".into(),
        build_s,
        memory_mib: opened.memory_mib,
        searches: opened.searches,
    };
    let mut engines = vec![ours];
    engines.extend(peers(&indexed, &queries, &truth, params));
    print_table(&engines, exact_qps);
}

/// What the fresh process measured.
struct Opened {
    load_s: f64,
    memory_mib: f64,
    parts: String,
    searches: Vec<(usize, f64, f64)>,
    /// Recall and queries/s at the ef chosen while building.
    calibrated: (f64, f64),
}

fn open_in_fresh_process(dir: &Path) -> Opened {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(LOAD_ENV, dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the process opening the index failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    Opened {
        load_s: v["load_s"].as_f64().unwrap(),
        memory_mib: v["memory_mib"].as_f64().unwrap(),
        parts: v["parts"].as_str().unwrap().trim().to_owned(),
        searches: v["searches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s[0].as_u64().unwrap() as usize,
                    s[1].as_f64().unwrap(),
                    s[2].as_f64().unwrap(),
                )
            })
            .collect(),
        calibrated: (
            v["calibrated"][0].as_f64().unwrap_or(0.0),
            v["calibrated"][1].as_f64().unwrap_or(0.0),
        ),
    }
}

/// The fresh process: opens the saved index in `dir`, measures what that took, and searches
/// it at every ef; prints JSON for the parent.
fn open_and_search(dir: &Path) {
    // Opened first, so that no memory the process freed before can hide what it takes.
    let before = rss_mib();
    let started = Instant::now();
    let expected = Expected {
        model: MODEL,
        dim: DIM,
        params: params(),
    };
    let mut index = PaperIndex::load(dir, &expected).unwrap();
    let load_s = started.elapsed().as_secs_f64();
    let memory_mib = rss_mib() - before;
    let Some(Data { queries, .. }) = data() else {
        return;
    };
    let truth: Vec<Vec<String>> =
        serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let parts = index.memory().text();
    let no_filter = Filter::default();
    // (recall, queries/s) of the queries at the index's ef now.
    let measure = |index: &PaperIndex| {
        let mut fastest = f64::INFINITY;
        let mut found = Vec::new();
        for _ in 0..RUNS {
            let (answers, seconds) = timed_single_thread(|| {
                queries
                    .iter()
                    .map(|q| index.search(q, K, &no_filter).unwrap())
                    .collect::<Vec<_>>()
            });
            fastest = fastest.min(seconds);
            found = answers;
        }
        (recall(&found, &truth), QUERIES as f64 / fastest)
    };
    let mut searches = Vec::new();
    for ef in EFS {
        index.set_ef_search(ef);
        let (recall, qps) = measure(&index);
        searches.push((ef, recall, qps));
    }
    let calibrated = index.calibration().map(|c| {
        index.apply_calibration(c);
        measure(&index)
    });
    let report = json!({
        "load_s": load_s,
        "memory_mib": memory_mib,
        "parts": parts,
        "searches": searches,
        "calibrated": calibrated,
    });
    println!("{report}");
}

/// The `K` nearest of each query among `indexed` by the inner product in single precision.
fn exact_truth(indexed: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<Vec<Hit>> {
    queries
        .par_iter()
        .map(|query| {
            let mut best: Vec<(f32, usize)> = Vec::with_capacity(K + 1);
            for (i, row) in indexed.iter().enumerate() {
                let score = dot(query, row);
                if best.len() < K || score > best[K - 1].0 {
                    let at = best.partition_point(|(s, _)| *s >= score);
                    best.insert(at, (score, i));
                    best.truncate(K);
                }
            }
            best.into_iter()
                .map(|(score, i)| Hit {
                    id: i.to_string(),
                    score,
                })
                .collect()
        })
        .collect()
}

/// hnswlib and faiss on the same vectors, through `benches/ann_peers.py`.
fn peers(
    indexed: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<Hit>],
    params: IndexParams,
) -> Vec<Engine> {
    if std::env::var("PAPERSCOUT_BENCH_PEERS").is_ok_and(|v| v == "0") {
        return Vec::new();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("PAPERSCOUT_BENCH_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let venv = root.join(".venv-bench/bin/python");
            venv.is_file().then_some(venv)
        })
        .unwrap_or_else(|| PathBuf::from("python3"));
    let folder = tempfile::tempdir().unwrap();
    write_f32(&folder.path().join("base.f32"), indexed);
    write_f32(&folder.path().join("queries.f32"), queries);
    let mut truth_bytes = Vec::with_capacity(truth.len() * K * 4);
    for hits in truth {
        for hit in hits {
            truth_bytes.extend_from_slice(&hit.id.parse::<i32>().unwrap().to_le_bytes());
        }
    }
    std::fs::write(folder.path().join("truth.i32"), truth_bytes).unwrap();
    let output = Command::new(&python)
        .arg(root.join("benches/ann_peers.py"))
        .arg(folder.path())
        .args(["--k", &K.to_string()])
        .args(["--m", &params.max_connections.to_string()])
        .args(["--ef-construction", &params.ef_construction.to_string()])
        .args(["--threads", &rayon::current_num_threads().to_string()])
        .args(["--runs", &RUNS.to_string()])
        .arg("--ef")
        .args(EFS.map(|ef| ef.to_string()))
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            eprintln!(
                "!!!!! the peers did not run with {} ({}); `make bench-venv` installs numpy, hnswlib and faiss-cpu !!!!!",
                python.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return Vec::new();
        }
        Err(err) => {
            eprintln!(
                "!!!!! no Python for the peers ({}: {err}) !!!!!",
                python.display()
            );
            return Vec::new();
        }
    };
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut engines = Vec::new();
    for name in ["hnswlib", "faiss"] {
        let result = &results[name];
        if let Some(missing) = result["missing"].as_str() {
            eprintln!("!!!!! {name} is not installed ({missing}): left out !!!!!");
            continue;
        }
        let label = if name == "faiss" {
            format!(
                "faiss HNSWFlat {}",
                result["version"].as_str().unwrap_or("?")
            )
        } else {
            format!("hnswlib {}", result["version"].as_str().unwrap_or("?"))
        };
        engines.push(Engine {
            name: label,
            build_s: result["build_s"].as_f64().unwrap(),
            memory_mib: result["memory_mib"].as_f64().unwrap(),
            searches: result["searches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["ef"].as_u64().unwrap() as usize,
                        s["recall"].as_f64().unwrap(),
                        s["qps"].as_f64().unwrap(),
                    )
                })
                .collect(),
        });
    }
    engines
}

fn print_table(engines: &[Engine], exact_qps: f64) {
    print!("| engine | build s | memory MiB |");
    for ef in EFS {
        print!(" ef {ef}: recall / q/s |");
    }
    println!(" q/s at recall {TARGET_RECALL} |");
    print!("|---|---:|---:|");
    for _ in EFS {
        print!("---|");
    }
    println!("---|");
    print!("| exact search | – | – |");
    for _ in EFS {
        print!(" 1.000 / {exact_qps:.0} |");
    }
    println!(" {exact_qps:.0} |");
    for engine in engines {
        print!(
            "| {} | {:.1} | {:.0} |",
            engine.name, engine.build_s, engine.memory_mib
        );
        for (_, recall, qps) in &engine.searches {
            print!(" {recall:.3} / {qps:.0} |");
        }
        match engine.at_target() {
            Some(qps) => println!(" {qps:.0} |"),
            None => println!(" not reached |"),
        }
    }
    let Some(baseline) = engines.iter().find(|e| e.name.starts_with("hnswlib")) else {
        return;
    };
    println!(
        "\nratios to {} (higher is better for q/s, lower for build and memory):\n",
        baseline.name
    );
    print!("| engine | build | memory |");
    for ef in EFS {
        print!(" q/s ef {ef} |");
    }
    println!(" q/s at recall {TARGET_RECALL} |");
    print!("|---|---:|---:|");
    for _ in EFS {
        print!("---:|");
    }
    println!("---:|");
    for engine in engines.iter().filter(|e| e.name != baseline.name) {
        print!(
            "| {} | {:.2}× | {:.2}× |",
            engine.name,
            engine.build_s / baseline.build_s,
            engine.memory_mib / baseline.memory_mib.max(f64::MIN_POSITIVE)
        );
        for ((_, _, qps), (_, _, base)) in engine.searches.iter().zip(&baseline.searches) {
            print!(" {:.2}× |", qps / base);
        }
        match (engine.at_target(), baseline.at_target()) {
            (Some(a), Some(b)) => println!(" {:.2}× |", a / b),
            _ => println!(" – |"),
        }
    }
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for row in rows {
        for x in row {
            out.write_all(&x.to_le_bytes()).unwrap();
        }
    }
    out.flush().unwrap();
}

/// A number from the environment, or the default.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's resident memory now, in MiB.
fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// The most resident memory this process has had, in MiB.
fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A small deterministic generator, so every run perturbs the same way.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    /// `base` plus uniform noise of the given amplitude, back on the unit sphere.
    fn perturb(&mut self, base: &[f32], amplitude: f32) -> Vec<f32> {
        let mut v: Vec<f32> = base.iter().map(|x| x + amplitude * self.next()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

/// Runs `work` on a one-thread pool (the exact search would otherwise use every core).
fn timed_single_thread<T: Send>(work: impl FnOnce() -> T + Send) -> (T, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        let started = Instant::now();
        let result = work();
        (result, started.elapsed().as_secs_f64())
    })
}

fn recall(found: &[Vec<Hit>], truth: &[Vec<String>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let t: HashSet<&str> = t.iter().map(String::as_str).collect();
            f.iter().filter(|h| t.contains(h.id.as_str())).count()
        })
        .sum();
    hits as f64 / (found.len() * K) as f64
}
