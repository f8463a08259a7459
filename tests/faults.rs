//! Regression tests for the defects found by attacking the release binary (issue 25): each
//! reproduces its attack against a real `paperscout` process and checks what must hold.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::{Daemon, ingest_locally};
use crate::util::{paper_id, paperscout, sample_lines, stderr, write_lines};

/// The users' digest folders holding today's digest.
fn done_today(outbox: &Path, users: &[String], today: &str) -> usize {
    users
        .iter()
        .filter(|user| outbox.join(user).join(format!("{today}.json")).is_file())
        .count()
}

/// Defect 2: a `kill -9` in the middle of the scheduler's daily round sent users a second
/// and third digest the same day, each renamed over the day's files, so papers recorded as
/// sent were in no file. Kills land while the round is running (after the 2nd, 5th, 8th and
/// 10th user's digest); afterwards every user has exactly one digest of the day, and every
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
    std::fs::create_dir_all(home.join("config/paperscout")).unwrap();
    std::fs::write(
        home.join("config/paperscout/config.toml"),
        "[schedule]\ndigest_at = \"00:00\"\ndigest_days = 4000\ndigest_size = 3\n\
         poll_seconds = 1\n",
    )
    .unwrap();
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
    for kill_after in [2, 5, 8, 10] {
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
