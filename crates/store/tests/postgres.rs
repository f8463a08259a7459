//! What only the PostgreSQL store has: several processes writing to one database, a copy of a
//! SQLite store into it, a server that restarts under an open store. Each test runs on a real
//! server (`make test` installs PostgreSQL when missing).

use std::sync::{Arc, Barrier};

mod common;

use paperscout_store::testing::TestPostgres;
use paperscout_store::{
    Channel, Delivery, Feedback, FeedbackKind, MemoryStore, ModelKey, NewMail, PostgresStore,
    ProfileItem, ProfileSubject, Recommendation, SqliteStore, Store, StoreError,
    StoredRecommendations, copy_sqlite_to_postgres,
};
use paperscout_types::{Paper, UserSettings};

/// The model every test here stores vectors under.
fn model() -> ModelKey {
    common::model("m")
}

/// Writes papers with their vectors; a failure fails the test.
fn write(store: &mut dyn Store, papers: &[(&Paper, Option<&[f32]>)], now: i64) {
    common::write(store, papers, now).expect("write papers");
}

use common::paper;

/// Everything a store holds that the trait hands back, for comparing two stores.
#[derive(Debug, PartialEq)]
struct Contents {
    papers: Vec<paperscout_store::StoredPaper>,
    embeddings: Vec<(String, Vec<f32>)>,
    users: Vec<paperscout_store::User>,
    per_user: Vec<PerUser>,
    outbox: Vec<paperscout_store::QueuedMail>,
}

#[derive(Debug, PartialEq)]
struct PerUser {
    profile: Vec<ProfileItem>,
    feedback: Vec<Feedback>,
    sent: Vec<String>,
    last_delivery: Option<String>,
    recommendations: Option<StoredRecommendations>,
}

fn contents(store: &dyn Store) -> Contents {
    let mut embeddings = Vec::new();
    store
        .for_each_embedding(&model(), &mut |id, vector| {
            embeddings.push((id.to_owned(), vector.to_vec()));
        })
        .expect("embeddings");
    let users = store.users().expect("users");
    let per_user = users
        .iter()
        .map(|user| PerUser {
            profile: store.profile(&user.name).expect("profile"),
            feedback: store.feedback(&user.name).expect("feedback"),
            sent: store.sent(&user.name).expect("sent"),
            last_delivery: store.last_delivery(&user.name).expect("last delivery"),
            recommendations: store.recommendations(&user.name).expect("recommendations"),
        })
        .collect();
    Contents {
        papers: store
            .papers_announced("0000-01-01", "9999-12-31")
            .expect("papers"),
        embeddings,
        users,
        per_user,
        outbox: store.undelivered_mail().expect("outbox"),
    }
}

/// A store with a row in every table.
fn fill(store: &mut dyn Store) {
    let papers: Vec<Paper> = (1..=30)
        .map(|n| paper(n, Some(1), &format!("Abstract {n}."), "2025-03-18"))
        .collect();
    for (n, paper) in papers.iter().enumerate() {
        let vector = [n as f32, 1.0];
        write(store, &[(paper, Some(&vector))], 100 + n as i64);
    }
    // Ids are not in name order, so that a copy that renumbered users would show.
    for name in ["zoe", "ada", "mia"] {
        store.add_user(name, 200).expect("user");
    }
    let settings = UserSettings {
        email: Some("ada@example.org".into()),
        ..UserSettings::default()
    };
    store.set_user_settings("ada", &settings).expect("settings");
    store
        .add_profile_item(
            "ada",
            &ProfileItem {
                subject: ProfileSubject::Paper(papers[0].id.clone()),
                weight: 1.0,
                added: 210,
            },
        )
        .expect("paper item");
    store
        .add_profile_item(
            "zoe",
            &ProfileItem {
                subject: ProfileSubject::Interest("graph neural networks".into()),
                weight: 0.5,
                added: 211,
            },
        )
        .expect("interest");
    store
        .add_feedback(
            "ada",
            &Feedback {
                paper_id: papers[1].id.clone(),
                kind: FeedbackKind::Like,
                at: 220,
            },
        )
        .expect("like");
    let mail = NewMail {
        channel: Channel::Email,
        day: "2025-03-19",
        recipient: "ada@example.org",
        message: b"Subject: hi\r\n\r\nbody\r\n",
    };
    let (_, delivered) = store
        .record_sent_with_mail("ada", &[&papers[2].id], 230, &mail)
        .expect("mail");
    store.mail_delivered(delivered, 231).expect("delivered");
    store
        .record_delivery(&Delivery {
            user: "mia",
            day: "2025-03-20",
            paper_ids: &[&papers[3].id, &papers[4].id],
            at: 240,
            messages: &[NewMail {
                channel: Channel::Webhook,
                recipient: "https://chat.example/hook",
                ..mail
            }],
        })
        .expect("delivery");
    store
        .set_recommendations(&[(
            "zoe",
            &StoredRecommendations {
                method: "hybrid".into(),
                computed: 250,
                papers: vec![Recommendation {
                    paper_id: papers[5].id.clone(),
                    score: 0.75,
                    because: "{}".into(),
                }],
            },
        )])
        .expect("recommendations");
}

#[test]
fn a_sqlite_store_is_copied_whole_and_only_into_an_empty_database() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut sqlite = SqliteStore::open(&dir.path().join("store.sqlite3")).expect("sqlite");
    fill(&mut sqlite);

    let url = server.new_database();
    let mut target = PostgresStore::open(&url).expect("open");
    let mut seen = Vec::new();
    let copied = copy_sqlite_to_postgres(&sqlite, &target, &mut |table, rows| {
        seen.push((table.to_owned(), rows));
    })
    .expect("copy");
    let rows = |table: &str| {
        copied
            .iter()
            .find(|copied| copied.table == table)
            .map(|copied| copied.rows)
    };
    assert_eq!(rows("papers"), Some(30));
    assert_eq!(rows("embeddings"), Some(30));
    assert_eq!(rows("users"), Some(3));
    assert_eq!(rows("digests_sent"), Some(3));
    assert_eq!(rows("mail_outbox"), Some(2), "delivered mail is copied too");
    assert_eq!(rows("deliveries"), Some(1));
    assert!(
        seen.iter()
            .any(|(table, rows)| table == "papers" && *rows == 30)
    );

    assert_eq!(contents(&target), contents(&sqlite));
    assert_eq!(
        target.user("ada").expect("user"),
        sqlite.user("ada").expect("user"),
        "ids kept"
    );

    // New rows get numbers past the copied ones.
    let grace = target.add_user("grace", 300).expect("a new user");
    let most = sqlite
        .users()
        .expect("users")
        .iter()
        .map(|user| user.id)
        .max();
    assert!(Some(grace.id) > most, "{grace:?} after {most:?}");

    // A second copy into the now full database is refused, and changes nothing.
    let err = copy_sqlite_to_postgres(&sqlite, &target, &mut |_, _| {}).expect_err("not empty");
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("empty database"), "{err}");
    assert_eq!(target.users().expect("users").len(), 4);
}

#[test]
fn the_twins_agree_with_postgres() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let mut postgres = PostgresStore::open(&server.new_database()).expect("open");
    let mut memory = MemoryStore::new();
    fill(&mut postgres);
    fill(&mut memory);
    let mut postgres_stats = postgres.stats().expect("stats");
    assert!(postgres_stats.file_bytes.is_some_and(|bytes| bytes > 0));
    postgres_stats.file_bytes = None;
    assert_eq!(postgres_stats, memory.stats().expect("stats"));
    assert_eq!(contents(&postgres), contents(&memory));
}

/// Daemons on several machines record the same user's scheduled digest at once: one records
/// it, every other is told it is done, and the papers are recorded once.
#[test]
fn many_writers_record_a_day_once() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let url = server.new_database();
    let mut setup = PostgresStore::open(&url).expect("open");
    let papers: Vec<Paper> = (1..=3)
        .map(|n| paper(n, None, "Text.", "2025-03-18"))
        .collect();
    for paper in &papers {
        write(&mut setup, &[(paper, None)], 1);
    }
    setup.add_user("ada", 1).expect("user");
    let ids: Vec<String> = papers.iter().map(|paper| paper.id.clone()).collect();

    let writers = 6;
    let barrier = Arc::new(Barrier::new(writers));
    let outcomes: Vec<Result<(usize, Vec<i64>), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let (url, ids) = (&url, &ids);
                scope.spawn(move || {
                    let mut store = PostgresStore::open(url).expect("open");
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    let mail = NewMail {
                        channel: Channel::Email,
                        day: "2025-03-19",
                        recipient: "ada@example.org",
                        message: b"m",
                    };
                    barrier.wait();
                    store
                        .record_delivery(&Delivery {
                            user: "ada",
                            day: "2025-03-19",
                            paper_ids: &ids,
                            at: 10,
                            messages: &[mail],
                        })
                        .map_err(|err| err.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("writer thread"))
            .collect()
    });
    let recorded: Vec<_> = outcomes.iter().filter(|outcome| outcome.is_ok()).collect();
    assert_eq!(recorded.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter_map(|outcome| outcome.as_ref().err())
            .all(|err| err.contains("already delivered")),
        "{outcomes:?}"
    );
    assert_eq!(setup.sent("ada").expect("sent"), ids);
    assert_eq!(setup.undelivered_mail().expect("outbox").len(), 1);
}

/// Two processes ingesting the same papers at once merge one after the other: every paper
/// is stored once, at its newest version, with its embedding.
#[test]
fn concurrent_ingests_merge_in_turn() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let url = server.new_database();
    PostgresStore::open(&url).expect("create the schema");
    std::thread::scope(|scope| {
        for version in 1..=4_u32 {
            let url = &url;
            scope.spawn(move || {
                let mut store = PostgresStore::open(url).expect("open");
                for n in 1..=20 {
                    let paper = paper(n, Some(version), &format!("v{version}"), "2025-03-18");
                    let vector = [version as f32, 1.0];
                    write(&mut store, &[(&paper, Some(&vector))], i64::from(version));
                }
            });
        }
    });
    let store = PostgresStore::open_read_only(&url).expect("read");
    let papers = store
        .papers_announced("2025-03-18", "2025-03-18")
        .expect("papers");
    assert_eq!(papers.len(), 20);
    for stored in papers {
        assert_eq!(stored.paper.version, Some(4), "{stored:?}");
        assert_eq!(stored.paper.abstract_text, "v4");
        assert_eq!(
            store
                .embedding(&stored.paper.id, &model())
                .expect("embedding"),
            Some(vec![4.0, 1.0])
        );
    }
}

#[test]
fn a_restarted_server_is_unavailable_then_served_again_without_reopening() {
    let Some(server) = TestPostgres::start() else {
        return;
    };
    let url = server.new_database();
    let mut store = PostgresStore::open(&url).expect("open");
    store.add_user("ada", 1).expect("user");

    server.stop();
    let err = store.add_user("alan", 2).expect_err("the server is down");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert_eq!(err.fault(), paperscout_types::Fault::Unavailable);
    assert!(
        err.to_string().contains("check that PostgreSQL runs"),
        "{err}"
    );
    assert!(store.users().is_err(), "reads fail too");

    server.start_again();
    // The store's connection died with the old server: the first write after the restart
    // finds that out before its transaction begins, and runs on a new connection.
    store.add_user("alan", 3).expect("writes again at once");
    let names: Vec<String> = store
        .users()
        .expect("served again")
        .into_iter()
        .map(|user| user.name)
        .collect();
    assert_eq!(
        names,
        ["ada", "alan"],
        "nothing of the failed write was kept"
    );

    // A reader idle across a restart reads at once too.
    let reader = PostgresStore::open_read_only(&url).expect("reader");
    reader.users().expect("read");
    server.stop();
    server.start_again();
    assert_eq!(reader.users().expect("read after a restart").len(), 2);
}

#[test]
fn bad_urls_read_only_stores_and_newer_schemas_are_explained() {
    let err = PostgresStore::open("postgres://ada:secret@127.0.0.1:1/none").expect_err("no server");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
    let err = PostgresStore::open("postgres://ada@host:notaport/db").expect_err("bad url");
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err}");

    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let url = server.new_database();
    let err = PostgresStore::open_read_only(&url).expect_err("no schema yet");
    assert!(err.to_string().contains("needs an upgrade"), "{err}");
    PostgresStore::open(&url).expect("create");
    let mut reader = PostgresStore::open_read_only(&url).expect("read-only");
    assert!(matches!(
        reader.add_user("ada", 1),
        Err(StoreError::ReadOnly)
    ));

    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    client
        .batch_execute("UPDATE paperscout_schema SET version = version + 1")
        .expect("a newer schema");
    let err = PostgresStore::open(&url).expect_err("too new");
    assert!(matches!(err, StoreError::DatabaseTooNew { .. }), "{err}");
}

/// A follower reads every embedding once, in the order written, past texts since replaced.
#[test]
fn followers_see_each_embedding_written_once_in_order() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let url = server.new_database();
    let mut writer = PostgresStore::open(&url).expect("open");
    let follower = PostgresStore::open(&url).expect("open");
    assert_eq!(follower.latest_change(&model()).expect("latest"), 0);
    let batch = follower
        .changes_since(&model(), 0, 10)
        .expect("nothing yet");
    assert_eq!((batch.changes.len(), batch.last_seq), (0, 0));

    // A listener hears the commit, once.
    let mut listener = follower.listener();
    let short = std::time::Duration::from_millis(200);
    assert!(!listener.wait(short), "nothing written yet");
    let one = paper(1, Some(1), "One.", "2025-03-18");
    let two = paper(2, Some(1), "Two.", "2025-03-18");
    write(
        &mut writer,
        &[(&one, Some(&[1.0, 0.0])), (&two, Some(&[0.0, 1.0]))],
        1,
    );
    assert!(
        listener.wait(std::time::Duration::from_secs(5)),
        "the commit was heard"
    );
    assert!(!listener.wait(short), "and heard once");
    let start = follower.latest_change(&model()).expect("latest");
    assert!(start > 0);
    let first = follower.changes_since(&model(), 0, 1).expect("a page");
    assert_eq!(first.changes.len(), 1, "the limit holds");
    assert_eq!(first.changes[0].paper.paper.id, one.id);
    let rest = follower
        .changes_since(&model(), first.last_seq, 10)
        .expect("the rest");
    assert_eq!(rest.changes.len(), 1);
    assert_eq!(rest.changes[0].paper.paper.id, two.id);
    assert_eq!(rest.last_seq, start);

    // A new version's text without its embedding yet: nothing to follow; once embedded, the
    // new vector comes, after everything before it.
    let revised = paper(1, Some(2), "One, revised.", "2025-03-18");
    write(&mut writer, &[(&revised, None)], 2);
    let none = follower.changes_since(&model(), start, 10).expect("look");
    assert!(none.changes.is_empty(), "{none:?}");
    writer
        .put_embeddings(&model(), &[(&revised, &[0.6, 0.8][..])])
        .expect("embed");
    let again = follower
        .changes_since(&model(), none.last_seq, 10)
        .expect("look");
    assert_eq!(again.changes.len(), 1);
    assert_eq!(again.changes[0].vector, vec![0.6, 0.8]);
    assert_eq!(again.changes[0].paper.paper.abstract_text, "One, revised.");
    assert!(again.last_seq > start);
}

/// One leader at a time; when its connection ends, another takes over.
#[test]
fn one_daemon_leads_and_another_takes_over_when_it_goes() {
    let Some(server) = TestPostgres::shared() else {
        return;
    };
    let url = server.new_database();
    let store = PostgresStore::open(&url).expect("open");
    let mut first = store.leadership();
    let mut second = store.leadership();
    assert!(first.try_lead());
    assert!(first.try_lead(), "still");
    assert!(!second.try_lead());
    first.resign();
    assert!(second.try_lead());
    assert!(!first.try_lead());

    // The daemons' table: each notes itself; the lag is counted from the newest embedding.
    let mut writer = PostgresStore::open(&url).expect("open");
    write(
        &mut writer,
        &[(&paper(1, None, "One.", "2025-03-18"), Some(&[1.0, 0.0]))],
        1,
    );
    let newest = store.latest_change(&model()).expect("latest");
    for (name, leader, seq) in [("a:1", false, 0), ("b:2", true, newest)] {
        store
            .beat(&paperscout_store::DaemonBeat {
                name: name.to_owned(),
                host: name[..1].to_owned(),
                pid: 1,
                started: 100,
                seen: 200,
                leader,
                index_seq: seq,
            })
            .expect("beat");
    }
    let rows = store.daemons(&model(), 150).expect("daemons");
    let seen: Vec<(&str, bool, i64)> = rows
        .iter()
        .map(|row| (row.name.as_str(), row.leader, row.lag))
        .collect();
    assert_eq!(seen, [("a:1", false, newest), ("b:2", true, 0)]);
    assert!(store.daemons(&model(), 201).expect("daemons").is_empty());
}

/// `sslmode=verify-full` with the CA as `sslrootcert`: the connection is encrypted; without
/// the CA the server's certificate is refused, with what to do; plain where no TLS is asked.
#[test]
fn tls_is_used_when_asked_and_the_certificate_is_checked() {
    let Some(server) = TestPostgres::start_with_tls() else {
        return;
    };
    let url = server.new_database();
    let encrypted = |store: &PostgresStore| -> bool {
        let mut client = store.connect_again().expect("a connection");
        client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl")
            .get(0)
    };
    let ca = server.ca_file();
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    let mut store = PostgresStore::open(&verified).expect("a verified TLS connection");
    assert!(encrypted(&store));
    store.add_user("ada", 1).expect("writes over TLS");
    assert!(!encrypted(&PostgresStore::open(&url).expect("plain")));

    let err = PostgresStore::open(&format!("{url}?sslmode=require")).expect_err("no CA given");
    assert!(matches!(err, StoreError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("sslrootcert"), "{err}");
}
