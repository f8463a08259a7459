//! The web page under load: the page of a 50-pick digest and a rating's round trip (POST and
//! its redirect), p50/p99 with 8 concurrent clients, beside the socket's `similar` by id as
//! the in-run baseline. Aim (issue 18): page < 20 ms p99, rating < 5 ms p99.
//!
//! `make bench-web` (or `cargo bench --bench web_load`). The first run ingests the 2,000
//! sample papers into `target/bench-web/` (embedding them: about a minute); later runs reuse
//! the store. A user follows ten of them, and a 50-pick digest of theirs is put in the outbox
//! as the scheduler would.
//!
//! Environment: `PAPERSCOUT_BENCH_SECONDS` (seconds per row, default 4).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

#[path = "../tests/util/http.rs"]
mod http;
#[path = "common/load.rs"]
mod load;

use http::Page;
use load::{Conn, Daemon, Latencies, healthy, run_clients};

const CLIENTS: usize = 8;

fn bin(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paperscout"));
    command
        .env_remove("PAPERSCOUT_SOCKET")
        .env_remove("XDG_RUNTIME_DIR")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env(
            "PAPERSCOUT_MODEL",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"),
        )
        .args(["--quiet", "--data-dir"])
        .arg(home.join("data"));
    command
}

fn ok(home: &Path, args: &[&str]) -> String {
    let output = bin(home).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("../shared/data/arxiv-cs/sample-2k.jsonl");
    if !sample.is_file() {
        println!("skipped: {} is missing", sample.display());
        return;
    }
    let seconds: f64 = std::env::var("PAPERSCOUT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let home = root.join("target/bench-web");
    std::fs::create_dir_all(home.join("config/paperscout")).unwrap();
    // The rate limit is the page's defence, not what is measured here.
    std::fs::write(
        home.join("config/paperscout/config.toml"),
        "[web]\nrequests_per_second = 1000000\n",
    )
    .unwrap();
    let lines: Vec<String> = std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    if !home.join("data/paperscout.sqlite3").is_file() {
        eprintln!("ingesting and embedding the 2,000 sample papers (first run only)…");
        ok(&home, &["ingest", sample.to_str().unwrap()]);
    }
    let _ = bin(&home).args(["user", "remove", "bench"]).output();
    let profile = home.join("profile.txt");
    std::fs::write(
        &profile,
        ids.iter()
            .step_by(200)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    ok(
        &home,
        &[
            "user",
            "add",
            "bench",
            "--papers",
            profile.to_str().unwrap(),
        ],
    );
    // A 50-pick digest in the outbox, as the scheduler writes it.
    let digest = ok(
        &home,
        &[
            "digest",
            "--user",
            "bench",
            "--date",
            "2025-03-20",
            "--days",
            "30",
            "--size",
            "50",
            "--format",
            "json",
            "--dry-run",
        ],
    );
    let parsed: Value = serde_json::from_str(&digest).unwrap();
    assert_eq!(
        parsed["papers"].as_array().unwrap().len(),
        50,
        "a 50-pick digest"
    );
    let outbox = home.join("data/digests/bench");
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::write(
        outbox.join(format!("{}.json", parsed["to"].as_str().unwrap())),
        &digest,
    )
    .unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let socket = home.join("bench.sock");
    let mut command = bin(&home);
    command
        .arg("--socket")
        .arg(&socket)
        .args(["serve", "--foreground", "--http", &host]);
    let daemon = Daemon::start(command, &home.join("daemon.log"), || {
        TcpStream::connect(&host).is_ok() && healthy(&socket)
    });
    let page = Page { port };
    let link = ok(&home, &["user", "link", "bench", "--http", &host]);
    let login = page.get(
        link.trim().strip_prefix(&format!("http://{host}")).unwrap(),
        None,
    );
    let cookie = login.session();
    let today = page.get("/today", Some(&cookie));
    assert_eq!(today.status, 200);
    assert_eq!(today.body.matches("<article class=\"pick\">").count(), 50);
    let csrf = today.inputs("csrf").remove(0);
    let paper = today.inputs("paper").remove(0);

    println!("\n| request | clients | requests | per second | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let baseline = run_clients(CLIENTS, seconds, |_| {
        let mut conn = Conn::connect(&socket).unwrap();
        let ids = &ids;
        move |i: usize| {
            let answer = conn.ask(&json!({"op": "similar", "query": ids[i % ids.len()], "k": 10}));
            answer["ok"] == true
        }
    });
    print(&baseline, "socket `similar` by id (baseline)");
    let today_page = run_clients(CLIENTS, seconds, |_| {
        let (page, cookie) = (&page, &cookie);
        move |_| page.get("/today", Some(cookie)).status == 200
    });
    print(&today_page, "the page of a 50-pick digest");
    let rating = run_clients(CLIENTS, seconds, |_| {
        let (page, cookie, csrf, paper) = (&page, &cookie, &csrf, &paper);
        move |i: usize| {
            // Alternating, so every rating is a real change written to the store.
            let kind = if i.is_multiple_of(2) { "like" } else { "save" };
            let form = [
                ("paper", paper.as_str()),
                ("kind", kind),
                ("csrf", csrf.as_str()),
                ("back", "/today"),
            ];
            page.post("/rate", Some(cookie), &form).status == 303
        }
    });
    print(&rating, "a rating (POST, recorded, redirect)");
    println!(
        "\np99 against the socket's: page {:.1}x, rating {:.1}x",
        today_page.percentile(0.99) / baseline.percentile(0.99),
        rating.percentile(0.99) / baseline.percentile(0.99)
    );
    drop(daemon);
}

fn print(row: &Latencies, what: &str) {
    println!("{}", row.row(&format!("{what} | {CLIENTS}")));
}
