//! Regression tests for the defects found by attacking the release binary (issue 25): each
//! reproduces its attack against a real `paperscout` process and checks what must hold.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::{Daemon, ingest_locally};
use crate::util::{paper_id, paperscout, sample_lines, stderr, write_config, write_lines};

/// The users' digest folders holding today's digest.
fn done_today(outbox: &Path, users: &[String], today: &str) -> usize {
    users
        .iter()
        .filter(|user| outbox.join(user).join(format!("{today}.json")).is_file())
        .count()
}

/// Defect 2: a `kill -9` in the middle of the scheduler's daily round sent users a second
/// and third digest the same day, each renamed over the day's files, so papers recorded as
/// sent were in no file. Kills land while the round is running (by default after the 1st,
/// 3rd, 6th and 8th user's digest); afterwards every user has exactly one digest of the day, and every
/// paper recorded as sent to them is in it.
#[test]
fn a_crash_mid_round_sends_no_one_a_second_digest() {
    // Papers of nine days, so that a second digest of the day would find new ones.
    let Some(sample) = sample_lines(0, 2000) else {
        return;
    };
    let lines: Vec<String> = sample.into_iter().step_by(25).collect();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ingest_locally(home, &lines);
    let users: Vec<String> = (0..12).map(|n| format!("user{n:02}")).collect();
    for (n, user) in users.iter().enumerate() {
        let profile = write_lines(
            home,
            &format!("{user}.txt"),
            &[paper_id(&lines[n * 5]), paper_id(&lines[n * 5 + 2])],
        );
        let output = paperscout(home)
            .args(["user", "add", user, "--papers", profile.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    write_config(
        home,
        "[schedule]\ndigest_at = \"00:00\"\ndigest_days = 4000\ndigest_size = 3\n\
         poll_seconds = 1\n",
    );
    let socket = home.join("paperscout.sock");
    let outbox = home.join("data/paperscout/digests");
    let today = chrono::Local::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let wait_until = |daemon: &Daemon, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while done_today(&outbox, &users, &today) < count {
            assert!(
                Instant::now() < deadline,
                "{count} digests never came:\n{}",
                daemon.log_text()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    // PAPERSCOUT_CRASH_KILLS=20 kills twenty times, spread over the round, for the figure in
    // the closing note; four keep `make test` short.
    let kills: usize = std::env::var("PAPERSCOUT_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    let positions: Vec<usize> = (0..kills)
        .map(|kill| 1 + kill * (users.len() - 2) / kills.max(1))
        .collect();
    for kill_after in positions {
        let daemon = Daemon::spawn(home, &socket, &[]);
        wait_until(&daemon, kill_after);
        daemon.kill_9();
    }
    let mut daemon = Daemon::start(home, &socket, &[]);
    wait_until(&daemon, users.len());
    // Two more rounds, in which nothing may be sent.
    std::thread::sleep(Duration::from_millis(2500));
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(daemon.wait(Duration::from_secs(60)).success());

    for user in &users {
        let folder = outbox.join(user);
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [format!("{today}.json"), format!("{today}.md")],
            "{user}: one digest of the day, nothing pending"
        );
        let digest: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join(&names[0])).unwrap())
                .unwrap();
        let in_file = digest["papers"].as_array().unwrap().len();
        let shown = paperscout(home)
            .args(["user", "show", user, "--json"])
            .output()
            .unwrap();
        assert!(shown.status.success(), "{}", stderr(&shown));
        let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(
            shown["sent"], in_file,
            "{user}: every paper recorded as sent is in the day's file"
        );
        assert_eq!(in_file, 3, "{user}");
    }
}

/// Defect 3: user names were paths. Names that would leave the outbox, hide, read as flags or
/// forge log lines are refused by the command line and over the socket, and nothing is
/// created for them.
#[test]
fn names_that_are_paths_are_refused_everywhere() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let escape = home.join("escaped");
    let hostile = [
        "..".to_owned(),
        ".".to_owned(),
        String::new(),
        escape.display().to_string(),
        "../../x".to_owned(),
        "ada\nINFO forged line".to_owned(),
        "esc\u{1b}[31m".to_owned(),
        "x".repeat(10_000),
    ];
    for name in &hostile {
        let output = paperscout(home)
            .args(["user", "add", "--", name])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("ASCII letters, digits"),
            "{name:?}: {}",
            stderr(&output)
        );
    }
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    for name in &hostile {
        let answer = daemon.ask(&json!({"op": "user", "action": "add", "name": name}));
        assert_eq!(answer["error"]["code"], "bad_request", "{name:?}: {answer}");
    }
    let listed = daemon.ask(&json!({"op": "user", "action": "list"}));
    assert_eq!(listed["ok"], true, "{listed}");
    assert_eq!(listed["result"], json!([]), "{listed}");
    assert!(!escape.exists());
    let added = daemon.ask(&json!({"op": "user", "action": "add", "name": "ada.lovelace"}));
    assert_eq!(added["ok"], true, "{added}");
}

/// An arXiv API feed whose one entry nests `depth` elements, then an ordinary entry.
fn deep_atom(depth: usize) -> String {
    format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>http://arxiv.org/abs/2503.00001v1\
         </id><title>Deep</title><summary>{}x{}</summary></entry></feed>\n",
        "<b>".repeat(depth),
        "</b>".repeat(depth)
    )
}

/// Defect 1: a 280 KB feed with one entry nested 40,000 levels deep overflowed the daemon's
/// stack, through a socket `ingest` or the watched folder, where the file stayed and killed
/// it at every restart; the command line died at a million levels. Now the entry is reported
/// as bad, the daemon answers on, and the watched file goes to `failed/`.
#[test]
fn deeply_nested_xml_is_a_bad_record_not_a_crash() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let deep = home.join("deep.atom");
    std::fs::write(&deep, deep_atom(40_000)).unwrap();
    let incoming = home.join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    write_config(
        home,
        &format!(
            "[schedule]\nwatch = {:?}\npoll_seconds = 1\n",
            incoming.display().to_string()
        ),
    );
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    let answer = daemon.ask(&json!({"op": "ingest", "path": deep}));
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["result"]["report"]["bad"], 1, "{answer}");
    let reason = answer["result"]["bad_records"][0]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("nested more than 64"), "{answer}");

    std::fs::copy(&deep, incoming.join("deep.atom")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !incoming.join("failed/deep.atom").exists() {
        assert!(
            Instant::now() < deadline,
            "not moved:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(daemon.ask(&json!({"op": "health"}))["ok"], true);
    drop(daemon);

    // A file left in ingesting/ by a daemon that died reading it goes to failed/ at start.
    std::fs::create_dir_all(incoming.join("ingesting")).unwrap();
    std::fs::write(incoming.join("ingesting/killer.atom"), deep_atom(3)).unwrap();
    let daemon = Daemon::start(home, &socket, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !incoming.join("failed/killer.atom").exists() {
        assert!(
            Instant::now() < deadline,
            "not moved:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(daemon);

    // The command line, a million levels deep.
    std::fs::write(&deep, deep_atom(1_000_000)).unwrap();
    let output = paperscout(home)
        .args(["ingest", deep.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["total"]["bad"], 1, "{report}");
}

/// Defect 4: a 1 MB gzip expanding to one 1 GB line drove the daemon to 3.2 GB. Now the
/// expansion is refused past 64 MiB and the line is never held: the daemon's peak memory grows
/// by far less than the line.
#[test]
fn a_gzipped_gigabyte_line_does_not_take_the_daemons_memory() {
    use std::io::Write;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let bomb = home.join("bomb.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&bomb).unwrap(),
        flate2::Compression::best(),
    );
    encoder
        .write_all(br#"{"id": "arXiv:2503.00001", "title": "T", "abstract": ""#)
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.write_all(b"\"}\n").unwrap();
    encoder.finish().unwrap();
    let socket = home.join("paperscout.sock");
    let daemon = Daemon::start(home, &socket, &[]);
    let before = daemon.peak_kib();
    let answer = daemon.ask(&json!({"op": "ingest", "path": bomb}));
    assert_eq!(answer["ok"], false, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("decompression bomb"), "{answer}");
    let grown_mib = (daemon.peak_kib().saturating_sub(before)) / 1024;
    eprintln!(
        "peak memory {} MiB before the 1 GB gzip, {} MiB after (+{grown_mib} MiB)",
        before / 1024,
        daemon.peak_kib() / 1024
    );
    assert!(grown_mib < 64, "the daemon's peak grew by {grown_mib} MiB");
    assert_eq!(daemon.ask(&json!({"op": "health"}))["ok"], true);
}
