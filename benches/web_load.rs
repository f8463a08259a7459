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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
    let daemon = Daemon::start(&home, &socket, &host);
    let link = ok(&home, &["user", "link", "bench", "--http", &host]);
    let login = request(
        &host,
        "GET",
        link.trim().strip_prefix(&format!("http://{host}")).unwrap(),
        None,
        "",
    );
    let cookie = login.cookie.expect("a session");
    let today = request(&host, "GET", "/today", Some(&cookie), "");
    assert_eq!(today.status, 200);
    assert_eq!(today.body.matches("<article class=\"pick\">").count(), 50);
    let csrf = value_of(&today.body, "csrf");
    let paper = value_of(&today.body, "paper");

    println!("\n| request | clients | requests | per second | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let baseline = run(seconds, |_, _| {
        let mut conn = Conn::new(UnixStream::connect(&socket).unwrap());
        let ids = &ids;
        move |i: usize| {
            let answer = conn.ask(&json!({"op": "similar", "query": ids[i % ids.len()], "k": 10}));
            answer["ok"] == true
        }
    });
    baseline.print("socket `similar` by id (baseline)");
    let page = run(seconds, |_, _| {
        let (host, cookie) = (host.clone(), cookie.clone());
        move |_| request(&host, "GET", "/today", Some(&cookie), "").status == 200
    });
    page.print("the page of a 50-pick digest");
    let rating = run(seconds, |_, _| {
        let (host, cookie, csrf, paper) =
            (host.clone(), cookie.clone(), csrf.clone(), paper.clone());
        move |i: usize| {
            // Alternating, so every rating is a real change written to the store.
            let kind = if i.is_multiple_of(2) { "like" } else { "save" };
            let body = format!(
                "paper={}&kind={kind}&csrf={csrf}&back=%2Ftoday",
                encode(&paper)
            );
            request(&host, "POST", "/rate", Some(&cookie), &body).status == 303
        }
    });
    rating.print("a rating (POST, recorded, redirect)");
    println!(
        "\np99 against the socket's: page {:.1}x, rating {:.1}x",
        page.percentile(0.99) / baseline.percentile(0.99),
        rating.percentile(0.99) / baseline.percentile(0.99)
    );
    drop(daemon);
}

fn value_of(body: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = body.find(&needle).unwrap() + needle.len();
    body[at..at + body[at..].find('"').unwrap()].replace("&amp;", "&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Answer {
    status: u16,
    cookie: Option<String>,
    body: String,
}

fn request(host: &str, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Answer {
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        head += &format!("Cookie: {cookie}\r\n");
    }
    if method == "POST" {
        head += &format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    stream
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(|c| c.split(';').next().unwrap().to_owned());
    Answer {
        status,
        cookie,
        body: body.to_owned(),
    }
}

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(home: &Path, socket: &Path, host: &str) -> Self {
        let log = std::fs::File::create(home.join("daemon.log")).unwrap();
        let child = bin(home)
            .arg("--socket")
            .arg(socket)
            .args(["serve", "--foreground", "--http", host])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Self { child };
        while TcpStream::connect(host).is_err() {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!(
                    "the daemon stopped ({status}); see {}",
                    home.join("daemon.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

struct Conn {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Conn {
    fn new(stream: UnixStream) -> Self {
        Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn ask(&mut self, request: &Value) -> Value {
        self.writer
            .write_all(format!("{request}\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

struct Row {
    latencies: Vec<f64>,
    seconds: f64,
    failed: usize,
}

impl Row {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] * 1e3
    }

    fn print(&self, what: &str) {
        println!(
            "| {what} | {CLIENTS} | {} | {:.0} | {:.2} | {:.2} |",
            self.latencies.len(),
            self.latencies.len() as f64 / self.seconds,
            self.percentile(0.5),
            self.percentile(0.99)
        );
        if self.failed > 0 {
            println!("({} requests failed)", self.failed);
        }
    }
}

/// `CLIENTS` threads, each making its own worker with `make` and calling it for `seconds`.
fn run<W: FnMut(usize) -> bool + Send>(seconds: f64, make: impl Fn(usize, ()) -> W + Sync) -> Row {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let make = &make;
                scope.spawn(move || {
                    let mut work = make(client, ());
                    let mut latencies = Vec::new();
                    let mut failed = 0;
                    let mut i = client * 7919;
                    while Instant::now() < deadline {
                        let at = Instant::now();
                        if work(i) {
                            latencies.push(at.elapsed().as_secs_f64());
                        } else {
                            failed += 1;
                        }
                        i += 1;
                    }
                    (latencies, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    Row {
        seconds: started.elapsed().as_secs_f64(),
        failed: results.iter().map(|r| r.1).sum(),
        latencies: results.into_iter().flat_map(|r| r.0).collect(),
    }
}
