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
use crate::util::{
    ingest_lines, one_digest_of_the_day, paper_id, paperscout, sample_lines, stderr, write_config,
    write_lines,
};

/// Runs the binary against the database at `url`.
fn on_database(home: &Path, url: &str, args: &[&str]) -> Output {
    paperscout(home)
        .env("PAPERSCOUT_STORE_URL", url)
        .args(args)
        .output()
        .expect("paperscout runs")
}

/// A home folder and a new database on the shared test server holding `count` sample papers
/// from `skip` on; `None` where PostgreSQL or the shared data is absent.
fn database_with(skip: usize, count: usize) -> Option<(tempfile::TempDir, String, Vec<String>)> {
    let server = TestPostgres::shared()?;
    let lines = sample_lines(skip, count)?;
    let home = tempfile::tempdir().unwrap();
    let url = server.new_database();
    ingest_into(home.path(), &url, &lines);
    Some((home, url, lines))
}

/// Ingests JSON-line papers into the database at `url` with the command line.
fn ingest_into(home: &Path, url: &str, lines: &[String]) {
    let file = write_lines(home, "papers.jsonl", lines);
    succeeded(
        &on_database(home, url, &["ingest", file.to_str().unwrap()]),
        "ingest",
    );
}

fn succeeded(output: &Output, what: &str) -> Value {
    assert!(output.status.success(), "{what}: {}", stderr(output));
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

#[test]
fn the_command_line_and_the_daemon_keep_everything_in_postgresql() {
    let Some((home, url, lines)) = database_with(0, 40) else {
        return;
    };
    let home = home.path();
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

/// The ids in an answer's `hits` (similar) or `papers` (recommend); none for an error answer,
/// which a poll takes as "not yet".
fn ids_in(answer: &Value, list: &str) -> Vec<String> {
    answer["result"][list]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["id"].as_str().map(str::to_owned))
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
    ingest_into(home_a, &url, &lines[..40]);
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
        answer["ok"] == true
            && ids_in(&answer, "hits")
                .iter()
                .any(|id| ids[42..].contains(id))
    });
    let found = found.unwrap_or_else(|| panic!("B never found A's papers:\n{}", b.log_text()));
    eprintln!("B found the papers ingested through A after {found:?}");

    // A cross-listing through A (a known paper in one more category, no new text) reaches B's
    // catalogue and its filters.
    let mut cross: Value = serde_json::from_str(&lines[45]).unwrap();
    cross["categories"] = json!(["math.OC"]);
    let crossed = a.ask(&json!({"op": "ingest", "papers": [cross]}));
    assert_eq!(crossed["ok"], true, "{crossed}");
    let filtered = within(Duration::from_secs(10), || {
        let answer = b.ask(&json!({"op": "similar", "query": ids[41], "k": 5,
                                   "categories": ["math.OC"]}));
        ids_in(&answer, "hits").contains(&ids[45])
    });
    assert!(
        filtered.is_some(),
        "B never saw the cross-listing:\n{}",
        b.log_text()
    );

    // A user made through A exists on B; a dislike through B changes A's next picks.
    let added = a.ask(&json!({"op": "user", "action": "add", "name": "ada",
                              "papers": [ids[0], ids[1], ids[2]]}));
    assert_eq!(added["ok"], true, "{added}");
    let before = a.ask(&json!({"op": "recommend", "user": "ada", "n": 5, "days": 3650}));
    let before = ids_in(&before, "papers");
    assert_eq!(before.len(), 5, "{before:?}");
    let disliked = b.ask(
        &json!({"op": "feedback", "user": "ada", "papers": [before[0]],
                                 "kind": "dislike"}),
    );
    assert_eq!(disliked["ok"], true, "{disliked}");
    let after = ids_in(
        &a.ask(&json!({"op": "recommend", "user": "ada", "n": 5, "days": 3650})),
        "papers",
    );
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
    // `status` says it in words.
    let status = paperscout(home_a)
        .arg("--socket")
        .arg(home_a.join("run/a.sock"))
        .arg("status")
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let text = String::from_utf8_lossy(&status.stdout);
    let role = if a_leads {
        "this one leads the schedule"
    } else {
        "this one follows the schedule"
    };
    assert!(text.contains("2 daemons") && text.contains(role), "{text}");
    assert!(text.contains(" behind, seen "), "{text}");
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
    ingest_into(home, &url, &lines);
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

/// The leading daemon dies in the middle of a scheduled digest round (right after recording
/// a user's digest, its files still pending in the outbox the daemons share): the other takes
/// over, settles the pending files and sends the rest; every user has that day's digest once,
/// every paper recorded as sent is in it.
#[test]
fn a_leader_killed_mid_round_hands_the_round_over_and_nothing_is_sent_twice() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let Some(sample) = sample_lines(0, 2000) else {
        return;
    };
    let lines: Vec<String> = sample.into_iter().step_by(25).collect();
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (home_a, home_b) = (home_a.path(), home_b.path());
    let url = server.new_database();
    ingest_into(home_a, &url, &lines);
    let outbox = home_a.join("shared-outbox");
    let config = format!(
        "[store]\nurl = {url:?}\n[schedule]\ndigest_at = \"00:00\"\ndigest_days = 4000\n\
         digest_size = 3\npoll_seconds = 1\noutbox = {:?}\n",
        outbox.display().to_string()
    );
    write_config(home_a, &config);
    write_config(home_b, &config);

    // A leads alone first, and is set to die after recording its first digest.
    let cluster =
        |daemon: &Daemon| daemon.ask(&json!({"op": "health"}))["result"]["cluster"].clone();
    let mut a = Daemon::spawn_with_env(
        home_a,
        &home_a.join("run/a.sock"),
        &[],
        &[("PAPERSCOUT_CRASH_AT", "outbox-recorded")],
    );
    a.wait_ready();
    assert!(
        within(Duration::from_secs(10), || cluster(&a)["leader"] == true).is_some(),
        "{}",
        a.log_text()
    );
    let b = Daemon::start(home_b, &home_b.join("run/b.sock"), &[]);
    // The cluster's part of `health` is there from B's first note in the database.
    assert!(
        within(Duration::from_secs(10), || !cluster(&b).is_null()).is_some(),
        "{}",
        b.log_text()
    );
    assert_eq!(cluster(&b)["leader"], false, "{}", cluster(&b));

    // The users arrive; A's next round sends the first digest, records it, and dies.
    let users: Vec<String> = (0..8).map(|n| format!("user{n}")).collect();
    for (n, user) in users.iter().enumerate() {
        let profile = write_lines(
            home_a,
            &format!("{user}.txt"),
            &[paper_id(&lines[n * 5]), paper_id(&lines[n * 5 + 2])],
        );
        succeeded(
            &on_database(
                home_a,
                &url,
                &["user", "add", user, "--papers", profile.to_str().unwrap()],
            ),
            "user add",
        );
    }
    let status = a.wait(Duration::from_secs(60));
    assert!(!status.success(), "A crashed as asked:\n{}", a.log_text());
    assert!(
        a.log_text().contains("crashing at outbox-recorded"),
        "{}",
        a.log_text()
    );

    let today = chrono::Local::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let store = PostgresStore::open_read_only(&url).unwrap();
    let all_delivered = within(Duration::from_secs(60), || {
        users
            .iter()
            .all(|user| store.delivered_on(user, &today).unwrap_or(false))
            && users
                .iter()
                .all(|user| outbox.join(user).join(format!("{today}.json")).is_file())
    });
    assert!(
        all_delivered.is_some(),
        "B never finished the round:\n{}",
        b.log_text()
    );
    assert_eq!(
        cluster(&b)["leader"],
        true,
        "{}\n{}",
        cluster(&b),
        b.log_text()
    );
    assert!(
        b.log_text()
            .contains("1 digests left pending by a crash were completed"),
        "B settled the digest A left pending:\n{}",
        b.log_text()
    );
    // Two more of B's rounds, in which nothing may be sent.
    std::thread::sleep(Duration::from_millis(2500));
    for user in &users {
        let in_file = one_digest_of_the_day(&outbox, user, &today);
        let mut sent = store.sent(user).unwrap();
        sent.sort();
        let mut in_file_sorted = in_file.clone();
        in_file_sorted.sort();
        assert_eq!(
            sent, in_file_sorted,
            "{user}: every paper recorded as sent is in the file"
        );
        assert_eq!(in_file.len(), 3, "{user}");
    }
}

/// Three re-rank workers share 10,000 users in shards; one dies after ranking a shard, before
/// handing it back (as `kill -9` would). Its shard is leased again once the lease ends; every
/// user is ranked exactly once, and the merged output is the single-process output, byte for
/// byte.
#[test]
fn sharded_rerank_workers_survive_a_killed_worker_and_match_a_single_run() {
    let Some((home, url, lines)) = database_with(300, 60) else {
        return;
    };
    let home = home.path();
    // 10,000 users, each following two of the papers, written straight into the tables.
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let ids: Vec<String> = lines.iter().map(|line| paper_id(line)).collect();
    client
        .execute(
            "INSERT INTO users (name, created)
             SELECT 'user' || lpad(g::text, 5, '0'), 1 FROM generate_series(0, 9999) g",
            &[],
        )
        .unwrap();
    client
        .execute(
            "INSERT INTO profile_items (user_id, paper_id, weight, added)
             SELECT u.id, ($1::text[])[1 + (u.id * k) % 60], 1.0, k
             FROM users u, generate_series(1, 2) k",
            &[&ids],
        )
        .unwrap();

    let rank = ["--method", "centroid", "--top", "5"];
    let single = home.join("single.jsonl");
    let mut args = vec!["rerank", "--out", single.to_str().unwrap()];
    args.extend(rank);
    succeeded(&on_database(home, &url, &args), "single rerank");

    let mut args = vec!["rerank", "--shards", "6"];
    args.extend(rank);
    let created = on_database(home, &url, &args);
    assert!(created.status.success(), "{}", stderr(&created));
    let run = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(run.parse::<i64>().is_ok(), "{run}");

    let worker = |name: &str, crash: bool| {
        let out = home.join(format!("{name}.jsonl"));
        let mut command = paperscout(home);
        command
            .env("PAPERSCOUT_STORE_URL", &url)
            .args([
                "rerank",
                "--worker",
                "--run",
                &run,
                "--lease-seconds",
                "3",
                "--out",
            ])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if crash {
            command.env("PAPERSCOUT_CRASH_AT", "rerank-shard-ranked");
        }
        (command.spawn().unwrap(), out)
    };
    // Three at once; one dies after ranking its first shard.
    let (doomed, _) = worker("doomed", true);
    let workers: Vec<_> = (0..2)
        .map(|n| worker(&format!("worker{n}"), false))
        .collect();
    let doomed = doomed.wait_with_output().unwrap();
    assert!(
        !doomed.status.success(),
        "the doomed worker crashed: {}",
        stderr(&doomed)
    );
    assert!(stderr(&doomed).contains("crashing at rerank-shard-ranked"));
    let mut merged = Vec::new();
    for (child, out) in workers {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        merged.push(std::fs::read(out).unwrap());
    }
    let single = std::fs::read(&single).unwrap();
    for output in &merged {
        assert!(output == &single, "the merged output is the single run's");
    }
    let users: Vec<String> = String::from_utf8_lossy(&single)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["user"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let distinct: std::collections::HashSet<&String> = users.iter().collect();
    assert_eq!((users.len(), distinct.len()), (10_000, 10_000));
}
