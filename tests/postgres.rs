//! paperscout on PostgreSQL as a user runs it: the command line and the daemon with
//! `--store-url`, and a SQLite store moved over with `store copy`. A real server, started by the
//! test (see `paperscout_store::testing`).

use std::path::Path;
use std::process::Output;

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
