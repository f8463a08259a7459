//! `paperscout rerank`: the batch equals the daemon's `recommend`, and a killed run resumes.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{ingest_lines, paper_id, paperscout, sample_lines, stderr};

fn setup(home: &Path, papers: usize, users: usize) -> Option<Vec<String>> {
    let lines = sample_lines(0, papers)?;
    ingest_lines(home, "papers.jsonl", &lines);
    let ids: Vec<String> = lines.iter().map(|l| paper_id(l)).collect();
    for user in 0..users {
        let profile = home.join(format!("user{user}.txt"));
        let mine: Vec<&str> = (0..3)
            .map(|i| ids[(user * 7 + i * 31) % ids.len()].as_str())
            .collect();
        std::fs::write(&profile, mine.join("\n")).unwrap();
        let name = format!("user{user:03}");
        let mut command = paperscout(home);
        command.args(["user", "add", &name, "--papers", profile.to_str().unwrap()]);
        if user % 3 == 0 {
            command.args(["--interest", "robot learning from demonstrations"]);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        if user % 4 == 1 {
            let disliked = &ids[(user * 13 + 5) % ids.len()];
            let output = paperscout(home)
                .args(["dislike", &name, disliked])
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
        }
    }
    Some(ids)
}

fn rerank(home: &Path, out: &Path, extra: &[&str]) -> std::process::Command {
    let mut command = paperscout(home);
    command
        .args([
            "--quiet",
            "rerank",
            "--candidates",
            "all",
            "--top",
            "8",
            "--out",
        ])
        .arg(out)
        .args(extra);
    command
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_batch_ranks_every_user_as_the_daemon_recommends() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    if setup(home, 150, 6).is_none() {
        return;
    }
    let out = home.join("ranked.jsonl");
    let output = rerank(home, &out, &["--block-users", "4"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let batch = read_lines(&out);
    assert_eq!(batch.len(), 6);

    // The centroid method: best first, never a paper of the user's own profile.
    let centroid = home.join("centroid.jsonl");
    let output = rerank(home, &centroid, &["--method", "centroid"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for (ranked, user) in read_lines(&centroid).iter().zip(0..) {
        let papers = ranked["papers"].as_array().unwrap();
        assert_eq!(papers.len(), 8, "{ranked}");
        let scores: Vec<f64> = papers
            .iter()
            .map(|p| p["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        let own = std::fs::read_to_string(home.join(format!("user{user}.txt"))).unwrap();
        for paper in papers {
            assert!(
                !own.contains(paper["id"].as_str().unwrap()),
                "offered its own paper"
            );
            assert!(!paper["because"]["item"].as_str().unwrap().is_empty());
        }
    }

    // The daemon's `recommend` over a window holding every paper.
    let socket = home.join("paperscout.sock");
    /// Kills the daemon however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _daemon = Killed(
        paperscout(home)
            .arg("--socket")
            .arg(&socket)
            .args(["serve", "--foreground"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ask = |request: &Value| -> Value {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.write_all(format!("{request}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    };
    for ranked in &batch {
        let user = ranked["user"].as_str().unwrap();
        let online =
            ask(&json!({"op": "recommend", "user": user, "n": 8, "days": 3650, "flat": true}));
        assert_eq!(online["ok"], true, "{online}");
        let online = &online["result"];
        assert_eq!(online["candidates"], ranked["candidates"], "{user}");
        let (a, b) = (
            online["papers"].as_array().unwrap(),
            ranked["papers"].as_array().unwrap(),
        );
        assert_eq!(a.len(), 8);
        assert_eq!(a.len(), b.len(), "{user}");
        for (online, batch) in a.iter().zip(b) {
            assert_eq!(online["id"], batch["id"], "{user}: the order differs");
            let (x, y) = (
                online["score"].as_f64().unwrap(),
                batch["score"].as_f64().unwrap(),
            );
            assert!(
                (x - y).abs() <= 1e-5,
                "{user}: {x} online, {y} in the batch"
            );
            let (online, batch) = (&online["because"], &batch["because"]);
            assert_eq!(online["item"], batch["item"], "{user}");
            assert_eq!(online["reason"], batch["reason"], "{user}");
            assert_eq!(online["shared_terms"], batch["shared_terms"], "{user}");
            let (x, y) = (
                online["similarity"].as_f64().unwrap(),
                batch["similarity"].as_f64().unwrap(),
            );
            assert!(
                (x - y).abs() <= 1e-6,
                "{user}: similarity {x} online, {y} in the batch"
            );
        }
    }
}

#[test]
fn a_killed_rerank_resumes_where_it_stopped_and_writes_the_same() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    if setup(home, 120, 30).is_none() {
        return;
    }
    let reference = home.join("reference.jsonl");
    let output = rerank(home, &reference, &["--block-users", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = std::fs::read(&reference).unwrap();
    assert_eq!(read_lines(&reference).len(), 30);
    assert!(!home.join("reference.jsonl.checkpoint").exists());

    // A real kill -9, as soon as the first checkpoint shows.
    let out = home.join("ranked.jsonl");
    let checkpoint = home.join("ranked.jsonl.checkpoint");
    let mut child = rerank(home, &out, &["--block-users", "3"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        if let Some(job) = std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            break job["job"].clone();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint was seen"
        );
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    // Whatever that hit, then the worst case by hand: a checkpoint after 4 blocks and half a
    // line written after it.
    let lines: Vec<&[u8]> = expected.split_inclusive(|&b| b == b'\n').collect();
    let kept: usize = lines[..12].iter().map(|l| l.len()).sum();
    let mut partial = expected[..kept].to_vec();
    partial.extend_from_slice(&lines[12][..lines[12].len() / 2]);
    std::fs::write(&out, &partial).unwrap();
    std::fs::write(
        &checkpoint,
        json!({"job": job, "users_done": 12, "bytes": kept}).to_string(),
    )
    .unwrap();
    let output = rerank(home, &out, &["--block-users", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected,
        "the resumed output differs"
    );
    assert!(
        !checkpoint.exists(),
        "the checkpoint goes when the run completes"
    );

    // A checkpoint of another run is not taken for this one's.
    std::fs::write(
        &checkpoint,
        json!({"job": "users=all top=3", "users_done": 1, "bytes": 10}).to_string(),
    )
    .unwrap();
    let output = rerank(home, &out, &[]).output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("belongs to another run"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_stored_rerank_becomes_each_users_current_recommendations() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    if setup(home, 80, 5).is_none() {
        return;
    }
    let output = paperscout(home)
        .args(["recommend", "--user", "user001", "--stored"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "nothing stored: missing");
    assert!(
        stderr(&output).contains("run `paperscout rerank --users all --store"),
        "{}",
        stderr(&output)
    );
    let out = home.join("ranked.jsonl");
    let output = rerank(home, &out, &["--block-users", "2", "--store"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for line in read_lines(&out) {
        let user = line["user"].as_str().unwrap();
        let output = paperscout(home)
            .args(["recommend", "--user", user, "--stored", "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let stored: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(stored["method"], "hybrid");
        let (kept, ranked) = (
            stored["papers"].as_array().unwrap(),
            line["papers"].as_array().unwrap(),
        );
        assert_eq!(kept.len(), ranked.len().min(10), "{user}");
        for (kept, ranked) in kept.iter().zip(ranked) {
            assert_eq!(kept["id"], ranked["id"], "{user}");
            assert_eq!(kept["title"], ranked["title"], "{user}");
            assert!(
                (kept["score"].as_f64().unwrap() - ranked["score"].as_f64().unwrap()).abs() < 1e-6
            );
            assert_eq!(kept["because"], ranked["because"], "{user}");
        }
    }
    // The text form names the method and explains each paper.
    let output = paperscout(home)
        .args(["recommend", "--user", "user002", "--stored", "-n", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("ranked by hybrid"), "{text}");
    assert_eq!(text.matches("Because").count(), 3, "{text}");
}
