//! The daemon as clients see it: a real `paperscout serve` process, a real Unix socket, the
//! real model and a real store, under concurrent load, malformed input and `kill -9`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{
    ingest_lines, paper_id, paperscout, sample_lines, stderr, write_config, write_lines,
};

/// Ingests papers with the command line, no daemon running.
pub(crate) fn ingest_locally(home: &Path, lines: &[String]) {
    ingest_lines(home, "local.jsonl", lines);
}

/// A running `paperscout serve --foreground`, killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon and waits until it answers `health`.
    pub(crate) fn start(home: &Path, socket: &Path, extra: &[&str]) -> Self {
        let mut daemon = Self::spawn(home, socket, extra);
        daemon.wait_ready();
        daemon
    }

    /// Starts the daemon without waiting for it.
    pub(crate) fn spawn(home: &Path, socket: &Path, extra: &[&str]) -> Self {
        Self::spawn_with_env(home, socket, extra, &[])
    }

    /// Starts the daemon with these environment variables, without waiting for it.
    pub(crate) fn spawn_with_env(
        home: &Path,
        socket: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let log = home.join(format!(
            "daemon-{}.log",
            Instant::now().elapsed().as_nanos()
        ));
        let child = paperscout(home)
            .args([
                "-v",
                "--socket",
                socket.to_str().unwrap(),
                "serve",
                "--foreground",
            ])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            socket: socket.to_path_buf(),
            log,
        }
    }

    /// Waits until the daemon answers `health`; panics with its log if it exits first.
    pub(crate) fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the daemon exited at start ({status}):\n{}",
                    self.log_text()
                );
            }
            if self.socket.exists()
                && let Ok(mut conn) = self.try_connect()
                && conn.ask(&json!({"op": "health"}))["ok"] == true
            {
                return;
            }
            assert!(Instant::now() < deadline, "no answer:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn try_connect(&self) -> std::io::Result<Conn> {
        let stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn {
            reader: BufReader::new(stream.try_clone()?),
            stream,
        })
    }

    pub(crate) fn connect(&self) -> Conn {
        self.try_connect().unwrap()
    }

    pub(crate) fn ask(&self, request: &Value) -> Value {
        self.connect().ask(request)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    pub(crate) fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) fn resident_kib(&self) -> u64 {
        self.memory_kib("VmRSS:")
    }

    /// The most memory the daemon has held at once.
    pub(crate) fn peak_kib(&self) -> u64 {
        self.memory_kib("VmHWM:")
    }

    fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One connection: lines out, lines in.
pub(crate) struct Conn {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Conn {
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends what the daemon takes before the write times out or the daemon closes.
    pub(crate) fn try_send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    pub(crate) fn set_read_timeout(&self, limit: Duration) {
        self.stream.set_read_timeout(Some(limit)).unwrap();
    }

    pub(crate) fn set_write_timeout(&self, limit: Duration) {
        self.stream.set_write_timeout(Some(limit)).unwrap();
    }

    /// The answer to one request, or `None` where the daemon closed the connection first
    /// (it may refuse one before reading it).
    pub(crate) fn try_ask(&mut self, request: &Value) -> Option<Value> {
        self.try_send(format!("{request}\n").as_bytes());
        let mut line = String::new();
        self.reader.read_line(&mut line).ok()?;
        serde_json::from_str(&line).ok()
    }

    /// Whether the daemon closes the connection once what it sent is read (within 20 s).
    pub(crate) fn drains_to_eof(&mut self) -> bool {
        use std::io::Read;
        self.set_read_timeout(Duration::from_secs(20));
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            match self.reader.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(err) => {
                    eprintln!("the connection is still open: {err}");
                    return false;
                }
            }
        }
    }

    pub(crate) fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    pub(crate) fn ask(&mut self, request: &Value) -> Value {
        self.send(format!("{request}\n").as_bytes());
        serde_json::from_str(&self.line()).unwrap()
    }

    /// Reads a text answer: lines until a short pause.
    pub(crate) fn text(&mut self, command: &str) -> String {
        self.send(format!("{command}\n").as_bytes());
        let mut out = self.line();
        self.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut line = String::new();
        while self.reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            out += &line;
            line.clear();
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        out
    }
}

fn hit_ids(answer: &Value) -> Vec<String> {
    answer["result"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {answer}"))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks a `similar` answer by id: k hits, best first, never the query paper.
fn check_similar(answer: &Value, query_id: &str, k: usize) {
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["result"]["query"]["id"], query_id, "{answer}");
    let hits = answer["result"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), k, "{answer}");
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(!hit_ids(answer).iter().any(|id| id == query_id));
}

#[test]
fn the_daemon_answers_every_kind_of_query_and_stops_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(0, 120) else {
        return;
    };
    ingest_locally(home, &lines);
    let ids: Vec<String> = lines.iter().map(|l| paper_id(l)).collect();
    let socket = home.join("run/paperscout.sock");
    let mut daemon = Daemon::start(home, &socket, &[]);

    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is for its owner only");
    let health = daemon.ask(&json!({"v": 1, "id": "h", "op": "health"}));
    assert_eq!(health["id"], "h");
    assert_eq!(health["result"]["pid"], daemon.pid());
    assert_eq!(health["result"]["papers_indexed"], 120);

    // By id, by title and by the paper's own text: the same paper, the same neighbours.
    let mut conn = daemon.connect();
    let by_id = conn.ask(&json!({"op": "similar", "query": ids[7], "k": 5}));
    check_similar(&by_id, &ids[7], 5);
    let paper: Value = serde_json::from_str(&lines[7]).unwrap();
    let title = paper["title"].as_str().unwrap().to_uppercase();
    let by_title = conn.ask(&json!({"op": "similar", "query": title, "k": 5}));
    assert_eq!(by_title["result"], by_id["result"], "{by_title}");
    let text = format!(
        "{}\n{}",
        paper["title"].as_str().unwrap(),
        paper["abstract"].as_str().unwrap()
    );
    let by_text = conn.ask(&json!({"op": "similar", "query": text, "by": "text", "k": 6}));
    assert_eq!(by_text["result"]["query"]["kind"], "text");
    let text_hits = hit_ids(&by_text);
    assert_eq!(
        text_hits[0], ids[7],
        "the paper is its own text's nearest: {by_text}"
    );
    assert!(by_text["result"]["hits"][0]["score"].as_f64().unwrap() > 0.999);
    assert_eq!(text_hits[1..], hit_ids(&by_id)[..]);

    // Filters.
    let recent =
        conn.ask(&json!({"op": "similar", "query": ids[7], "k": 20, "since": "2025-03-19"}));
    for hit in recent["result"]["hits"].as_array().unwrap() {
        assert!(hit["date"].as_str().unwrap() >= "2025-03-19", "{hit}");
    }
    let vision =
        conn.ask(&json!({"op": "similar", "query": ids[7], "k": 20, "categories": ["cs.CV"]}));
    assert_eq!(vision["result"]["hits"].as_array().unwrap().len(), 20);
    for hit in vision["result"]["hits"].as_array().unwrap() {
        assert!(
            hit["categories"]
                .as_array()
                .unwrap()
                .contains(&json!("cs.CV")),
            "{hit}"
        );
    }

    // Errors have stable codes and leave the connection usable.
    let missing = conn.ask(&json!({"id": 9, "op": "similar", "query": "2599.99999"}));
    assert_eq!(
        (missing["ok"].clone(), missing["id"].clone()),
        (json!(false), json!(9))
    );
    assert_eq!(missing["error"]["code"], "not_found");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ingest")
    );
    let no_user = conn.ask(&json!({"op": "recommend", "user": "nobody"}));
    assert_eq!(no_user["error"]["code"], "not_found");

    // The plain-text side.
    let table = conn.text(&format!("similar {} k=3", ids[7]));
    assert_eq!(table.lines().count(), 2 + 3, "{table}");
    for id in &hit_ids(&by_id)[..3] {
        assert!(table.contains(id.as_str()), "{table}");
    }
    assert!(conn.text("what").contains("error (bad_request)"));

    // The command line goes through the daemon.
    let cli = |args: &[&str]| {
        let output = paperscout(home)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output.stdout
    };
    let listed: Value =
        serde_json::from_slice(&cli(&["similar", &ids[7], "-k", "5", "--json"])).unwrap();
    assert_eq!(listed, by_id["result"]);
    let profile = write_lines(home, "ada.txt", &[ids[0].clone(), ids[10].clone()]);
    cli(&[
        "user",
        "add",
        "ada",
        "--papers",
        profile.to_str().unwrap(),
        "--interest",
        "image generation",
    ]);
    cli(&["like", "ada", &ids[3]]);
    // An undo through the daemon forgets the rating; the like is then given again.
    cli(&["undo", "ada", &ids[3]]);
    let shown: Value = serde_json::from_slice(&cli(&["user", "show", "ada", "--json"])).unwrap();
    assert_eq!(shown["feedback"].as_array().unwrap().len(), 0, "{shown}");
    cli(&["like", "ada", &ids[3]]);
    let shown: Value = serde_json::from_slice(&cli(&["user", "show", "ada", "--json"])).unwrap();
    assert_eq!(shown["profile"].as_array().unwrap().len(), 3, "{shown}");
    assert_eq!(shown["feedback"].as_array().unwrap().len(), 1, "{shown}");
    let picks: Value =
        serde_json::from_slice(&cli(&["recommend", "--user", "ada", "-n", "4", "--json"])).unwrap();
    assert_eq!(picks["papers"].as_array().unwrap().len(), 4, "{picks}");
    for pick in picks["papers"].as_array().unwrap() {
        assert!(
            !pick["because"]["item"].as_str().unwrap().is_empty(),
            "{pick}"
        );
        assert!(![&ids[0], &ids[10], &ids[3]].contains(&&pick["id"].as_str().unwrap().to_owned()));
    }
    // The personal backtest through the daemon: two of ada's three papers held out.
    let backtest: Value =
        serde_json::from_slice(&cli(&["eval", "--user", "ada", "--holdout", "50%"])).unwrap();
    assert_eq!(
        (
            backtest["kept"].as_u64(),
            backtest["held_out"].as_array().map(Vec::len)
        ),
        (Some(1), Some(2)),
        "{backtest}"
    );
    // ada's facets through the daemon: listed, renamed and boosted by number, reset by name.
    let facets: Value = serde_json::from_slice(&cli(&["user", "facet", "ada", "--json"])).unwrap();
    let items: u64 = facets["facets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["items"].as_u64().unwrap())
        .sum();
    assert_eq!(items, 4, "every profile item is in one facet: {facets}");
    let edit = [
        "user", "facet", "ada", "1", "--rename", "Mine", "--boost", "--json",
    ];
    let renamed: Value = serde_json::from_slice(&cli(&edit)).unwrap();
    assert_eq!(
        (&renamed["facets"][0]["name"], &renamed["facets"][0]["mode"]),
        (&json!("Mine"), &json!("boosted")),
        "{renamed}"
    );
    assert!(conn.text("facets ada").contains("1. Mine"));
    let reset: Value =
        serde_json::from_slice(&cli(&["user", "facet", "ada", "mine", "--reset", "--json"]))
            .unwrap();
    assert_eq!(reset, facets, "reset, the facet is as it was");
    let digest_args = [
        "digest",
        "--user",
        "ada",
        "--date",
        "2025-03-19",
        "--days",
        "2",
        "--size",
        "5",
        "--format",
        "json",
    ];
    let first: Value = serde_json::from_slice(&cli(&digest_args)).unwrap();
    // Nothing new may be left to send: then the second prints nothing.
    let second: Value = serde_json::from_slice(&cli(&digest_args)).unwrap_or(Value::Null);
    let first_ids: HashSet<&str> = first["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(first_ids.len(), 5);
    for paper in second["papers"].as_array().into_iter().flatten() {
        assert!(
            !first_ids.contains(paper["id"].as_str().unwrap()),
            "sent twice: {paper}"
        );
    }

    // why-not, asked of the same chooser: a paper the digest sent, one the user liked, one in
    // the profile, over JSON, the command line and the text side.
    let sent_id = first["papers"][0]["id"].as_str().unwrap();
    let why = conn.ask(&json!({
        "op": "why_not", "user": "ada", "paper": sent_id, "date": "2025-03-19", "days": 2
    }));
    assert_eq!(why["result"]["verdict"], "already_sent", "{why}");
    assert_eq!(why["result"]["paper"]["id"], sent_id, "{why}");
    let rated: Value = serde_json::from_slice(&cli(&[
        "why-not",
        &ids[3],
        "--user",
        "ada",
        "--date",
        "2025-03-19",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        (rated["verdict"].as_str(), rated["kind"].as_str()),
        (Some("rated"), Some("like")),
        "{rated}"
    );
    assert!(!rated["nearest"].as_array().unwrap().is_empty(), "{rated}");
    let in_profile = conn.text(&format!("why-not ada {}", ids[0]));
    assert!(in_profile.contains("in your profile"), "{in_profile}");
    let unknown = conn.ask(&json!({"op": "why_not", "user": "ada", "paper": "2599.99999"}));
    assert_eq!(unknown["error"]["code"], "not_found", "{unknown}");

    // A second daemon on the same socket is refused, naming the first.
    let refused = paperscout(home)
        .arg("--socket")
        .arg(&socket)
        .args(["serve", "--foreground"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(&format!("already running as pid {}", daemon.pid())),
        "{}",
        stderr(&refused)
    );

    // SIGTERM: the socket goes, the index is saved, the exit is clean.
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let status = daemon.wait(Duration::from_secs(60));
    assert!(status.success(), "{status}:\n{}", daemon.log_text());
    assert!(!socket.exists(), "the socket was removed");
    assert!(crate::util::index_dir(home).join("CURRENT").is_file());
}

#[test]
fn malformed_input_gets_an_error_and_the_connection_and_the_daemon_live_on() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(200, 40) else {
        return;
    };
    ingest_locally(home, &lines);
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    let rss_before = daemon.resident_kib();

    let mut conn = daemon.connect();
    let code = |answer: &Value| {
        answer["error"]["code"]
            .as_str()
            .unwrap_or("none")
            .to_owned()
    };
    conn.send(b"\xff\xfe\x00garbage\n");
    let answer: Value = serde_json::from_str(&conn.line()).unwrap();
    assert_eq!(code(&answer), "bad_request", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UTF-8")
    );
    for (request, wanted) in [
        (r#"{"op": "similar", "query": "x""#, "not valid JSON"),
        (r#"{"id": 3, "op": "similar", "query": 5}"#, "query"),
        (
            r#"{"id": 4, "op": "similar", "query": "x", "k": 0}"#,
            "k must be",
        ),
        (
            r#"{"id": 5, "op": "similar", "query": "x", "colour": "red"}"#,
            "colour",
        ),
        (r#"{"id": 6, "op": "teleport"}"#, "teleport"),
        (r#"[1, 2, 3]"#, "JSON object"),
        (r#"{"op": "ingest"}"#, "path"),
    ] {
        conn.send(format!("{request}\n").as_bytes());
        let answer: Value = serde_json::from_str(&conn.line()).unwrap();
        assert_eq!(code(&answer), "bad_request", "{request} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(wanted), "{request} → {message}");
    }
    // 10 MiB on one line, then random bytes: each gets its answer, none breaks the connection.
    let mut huge = vec![b'a'; 10 << 20];
    huge.push(b'\n');
    conn.send(&huge);
    let answer: Value = serde_json::from_str(&conn.line()).unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{answer}"
    );
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let lines_sent = noise.iter().filter(|&&b| b == b'\n').count();
    conn.send(&noise);
    conn.send(b"\n{\"id\":\"after\",\"op\":\"health\"}\n");
    // Noise that does not start with `{` reads as text commands: the help comes back.
    let mut answered_lines = 0;
    loop {
        let line = conn.line();
        assert!(!line.is_empty(), "the daemon closed the connection");
        if let Ok(answer) = serde_json::from_str::<Value>(&line)
            && answer["id"] == "after"
        {
            assert_eq!(answer["ok"], true);
            break;
        }
        answered_lines += 1;
        assert!(
            answered_lines <= 20 * (lines_sent + 1),
            "more answers than lines"
        );
    }

    // Half a request, then gone; a crowd of idle connections; others are still served.
    {
        let mut half = daemon.connect();
        half.send(br#"{"op": "simi"#);
    }
    let hard_limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(_, hard)| hard);
    let _ = nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        hard_limit,
        hard_limit,
    );
    let crowd_size = usize::try_from(hard_limit.saturating_sub(256))
        .unwrap_or(2000)
        .min(2000);
    let crowd: Vec<UnixStream> = (0..crowd_size)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = daemon.ask(&json!({"op": "health"}));
        if health["result"]["connections"].as_u64().unwrap() as usize > crowd_size {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the crowd was not accepted: {health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = paper_id(&lines[0]);
    check_similar(
        &daemon.ask(&json!({"op": "similar", "query": id, "k": 3})),
        &id,
        3,
    );
    let rss_after = daemon.resident_kib();
    eprintln!(
        "daemon RSS: {rss_before} KiB before, {rss_after} KiB with {crowd_size} idle connections"
    );
    assert!(
        rss_after < rss_before + 200 * 1024,
        "memory grew from {rss_before} to {rss_after} KiB"
    );
    drop(crowd);
}

#[test]
fn two_hundred_clients_are_all_answered_while_an_ingest_runs() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(300, 250) else {
        return;
    };
    let (first, rest) = lines.split_at(100);
    ingest_locally(home, first);
    let ids: Vec<String> = first.iter().map(|l| paper_id(l)).collect();
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);

    let incoming = write_lines(home, "incoming.jsonl", rest);
    let ingest_done = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let ingest = scope.spawn(|| {
            let answer = daemon.ask(&json!({"op": "ingest", "path": incoming, "batch": 25}));
            ingest_done.store(true, Ordering::SeqCst);
            answer
        });
        for client in 0..200 {
            let (daemon, ids, ingest_done, answered) = (&daemon, &ids, &ingest_done, &answered);
            scope.spawn(move || {
                let mut conn = daemon.connect();
                let mut asked = 0;
                while asked < 5 || (!ingest_done.load(Ordering::SeqCst) && asked < 200) {
                    let id = &ids[(client * 7 + asked * 13) % ids.len()];
                    let answer = if client % 20 == 0 && asked < 3 {
                        let text = format!("papers on the topic of {id}");
                        let answer = conn
                            .ask(&json!({"op": "similar", "query": text, "by": "text", "k": 4}));
                        assert_eq!(
                            answer["result"]["hits"].as_array().map(Vec::len),
                            Some(4),
                            "{answer}"
                        );
                        answer
                    } else {
                        let answer = conn.ask(&json!({"op": "similar", "query": id, "k": 4}));
                        check_similar(&answer, id, 4);
                        answer
                    };
                    assert_eq!(answer["ok"], true, "{answer}");
                    answered.fetch_add(1, Ordering::Relaxed);
                    asked += 1;
                }
            });
        }
        let report = ingest.join().unwrap();
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["result"]["report"]["read"], 150, "{report}");
        assert_eq!(
            report["result"]["report"]["written"]["embedded"], 150,
            "{report}"
        );
    });
    assert!(answered.load(Ordering::Relaxed) >= 1000);
    let health = daemon.ask(&json!({"op": "health"}));
    assert_eq!(health["result"]["papers_indexed"], 250, "{health}");
    let newcomer = paper_id(&rest[10]);
    check_similar(
        &daemon.ask(&json!({"op": "similar", "query": newcomer, "k": 5})),
        &newcomer,
        5,
    );
}

#[test]
fn kill_9_during_an_ingest_or_a_digest_loses_nothing_committed_and_sends_nothing_twice() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(0, 220) else {
        return;
    };
    ingest_locally(home, &lines[..20]);
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &["--max-connections", "6"]);

    // Past its connection limit the daemon says so, and serves again once some close.
    let held: Vec<Conn> = (0..6).map(|_| daemon.connect()).collect();
    let mut extra = daemon.connect();
    let refused: Value = serde_json::from_str(&extra.line()).unwrap();
    assert_eq!(refused["error"]["code"], "overloaded", "{refused}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));

    let incoming = write_lines(home, "incoming.jsonl", &lines[20..]);
    let mut ingesting = daemon.connect();
    ingesting.send(
        format!(
            "{}\n",
            json!({"op": "ingest", "path": incoming, "batch": 16})
        )
        .as_bytes(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stats = daemon.ask(&json!({"op": "stats"}));
        if stats["result"]["store"]["papers"].as_u64().unwrap() >= 52 {
            break;
        }
        assert!(Instant::now() < deadline, "no batch committed: {stats}");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.kill_9();
    assert!(socket.exists(), "kill -9 leaves the socket file behind");

    let daemon = Daemon::start(home, &socket, &[]);
    let stats = daemon.ask(&json!({"op": "stats"}))["result"].clone();
    let stored = stats["store"]["papers"].as_u64().unwrap();
    assert!(stored >= 52, "{stats}");
    assert_eq!(
        stats["store"]["embeddings"], stored,
        "every committed paper has its vector"
    );
    assert_eq!(
        stats["index"]["papers"], stored,
        "the index caught up with the store"
    );
    let again = daemon.ask(&json!({"op": "ingest", "path": incoming}));
    assert_eq!(again["ok"], true, "{again}");
    let health = daemon.ask(&json!({"op": "health"}));
    assert_eq!(health["result"]["papers_indexed"], 220, "{health}");

    // A digest send cut short by kill -9 is recorded whole or not at all, and never repeats.
    let profile: Vec<String> = [3, 70, 150].iter().map(|&i| paper_id(&lines[i])).collect();
    let added =
        daemon.ask(&json!({"op": "user", "action": "add", "name": "ada", "papers": profile}));
    assert_eq!(added["result"]["added"], 3, "{added}");
    let send = json!({"op": "digest", "user": "ada", "action": "send", "date": "2025-03-19", "days": 2, "size": 5});
    let mut sending = daemon.connect();
    sending.send(format!("{send}\n").as_bytes());
    std::thread::sleep(Duration::from_millis(30));
    daemon.kill_9();
    let store_path = home.join("data/paperscout/paperscout.sqlite3");
    let sent_before: HashSet<String> = {
        use paperscout_store::Store;
        let store = paperscout_store::SqliteStore::open_read_only(&store_path).unwrap();
        store.sent("ada").unwrap().into_iter().collect()
    };
    assert!([0, 5].contains(&sent_before.len()), "{sent_before:?}");
    let daemon = Daemon::start(home, &socket, &[]);
    let next = daemon.ask(&send);
    assert_eq!(next["ok"], true, "{next}");
    for paper in next["result"]["digest"]["papers"].as_array().unwrap() {
        assert!(
            !sent_before.contains(paper["id"].as_str().unwrap()),
            "sent twice: {paper}"
        );
    }
    assert_eq!(
        next["result"]["recorded"],
        next["result"]["digest"]["papers"].as_array().unwrap().len()
    );
}

#[test]
fn another_user_cannot_open_the_socket() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: checked by the socket's mode bits in the other daemon test only");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(0, 10) else {
        return;
    };
    ingest_locally(home, &lines);
    let run_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(run_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = run_dir.path().join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    let as_nobody = |command: &mut std::process::Command| {
        use std::os::unix::process::CommandExt;
        command.uid(65534).gid(65534).env("HOME", "/nonexistent");
    };
    let mut status = paperscout(home);
    status.arg("--socket").arg(&socket).arg("status");
    as_nobody(&mut status);
    let output = status.output().unwrap();
    assert!(!output.status.success(), "another user reached the daemon");
    let mut own = paperscout(home);
    let mine = own
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap();
    assert!(mine.status.success(), "{}", stderr(&mine));
    assert!(String::from_utf8_lossy(&mine.stdout).contains(&format!("pid {}", daemon.pid())));
}

#[test]
fn the_schedule_ingests_dropped_files_and_sends_each_digest_once() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(0, 60) else {
        return;
    };
    ingest_locally(home, &lines[..40]);
    let profile = write_lines(
        home,
        "ada.txt",
        &[paper_id(&lines[2]), paper_id(&lines[30])],
    );
    let output = paperscout(home)
        .args(["user", "add", "ada", "--papers", profile.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let incoming = home.join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    write_config(
        home,
        &format!(
            "[schedule]\nwatch = {:?}\ndigest_at = \"00:00\"\ndigest_days = 4000\n\
             digest_size = 4\npoll_seconds = 1\n",
            incoming.display().to_string()
        ),
    );
    let socket = home.join("paperscout.sock");
    let mut daemon = Daemon::start(home, &socket, &[]);

    // The day's digest time has passed: it is sent at start-up.
    let today = chrono::Local::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let outbox = home.join("data/paperscout/digests/ada");
    let wait_for = |path: &Path, daemon: &Daemon| {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !path.exists() {
            assert!(
                Instant::now() < deadline,
                "no {}:\n{}",
                path.display(),
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(&outbox.join(format!("{today}.md")), &daemon);
    let digest: Value = serde_json::from_str(
        &std::fs::read_to_string(outbox.join(format!("{today}.json"))).unwrap(),
    )
    .unwrap();
    let sent_ids: Vec<&str> = digest["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(sent_ids.len(), 4);
    let markdown = std::fs::read_to_string(outbox.join(format!("{today}.md"))).unwrap();
    for id in &sent_ids {
        let number = id.trim_start_matches("arXiv:");
        assert!(
            markdown.contains(number),
            "{id} missing from the Markdown digest"
        );
    }
    let shown = daemon.ask(&json!({"op": "user", "action": "show", "name": "ada"}));
    assert_eq!(shown["result"]["sent"], 4, "{shown}");

    // A file dropped into the folder (written under a temporary name, then renamed) is
    // ingested and moved to done/; one that is not a listing goes to failed/.
    let staged = incoming.join("new.jsonl.tmp");
    std::fs::write(&staged, lines[40..].join("\n") + "\n").unwrap();
    std::fs::rename(&staged, incoming.join("new.jsonl")).unwrap();
    std::fs::write(incoming.join("junk.txt"), "this is not a listing\n").unwrap();
    wait_for(&incoming.join("done/new.jsonl"), &daemon);
    wait_for(&incoming.join("failed/junk.txt"), &daemon);
    let health = daemon.ask(&json!({"op": "health"}));
    assert_eq!(health["result"]["papers_indexed"], 60, "{health}");

    // Digests a crash left pending: kept when their papers were recorded, else removed.
    let recorded = outbox.join("2000-01-01.json.pending");
    std::fs::copy(outbox.join(format!("{today}.json")), &recorded).unwrap();
    std::fs::write(outbox.join("2000-01-01.md.pending"), "recorded\n").unwrap();
    let mut unrecorded_digest = digest.clone();
    unrecorded_digest["papers"][0]["id"] = json!(paper_id(&lines[55]));
    std::fs::write(
        outbox.join("2000-01-02.json.pending"),
        unrecorded_digest.to_string(),
    )
    .unwrap();
    std::fs::write(outbox.join("2000-01-02.md.pending"), "not recorded\n").unwrap();

    // Restarted the same day: no second digest.
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(daemon.wait(Duration::from_secs(60)).success());
    let daemon = Daemon::start(home, &socket, &[]);
    std::thread::sleep(Duration::from_secs(3));
    let shown = daemon.ask(&json!({"op": "user", "action": "show", "name": "ada"}));
    assert_eq!(
        shown["result"]["sent"], 4,
        "sent again after a restart: {shown}"
    );
    assert!(outbox.join("2000-01-01.json").is_file() && outbox.join("2000-01-01.md").is_file());
    assert!(!outbox.join("2000-01-02.json").exists() && !outbox.join("2000-01-02.md").exists());
    let left: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pending"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_daemon_mails_scheduled_and_requested_digests() {
    use crate::mail::{SmtpServer, free_port, python_with_aiosmtpd, titles};
    let Some(lines) = sample_lines(0, 60) else {
        return;
    };
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ingest_locally(home, &lines);
    for (user, papers) in [("ada", [2, 30]), ("alan", [5, 44])] {
        let profile = write_lines(
            home,
            &format!("{user}.txt"),
            &[paper_id(&lines[papers[0]]), paper_id(&lines[papers[1]])],
        );
        let output = paperscout(home)
            .args(["user", "add", user, "--papers", profile.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let output = paperscout(home)
        .args(["user", "set", "ada", "--email", "ada@example.org"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let port = free_port();
    let maildir = home.join("maildir");
    let server = SmtpServer::start(&python, port, &maildir);
    write_config(
        home,
        &format!(
            "[schedule]\ndigest_at = \"00:00\"\ndigest_days = 4000\ndigest_size = 3\npoll_seconds = 1\n\
             [schedule.users.alan]\ndigest_at = \"23:59\"\n\
             [mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
             from = \"paperscout <digest@paperscout.test>\"\n"
        ),
    );
    let socket = home.join("paperscout.sock");
    let mut daemon = Daemon::start(home, &socket, &[]);

    // Ada's scheduled digest goes out by e-mail as well as into the outbox.
    let deadline = Instant::now() + Duration::from_secs(90);
    while server.messages(&python).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no e-mail:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let messages = server.messages(&python);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["headers"]["to"], "ada@example.org");
    assert_eq!(titles(&messages[0]).len(), 3);

    // Alan has no address: a request to mail him is refused and says what to do; with one,
    // it is sent at once and the answer says so.
    let refused =
        daemon.ask(&json!({"op": "digest", "user": "alan", "action": "send", "email": true}));
    assert_eq!(refused["error"]["code"], "bad_request", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user set alan --email"),
        "{refused}"
    );
    let set = daemon.ask(&json!({"op": "user", "action": "set", "name": "alan",
        "settings": {"email": "alan@example.org", "mute_keywords": ["zzzz"]}}));
    assert_eq!(
        set["result"]["settings"]["email"], "alan@example.org",
        "{set}"
    );
    let sent = daemon.ask(&json!({"op": "digest", "user": "alan", "action": "send",
        "date": "2025-03-18", "days": 1, "size": 2, "email": true}));
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(sent["result"]["recorded"], 2, "{sent}");
    assert_eq!(sent["result"]["delivery"]["delivered"], 1, "{sent}");
    let messages = server.messages(&python);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["headers"]["to"], "alan@example.org");
    assert_eq!(titles(&messages[1]).len(), 2);
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(daemon.wait(Duration::from_secs(60)).success());
}

#[test]
fn replaced_papers_are_compacted_away_in_the_background_while_searches_go_on() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = sample_lines(0, 60) else {
        return;
    };
    ingest_locally(home, &lines);
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    let index_stats = |daemon: &Daemon| {
        let stats = daemon.ask(&json!({"op": "stats"}));
        assert_eq!(stats["ok"], true, "{stats}");
        stats["result"]["index"].clone()
    };
    assert_eq!(index_stats(&daemon)["tombstone_ratio"], 0.0);

    // Thirty revised abstracts: each paper is re-embedded and its old point left behind.
    let revised: Vec<String> = lines[..30]
        .iter()
        .map(|line| {
            let mut paper: Value = serde_json::from_str(line).unwrap();
            paper["abstract"] = json!(format!(
                "{} In a revised version we add experiments on three further data sets.",
                paper["abstract"].as_str().unwrap()
            ));
            paper.to_string()
        })
        .collect();
    let file = write_lines(home, "revised.jsonl", &revised);
    let answer = daemon.ask(&json!({"op": "ingest", "path": file}));
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        answer["result"]["report"]["written"]["updated"], 30,
        "{answer}"
    );

    // The rebuild runs in the background; searches are answered all along, never with an
    // old point.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut searched = 0;
    loop {
        let id = paper_id(&lines[searched % 60]);
        let answer = daemon.ask(&json!({"op": "similar", "query": id, "k": 10}));
        check_similar(&answer, &id, 10);
        let hits = hit_ids(&answer);
        assert_eq!(
            hits.iter().collect::<HashSet<_>>().len(),
            hits.len(),
            "a paper twice: {answer}"
        );
        searched += 1;
        let stats = index_stats(&daemon);
        if stats["tombstone_ratio"] == 0.0 {
            assert_eq!(stats["papers"], 60, "{stats}");
            assert_eq!(stats["points"], 60, "{stats}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no compaction ({stats}):\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        daemon
            .log_text()
            .contains("index compacted in the background")
    );
    // The revised text finds its own paper first.
    let text = {
        let paper: Value = serde_json::from_str(&revised[3]).unwrap();
        format!(
            "{}\n{}",
            paper["title"].as_str().unwrap(),
            paper["abstract"].as_str().unwrap()
        )
    };
    let answer = daemon.ask(&json!({"op": "similar", "query": text, "by": "text", "k": 3}));
    assert_eq!(hit_ids(&answer)[0], paper_id(&lines[3]), "{answer}");
}

/// A scoop alert: a paper that arrives close to a text ada watches is mailed to her at once,
/// beside her text, and only once; a watch can be listed and dropped.
#[test]
fn a_paper_close_to_a_watched_text_is_mailed_at_once_and_only_once() {
    use crate::mail::{SmtpServer, free_port, python_with_aiosmtpd};
    let Some(lines) = sample_lines(0, 70) else {
        return;
    };
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ingest_locally(home, &lines[..40]);
    let cli = |args: &[&str]| {
        let output = paperscout(home).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output
    };
    let profile = write_lines(
        home,
        "ada.txt",
        &[paper_id(&lines[2]), paper_id(&lines[30])],
    );
    cli(&["user", "add", "ada", "--papers", profile.to_str().unwrap()]);
    cli(&["user", "set", "ada", "--email", "ada@example.org"]);
    // Ada's draft is, in effect, the paper of line 50, which has not arrived yet.
    let scooped: Value = serde_json::from_str(&lines[50]).unwrap();
    let draft = home.join("draft.txt");
    std::fs::write(
        &draft,
        format!(
            "{}\n{}",
            scooped["title"].as_str().unwrap(),
            scooped["abstract"].as_str().unwrap()
        ),
    )
    .unwrap();
    cli(&[
        "user",
        "watch",
        "ada",
        "--text",
        draft.to_str().unwrap(),
        "--threshold",
        "0.9",
    ]);
    cli(&["user", "watch", "ada", "--paper", &paper_id(&lines[3])]);
    cli(&["user", "unwatch", "ada", &paper_id(&lines[3])]);
    let shown: Value =
        serde_json::from_slice(&cli(&["user", "show", "ada", "--json"]).stdout).unwrap();
    let watches = shown["settings"]["watches"].as_array().unwrap();
    assert_eq!(watches.len(), 1, "{shown}");
    assert!(
        (watches[0]["threshold"].as_f64().unwrap() - 0.9).abs() < 1e-6,
        "{shown}"
    );

    let port = free_port();
    let server = SmtpServer::start(&python, port, &home.join("maildir"));
    write_config(
        home,
        &format!(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
             from = \"paperscout <digest@paperscout.test>\"\n"
        ),
    );
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    let arriving = write_lines(home, "arriving.jsonl", &lines[40..60]);
    let remote = |args: &[&str]| {
        let output = paperscout(home)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    };
    remote(&["ingest", arriving.to_str().unwrap()]);
    let messages = server.messages(&python);
    assert_eq!(messages.len(), 1, "{}", daemon.log_text());
    let alert = &messages[0];
    assert_eq!(alert["headers"]["to"], "ada@example.org");
    assert!(
        alert["headers"]["subject"]
            .as_str()
            .unwrap()
            .starts_with("paperscout alert: a new paper close to"),
        "{alert}"
    );
    let plain = alert["parts"][0]["text"].as_str().unwrap();
    assert!(
        plain.contains(scooped["title"].as_str().unwrap()),
        "{plain}"
    );
    assert!(plain.contains("YOURS ("), "{plain}");
    // The same papers again, or once more as changed text: no second alert.
    remote(&["ingest", arriving.to_str().unwrap()]);
    assert_eq!(server.messages(&python).len(), 1);
    let shown: Value =
        serde_json::from_slice(&cli(&["user", "show", "ada", "--json"]).stdout).unwrap();
    assert!(
        shown["sent"].as_u64().unwrap() >= 1,
        "the alerted paper counts as sent"
    );
    drop(daemon);

    // Without the daemon, `paperscout ingest` alerts as well, once.
    let second: Value = serde_json::from_str(&lines[65]).unwrap();
    let draft = home.join("second-draft.txt");
    let text = format!(
        "{}\n{}",
        second["title"].as_str().unwrap(),
        second["abstract"].as_str().unwrap()
    );
    std::fs::write(&draft, text).unwrap();
    cli(&["user", "watch", "ada", "--text", draft.to_str().unwrap()]);
    let later = write_lines(home, "later.jsonl", &lines[60..]);
    cli(&["ingest", later.to_str().unwrap()]);
    cli(&["ingest", later.to_str().unwrap()]);
    let messages = server.messages(&python);
    assert_eq!(messages.len(), 2, "one alert for the local ingest");
    let plain = messages[1]["parts"][0]["text"].as_str().unwrap();
    assert!(plain.contains(second["title"].as_str().unwrap()), "{plain}");
}

/// A followed library: its papers join the profile at once, and when the file changes the
/// daemon brings the profile in step within a few seconds.
#[test]
fn a_followed_library_keeps_the_profile_in_step() {
    let Some(lines) = sample_lines(0, 40) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ingest_locally(home, &lines);
    let cli = |args: &[&str]| {
        let output = paperscout(home).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output
    };
    let arxiv = |i: usize| {
        let paper: Value = serde_json::from_str(&lines[i]).unwrap();
        paper["arxiv_id"].as_str().unwrap().to_owned()
    };
    let bib = |rows: &[usize]| {
        rows.iter()
            .map(|&i| {
                format!(
                    "@article{{p{i}, title = {{Paper {i}}}, eprint = {{{}}}, archivePrefix = {{arXiv}}}}\n",
                    arxiv(i)
                )
            })
            .collect::<String>()
    };
    let library = home.join("library.bib");
    std::fs::write(&library, bib(&[5, 6])).unwrap();
    let profile = write_lines(home, "ada.txt", &[paper_id(&lines[2])]);
    cli(&["user", "add", "ada", "--papers", profile.to_str().unwrap()]);
    let followed = cli(&[
        "user",
        "follow",
        "ada",
        "--bibtex",
        library.to_str().unwrap(),
    ]);
    assert!(
        stderr(&followed).contains("2 papers joined the profile, 0 left it"),
        "{}",
        stderr(&followed)
    );
    let papers = || -> Vec<String> {
        let shown: Value =
            serde_json::from_slice(&cli(&["user", "show", "ada", "--json"]).stdout).unwrap();
        let mut ids: Vec<String> = shown["profile"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["subject"]["kind"] == "paper")
            .map(|item| item["subject"]["value"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let expect = |rows: &[usize]| {
        let mut ids: Vec<String> = rows.iter().map(|&i| paper_id(&lines[i])).collect();
        ids.sort();
        ids
    };
    assert_eq!(papers(), expect(&[2, 5, 6]));

    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    std::fs::write(&library, bib(&[6, 7])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while papers() != expect(&[2, 6, 7]) {
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            papers(),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let output = paperscout(home)
        .arg("--socket")
        .arg(&socket)
        .args(["user", "unfollow", "ada"])
        .arg(std::fs::canonicalize(&library).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: Value =
        serde_json::from_slice(&cli(&["user", "show", "ada", "--json"]).stdout).unwrap();
    assert!(shown["settings"].get("follows").is_none(), "{shown}");
    drop(daemon);
}
