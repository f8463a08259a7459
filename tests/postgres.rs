//! paperscout on PostgreSQL as a user runs it: the command line and the daemon with
//! `--store-url`, and a SQLite store moved over with `store copy`. A real server, started by the
//! test (see `paperscout_store::testing`).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use paperscout_store::testing::TestPostgres;
use paperscout_store::{PostgresStore, Store};
use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::util::{ingest_lines, paper_id, paperscout, sample_lines, stderr, write_lines};

/// Runs the binary against the database at `url`.
fn on_database(home: &Path, url: &str, args: &[&str]) -> Output {
    paperscout(home)
        .env("PAPERSCOUT_STORE_URL", url)
        .args(args)
        .output()
        .expect("paperscout runs")
}

fn succeeded(output: &Output, what: &str) -> Value {
    assert!(output.status.success(), "{what}: {}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

#[test]
fn the_command_line_and_the_daemon_keep_everything_in_postgresql() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let Some(lines) = sample_lines(0, 40) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let url = server.new_database();
    let file = write_lines(home, "papers.jsonl", &lines);
    succeeded(
        &on_database(home, &url, &["ingest", file.to_str().unwrap()]),
        "ingest",
    );
    let ids: Vec<String> = lines.iter().map(|line| paper_id(line)).collect();
    let profile = write_lines(home, "ada.txt", &[ids[0].clone(), ids[5].clone()]);
    succeeded(
        &on_database(
            home,
            &url,
            &["user", "add", "ada", "--papers", profile.to_str().unwrap()],
        ),
        "user add",
    );
    let stats = succeeded(&on_database(home, &url, &["stats", "--json"]), "stats");
    assert_eq!(
        (stats["papers"].as_u64(), stats["users"].as_u64()),
        (Some(40), Some(1))
    );
    assert_eq!(stats["embeddings"].as_u64(), Some(40), "{stats}");
    assert!(
        stats["path"]
            .as_str()
            .unwrap()
            .starts_with("postgres://paperscout@127.0.0.1"),
        "{stats}"
    );
    assert!(
        !home.join("data/paperscout/paperscout.sqlite3").exists(),
        "no SQLite file beside a PostgreSQL store"
    );

    // The daemon serves from the database, and what it writes lands there.
    let socket = home.join("run/paperscout.sock");
    let daemon = Daemon::start(home, &socket, &["--store-url", &url]);
    let similar = daemon.ask(&json!({"op": "similar", "query": ids[7], "k": 5}));
    assert_eq!(similar["ok"], true, "{similar}");
    assert_eq!(similar["result"]["hits"].as_array().map(Vec::len), Some(5));
    let liked =
        daemon.ask(&json!({"op": "feedback", "user": "ada", "papers": [ids[9]], "kind": "like"}));
    assert_eq!(liked["ok"], true, "{liked}");
    let picks = daemon.ask(&json!({"op": "recommend", "user": "ada", "n": 3}));
    assert_eq!(picks["ok"], true, "{picks}");
    assert_eq!(
        picks["result"]["papers"].as_array().map(Vec::len),
        Some(3),
        "{picks}"
    );
    drop(daemon);

    let store = PostgresStore::open_read_only(&url).unwrap();
    let feedback = store.feedback("ada").unwrap();
    assert_eq!(feedback.len(), 1, "{feedback:?}");
    assert_eq!(feedback[0].paper_id, ids[9]);
}

#[test]
fn store_copy_moves_a_sqlite_store_into_an_empty_database_only() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let Some(lines) = sample_lines(40, 20) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ingest_lines(home, "papers.jsonl", &lines);
    let profile = write_lines(home, "ada.txt", &[paper_id(&lines[0])]);
    let added = paperscout(home)
        .args(["user", "add", "ada", "--papers", profile.to_str().unwrap()])
        .output()
        .unwrap();
    succeeded(&added, "user add");

    let url = server.new_database();
    let copied = paperscout(home)
        .args(["store", "copy", "--to", &url, "--json"])
        .output()
        .unwrap();
    let copied = succeeded(&copied, "store copy");
    let rows = |table: &str| {
        copied["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["table"] == table)
            .and_then(|row| row["rows"].as_u64())
    };
    assert_eq!(
        (rows("papers"), rows("embeddings"), rows("users")),
        (Some(20), Some(20), Some(1))
    );
    assert_eq!(rows("profile_items"), Some(1), "{copied}");

    let stats = succeeded(&on_database(home, &url, &["stats", "--json"]), "stats");
    assert_eq!(
        (stats["papers"].as_u64(), stats["users"].as_u64()),
        (Some(20), Some(1))
    );
    let shown = succeeded(
        &on_database(home, &url, &["user", "show", "ada", "--json"]),
        "user show",
    );
    assert_eq!(
        shown["profile"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );

    // Once more into the same database: refused, with what to do.
    let again = paperscout(home)
        .args(["store", "copy", "--to", &url])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("empty database"),
        "{}",
        stderr(&again)
    );
    let not_a_url = paperscout(home)
        .args(["store", "copy", "--to", "/tmp/elsewhere.sqlite3"])
        .output()
        .unwrap();
    assert_eq!(not_a_url.status.code(), Some(2), "{}", stderr(&not_a_url));
    assert!(
        stderr(&not_a_url).contains("postgres://"),
        "{}",
        stderr(&not_a_url)
    );
}

/// Waits up to `limit` for `check` to hold, returning how long it took.
fn within(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn hit_ids(answer: &Value) -> Vec<String> {
    answer["result"]["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .filter_map(|hit| hit["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn pick_ids(answer: &Value) -> Vec<String> {
    answer["result"]["papers"]
        .as_array()
        .map(|picks| {
            picks
                .iter()
                .filter_map(|pick| pick["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Two daemons, each with its own data directory and index, on one database: what one takes
/// in the other finds, what a user does through one holds on the other, one of them leads,
/// and when the leader is killed the other takes over.
#[test]
fn two_daemons_on_one_database_serve_as_one() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let Some(lines) = sample_lines(100, 60) else {
        return;
    };
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (home_a, home_b) = (home_a.path(), home_b.path());
    let url = server.new_database();
    let first = write_lines(home_a, "first.jsonl", &lines[..40]);
    succeeded(
        &on_database(home_a, &url, &["ingest", first.to_str().unwrap()]),
        "ingest",
    );
    let ids: Vec<String> = lines.iter().map(|line| paper_id(line)).collect();
    let store_url = ["--store-url", url.as_str()];
    let mut a = Daemon::start(home_a, &home_a.join("run/a.sock"), &store_url);
    let mut b = Daemon::start(home_b, &home_b.join("run/b.sock"), &store_url);

    // Papers ingested through A are found by `similar` on B.
    let later: Vec<Value> = lines[40..]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ingested = a.ask(&json!({"op": "ingest", "papers": later}));
    assert_eq!(ingested["ok"], true, "{ingested}");
    let found = within(Duration::from_secs(10), || {
        let answer = b.ask(&json!({"op": "similar", "query": ids[41], "k": 20}));
        answer["ok"] == true && hit_ids(&answer).iter().any(|id| ids[42..].contains(id))
    });
    let found = found.unwrap_or_else(|| panic!("B never found A's papers:\n{}", b.log_text()));
    eprintln!("B found the papers ingested through A after {found:?}");

    // A user made through A exists on B; a dislike through B changes A's next picks.
    let added = a.ask(&json!({"op": "user", "action": "add", "name": "ada",
                              "papers": [ids[0], ids[1], ids[2]]}));
    assert_eq!(added["ok"], true, "{added}");
    let before = a.ask(&json!({"op": "recommend", "user": "ada", "n": 5, "days": 3650}));
    let before = pick_ids(&before);
    assert_eq!(before.len(), 5, "{before:?}");
    let disliked = b.ask(
        &json!({"op": "feedback", "user": "ada", "papers": [before[0]],
                                 "kind": "dislike"}),
    );
    assert_eq!(disliked["ok"], true, "{disliked}");
    let after = pick_ids(&a.ask(&json!({"op": "recommend", "user": "ada", "n": 5, "days": 3650})));
    assert!(!after.contains(&before[0]), "{before:?} then {after:?}");

    // Exactly one leads; both see each other.
    let cluster =
        |daemon: &Daemon| daemon.ask(&json!({"op": "health"}))["result"]["cluster"].clone();
    let both_seen = within(Duration::from_secs(20), || {
        let seen = cluster(&a);
        seen["daemons"].as_array().is_some_and(|daemons| {
            daemons.len() == 2
                && daemons
                    .iter()
                    .filter(|daemon| daemon["leader"] == true)
                    .count()
                    == 1
        })
    });
    assert!(both_seen.is_some(), "{}", cluster(&a));
    let a_leads = cluster(&a)["leader"] == true;
    assert_ne!(a_leads, cluster(&b)["leader"] == true, "one leader");

    // The leader killed, the other takes over within 30 s.
    let (leader, other) = if a_leads { (&mut a, &b) } else { (&mut b, &a) };
    leader.signal(nix::sys::signal::Signal::SIGKILL);
    leader.wait(Duration::from_secs(10));
    let took_over = within(Duration::from_secs(30), || cluster(other)["leader"] == true);
    let took_over = took_over.unwrap_or_else(|| panic!("no takeover:\n{}", other.log_text()));
    eprintln!("the other daemon led {took_over:?} after the leader was killed");
}

/// The database restarted under a running daemon: requests that need it fail with
/// `unavailable` meanwhile and write nothing; then the daemon serves again by itself.
#[test]
fn a_daemon_outlives_a_restart_of_its_database() {
    let Some(lines) = sample_lines(200, 20) else {
        return;
    };
    let Some(server) = TestPostgres::start() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let url = server.new_database();
    let file = write_lines(home, "papers.jsonl", &lines);
    succeeded(
        &on_database(home, &url, &["ingest", file.to_str().unwrap()]),
        "ingest",
    );
    let ids: Vec<String> = lines.iter().map(|line| paper_id(line)).collect();
    let daemon = Daemon::start(home, &home.join("run/d.sock"), &["--store-url", &url]);
    let show = |name: &str| daemon.ask(&json!({"op": "user", "action": "show", "name": name}));
    let added =
        daemon.ask(&json!({"op": "user", "action": "add", "name": "ada", "papers": [ids[0]]}));
    assert_eq!(added["ok"], true, "{added}");

    server.stop();
    let down = show("ada");
    assert_eq!(down["error"]["code"], "unavailable", "{down}");
    let message = down["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("check that PostgreSQL runs"), "{message}");
    let refused =
        daemon.ask(&json!({"op": "user", "action": "add", "name": "alan", "papers": [ids[1]]}));
    assert_eq!(refused["error"]["code"], "unavailable", "{refused}");
    // The index needs no database: similar by id still answers.
    let similar = daemon.ask(&json!({"op": "similar", "query": ids[2], "k": 3}));
    assert_eq!(similar["ok"], true, "{similar}");

    server.start_again();
    let back = show("ada");
    assert_eq!(back["ok"], true, "{back}\n{}", daemon.log_text());
    assert_eq!(
        show("alan")["error"]["code"],
        "not_found",
        "the refused add left nothing"
    );
    let again =
        daemon.ask(&json!({"op": "user", "action": "add", "name": "alan", "papers": [ids[1]]}));
    assert_eq!(again["ok"], true, "{again}");
}
