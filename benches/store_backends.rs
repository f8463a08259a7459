//! The store on SQLite against the store on PostgreSQL, in one run on one machine: ingest
//! (`--no-embed`) papers/s, storing the vectors, 10,000 users' digests (`rerank` of one day's
//! 1,500 papers, the hybrid ranking) and a 100,000-user re-rank (20,000 candidates, centroid),
//! each through the real command line on both stores; then `similar` by id, 8 clients, on a
//! daemon over SQLite, one over PostgreSQL, and two daemons over the same database.
//!
//! `make bench-store` (or `cargo bench --bench store_backends`). PostgreSQL is a server of the
//! run's own (`paperscout_store::testing`), with `fsync` off as in the tests: the figures are
//! of the protocol and the queries, not of a disk. The users (and their profile papers, drawn
//! from the papers before the candidates) are written straight into each store's tables, and
//! PostgreSQL's statistics gathered (`VACUUM ANALYZE`) before anything else is timed.
//!
//! Environment: `PAPERSCOUT_BENCH_USERS` (default 100000), `PAPERSCOUT_BENCH_DIGEST_USERS`
//! (10000), `PAPERSCOUT_BENCH_SECONDS` (seconds per `similar` row, default 5).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use paperscout_index::f16_rows;
use paperscout_store::testing::TestPostgres;
use paperscout_store::{ModelKey, PostgresStore, SqliteStore, Store};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use serde_json::{Value, json};

#[expect(
    dead_code,
    reason = "the corpus and memory helpers are the ranking benchmarks'"
)]
mod common;
#[path = "common/draws.rs"]
mod draws;
#[path = "common/load.rs"]
mod load;
#[path = "common/vectors.rs"]
mod vectors;

use common::{DIM, env_or};
use load::{Conn, Daemon, Latencies, healthy, run_clients};
use vectors::store_peer_vectors;

/// Where each store lives, as the command line is told.
#[derive(Clone)]
enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }

    /// The binary on this store, with `data_dir` for what lives beside it (the index).
    fn command(&self, data_dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paperscout"));
        command
            .env_remove("PAPERSCOUT_SOCKET")
            .env_remove("PAPERSCOUT_STORE_URL")
            .env_remove("XDG_RUNTIME_DIR")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--quiet");
        if let Self::Postgres(url) = self {
            command.arg("--store-url").arg(url);
        }
        command
    }

    fn open(&self) -> Box<dyn Store> {
        match self {
            Self::Sqlite(dir) => {
                Box::new(SqliteStore::open(&paperscout_store::file_in(dir)).unwrap())
            }
            Self::Postgres(url) => Box::new(PostgresStore::open(url).unwrap()),
        }
    }
}

fn run(mut command: Command) -> f64 {
    let started = Instant::now();
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some((papers_file, vectors_file)) = vectors::corpus_files() else {
        return;
    };
    let Some(server) = TestPostgres::start() else {
        eprintln!("!!!!! PostgreSQL is not installed: no benchmark !!!!!");
        return;
    };
    let users = env_or("PAPERSCOUT_BENCH_USERS", 100_000);
    let digest_users = env_or("PAPERSCOUT_BENCH_DIGEST_USERS", 10_000).min(users);
    let seconds = env_or("PAPERSCOUT_BENCH_SECONDS", 5) as f64;
    let work = tempfile::Builder::new()
        .prefix("paperscout-bench-store-")
        .tempdir_in(root.join("target"))
        .unwrap();
    let backends = [
        (
            Backend::Sqlite(work.path().join("sqlite")),
            work.path().join("sqlite"),
        ),
        (
            Backend::Postgres(server.new_database()),
            work.path().join("pg-a"),
        ),
    ];
    let (ids, dates) = read_ids_and_dates(&papers_file);
    let key = model_key();
    let vectors = f16_rows(&std::fs::read(&vectors_file).unwrap(), DIM).unwrap();

    // The candidates: the newest 20,000 papers, and of them one day's worth (about 1,500).
    let mut sorted: Vec<&str> = dates.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let since_batch = sorted[sorted.len() - 20_000].to_owned();
    let since_day = sorted[sorted.len() - 1_500].to_owned();
    let earlier: Vec<usize> = (0..ids.len()).filter(|&i| dates[i] < since_batch).collect();
    let profiles = draw_profiles(users, &earlier);

    println!("| step | SQLite | PostgreSQL | PostgreSQL / SQLite |");
    println!("|---|---:|---:|---:|");
    let mut times = Vec::new();
    for (backend, data_dir) in &backends {
        eprintln!(
            "{}: ingesting {} papers without the model",
            backend.name(),
            ids.len()
        );
        let mut ingest = backend.command(data_dir);
        ingest.args(["ingest", "--no-embed"]).arg(&papers_file);
        let ingest = run(ingest);
        let mut store = backend.open();
        let started = Instant::now();
        store_peer_vectors(&mut *store, &key, &ids, &vectors);
        let vectors_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        match backend {
            Backend::Sqlite(dir) => users_into_sqlite(dir, &ids, &profiles),
            Backend::Postgres(url) => users_into_postgres(url, &ids, &profiles),
        }
        let users_seconds = started.elapsed().as_secs_f64();
        let names = work.path().join("digest-users.txt");
        std::fs::write(&names, user_names(digest_users).join("\n") + "\n").unwrap();
        eprintln!("{}: {digest_users} digests", backend.name());
        let mut digests = backend.command(data_dir);
        digests
            .args(["rerank", "--top", "10", "--users"])
            .arg(&names)
            .arg("--candidates")
            .arg(format!("since:{since_day}"))
            .arg("--out")
            .arg(
                work.path()
                    .join(format!("digests-{}.jsonl", backend.name())),
            );
        let digests = run(digests);
        eprintln!("{}: re-rank of {users} users", backend.name());
        let mut batch = backend.command(data_dir);
        batch
            .args(["rerank", "--method", "centroid", "--top", "50"])
            .arg("--candidates")
            .arg(format!("since:{since_batch}"))
            .arg("--out")
            .arg(work.path().join(format!("rerank-{}.jsonl", backend.name())));
        let batch = run(batch);
        times.push([ingest, vectors_seconds, users_seconds, digests, batch]);
    }
    let rate = |count: usize, seconds: f64| count as f64 / seconds;
    let rows = [
        ("ingest --no-embed, papers/s", ids.len(), 0),
        ("vectors stored, per s", ids.len(), 1),
        ("users and profiles loaded (bulk), users/s", users, 2),
        (
            "digests (rerank of one day, hybrid), users/s",
            digest_users,
            3,
        ),
        ("re-rank (20,000 candidates, centroid), users/s", users, 4),
    ];
    for (label, count, step) in rows {
        let (sqlite, pg) = (rate(count, times[0][step]), rate(count, times[1][step]));
        println!("| {label} | {sqlite:.0} | {pg:.0} | {:.2} |", pg / sqlite);
    }
    println!();
    for (backend, _) in &backends {
        let [ingest, vectors, users_s, digests, batch] =
            times[usize::from(matches!(backend, Backend::Postgres(_)))];
        println!(
            "{}: ingest {ingest:.1} s, vectors {vectors:.1} s, users {users_s:.1} s, \
             {digest_users} digests {digests:.1} s, {users}-user re-rank {batch:.1} s",
            backend.name()
        );
    }

    // `similar` by id, 8 clients: SQLite, then one and two daemons on PostgreSQL.
    let queries: Vec<String> = ids
        .iter()
        .step_by(27)
        .map(|id| format!("{}\n", json!({"op": "similar", "query": id, "k": 10})))
        .collect();
    println!();
    println!("| similar by id, 8 clients | queries | q/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    let mut per_second = Vec::new();
    for (backend, data_dir) in &backends {
        let socket = data_dir.join("d.sock");
        let daemon = start(backend, data_dir, &socket);
        let row = load(&[socket], &queries, seconds);
        println!("{}", row.row(&format!("one daemon on {}", backend.name())));
        per_second.push(row.per_second());
        drop(daemon);
    }
    let (pg, dir_a) = &backends[1];
    let dir_b = work.path().join("pg-b");
    let sockets = [dir_a.join("d.sock"), dir_b.join("d.sock")];
    let a = start(pg, dir_a, &sockets[0]);
    let b = start(pg, &dir_b, &sockets[1]);
    let row = load(&sockets, &queries, seconds);
    println!("{}", row.row("two daemons on one PostgreSQL"));
    drop((a, b));
    println!();
    println!(
        "one daemon on PostgreSQL: {:.2}x the q/s of one on SQLite; two on one database: {:.2}x \
         one (on this machine's 2 cores the daemons share the CPUs)",
        per_second[1] / per_second[0],
        row.per_second() / per_second[1]
    );
    drop(server);
}

/// Every paper's id and announcement day, in file order.
fn read_ids_and_dates(papers: &Path) -> (Vec<String>, Vec<String>) {
    BufReader::new(flate2::read::MultiGzDecoder::new(
        std::fs::File::open(papers).unwrap(),
    ))
    .lines()
    .map(|line| {
        let paper: Value = serde_json::from_str(&line.unwrap()).unwrap();
        (
            paper["id"].as_str().unwrap().to_owned(),
            paper["date"].as_str().unwrap_or("0000-00-00").to_owned(),
        )
    })
    .unzip()
}

/// The key the command line stores vectors under.
fn model_key() -> ModelKey {
    let info = Command::new(env!("CARGO_BIN_EXE_paperscout"))
        .args(["model", "info", "--json"])
        .output()
        .unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    ModelKey {
        name: info["name"].as_str().unwrap().to_owned(),
        sha256: info["sha256"].as_str().unwrap().to_owned(),
        dim: DIM,
    }
}

fn user_names(count: usize) -> Vec<String> {
    (0..count).map(|u| format!("user{u:06}")).collect()
}

/// Each user's profile papers (3 to 12 of `pool`, by index into the ids), drawn by a fixed
/// generator.
fn draw_profiles(users: usize, pool: &[usize]) -> Vec<Vec<usize>> {
    let mut next = draws::fixed_draws();
    (0..users)
        .map(|_| {
            let size = 3 + next(10);
            let mut rows: Vec<usize> = (0..size).map(|_| pool[next(pool.len())]).collect();
            rows.sort_unstable();
            rows.dedup();
            rows
        })
        .collect()
}

fn users_into_sqlite(dir: &Path, ids: &[String], profiles: &[Vec<usize>]) {
    let mut connection = rusqlite::Connection::open(paperscout_store::file_in(dir)).unwrap();
    let transaction = connection.transaction().unwrap();
    {
        let mut user = transaction
            .prepare("INSERT INTO users (id, name, created) VALUES (?1, ?2, 1)")
            .unwrap();
        let mut item = transaction
            .prepare(
                "INSERT INTO profile_items (user_id, paper_id, weight, added) VALUES (?1, ?2, 1.0, ?3)",
            )
            .unwrap();
        for (n, (name, papers)) in user_names(profiles.len()).iter().zip(profiles).enumerate() {
            let id = n as i64 + 1;
            user.execute(rusqlite::params![id, name]).unwrap();
            for (added, &paper) in papers.iter().enumerate() {
                item.execute(rusqlite::params![id, ids[paper], added as i64])
                    .unwrap();
            }
        }
    }
    transaction.commit().unwrap();
}

fn users_into_postgres(url: &str, ids: &[String], profiles: &[Vec<usize>]) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let mut transaction = client.transaction().unwrap();
    let sink = transaction
        .copy_in("COPY users (id, name, created) FROM STDIN (FORMAT binary)")
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, Type::INT8]);
    for (n, name) in user_names(profiles.len()).iter().enumerate() {
        writer.write(&[&(n as i64 + 1), name, &1_i64]).unwrap();
    }
    writer.finish().unwrap();
    let sink = transaction
        .copy_in("COPY profile_items (user_id, paper_id, weight, added) FROM STDIN (FORMAT binary)")
        .unwrap();
    let types = [Type::INT8, Type::TEXT, Type::FLOAT8, Type::INT8];
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for (n, papers) in profiles.iter().enumerate() {
        for (added, &paper) in papers.iter().enumerate() {
            writer
                .write(&[&(n as i64 + 1), &ids[paper], &1.0_f64, &(added as i64)])
                .unwrap();
        }
    }
    writer.finish().unwrap();
    transaction
        .batch_execute(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users;
             SELECT setval(pg_get_serial_sequence('profile_items', 'id'), max(id))
             FROM profile_items;",
        )
        .unwrap();
    transaction.commit().unwrap();
    // Statistics for the planner now, rather than from autovacuum in the middle of a timing.
    client.batch_execute("VACUUM ANALYZE").unwrap();
}

fn start(backend: &Backend, data_dir: &Path, socket: &Path) -> Daemon {
    let mut command = backend.command(data_dir);
    command
        .arg("--socket")
        .arg(socket)
        .args(["serve", "--foreground"]);
    std::fs::create_dir_all(data_dir).unwrap();
    Daemon::start(command, &data_dir.join("daemon.log"), || healthy(socket))
}

/// 8 clients for `seconds`, spread over the sockets.
fn load(sockets: &[PathBuf], queries: &[String], seconds: f64) -> Latencies {
    run_clients(8, seconds, |client| {
        let mut conn = Conn::connect(&sockets[client % sockets.len()]).unwrap();
        move |n| {
            conn.send(&queries[(n * 7 + client) % queries.len()])
                .starts_with("{\"v\":1,\"ok\":true")
        }
    })
}
