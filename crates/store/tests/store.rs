//! The store's promises, checked on every implementation (memory, SQLite, PostgreSQL), plus
//! what only the SQLite file has (the writer lock, its schema migrations, a damaged log) and
//! what only PostgreSQL has (many writers, a copy from SQLite, a server that restarts).

mod common;

use common::{model, paper, write};
use paperscout_store::{
    Change, Channel, Delivery, Feedback, FeedbackKind, MemoryStore, ModelKey, NewMail, ProfileItem,
    ProfileSubject, Recommendation, SqliteStore, Store, StoreError, StoredRecommendations,
};
use paperscout_types::{Paper, Rules, UserSettings};

fn round_trip(store: &mut dyn Store) {
    let one = paper(1, Some(1), "First.", "2025-03-18");
    let two = paper(2, None, "Second.", "2025-03-19");
    let summary = write(store, &[(&one, Some(&[0.6, 0.8])), (&two, None)], 100).expect("write");
    assert_eq!((summary.added, summary.embedded), (2, 1));

    let stored = store.paper(&one.id).expect("read").expect("stored");
    assert_eq!(stored.paper, one);
    assert_eq!(
        (stored.source.as_str(), stored.first_seen, stored.updated),
        ("test", 100, 100)
    );
    assert_eq!(
        store.embedding(&one.id, &model("m")).expect("read"),
        Some(vec![0.6, 0.8])
    );
    assert_eq!(store.embedding(&two.id, &model("m")).expect("read"), None);

    let stats = store.stats().expect("stats");
    assert_eq!((stats.papers, stats.embeddings, stats.users), (2, 1, 0));
    assert_eq!(stats.first_date.as_deref(), Some("2025-03-18"));
    assert_eq!(stats.last_date.as_deref(), Some("2025-03-19"));
    assert_eq!(stats.models.len(), 1);
    assert_eq!(
        (stats.models[0].name.as_str(), stats.models[0].count),
        ("m", 1)
    );
}

fn ingesting_again_changes_nothing(store: &mut dyn Store) {
    let one = paper(1, Some(1), "First.", "2025-03-18");
    write(store, &[(&one, Some(&[0.6, 0.8]))], 100).expect("write");
    let classified = store
        .classify(std::slice::from_ref(&one), Some(&model("m")))
        .expect("classify");
    assert_eq!(classified[0].change, Change::Unchanged);
    assert!(!classified[0].needs_embedding);
    let summary = write(store, &[(&one, None)], 200).expect("write again");
    assert_eq!(
        (summary.added, summary.updated, summary.unchanged),
        (0, 0, 1)
    );
    let stored = store.paper(&one.id).expect("read").expect("stored");
    assert_eq!((stored.first_seen, stored.updated), (100, 100));
}

fn a_new_version_updates_the_paper_and_asks_for_a_new_embedding(store: &mut dyn Store) {
    let v1 = paper(1, Some(1), "First.", "2025-03-18");
    let v2 = paper(1, Some(2), "First, revised.", "2025-03-25");
    write(store, &[(&v1, Some(&[0.6, 0.8]))], 100).expect("write v1");

    let classified = store
        .classify(std::slice::from_ref(&v2), Some(&model("m")))
        .expect("classify");
    assert_eq!(classified[0].change, Change::Updated { text_changed: true });
    assert!(classified[0].needs_embedding);
    write(store, &[(&v2, None)], 200).expect("write v2");

    let stored = store.paper(&v1.id).expect("read").expect("stored");
    assert_eq!(stored.paper.abstract_text, "First, revised.");
    assert_eq!(
        stored.paper.date.as_deref(),
        Some("2025-03-18"),
        "the first announcement stays"
    );
    assert_eq!((stored.first_seen, stored.updated), (100, 200));
    assert_eq!(
        store.embedding(&v1.id, &model("m")).expect("read"),
        None,
        "the old vector is stale"
    );
    let missing = store
        .missing_embeddings(&model("m"), None, 10)
        .expect("missing");
    assert_eq!(
        missing.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [v1.id.as_str()]
    );

    assert_eq!(
        store
            .put_embeddings(&model("m"), &[(&missing[0], &[1.0, 0.0])])
            .expect("put"),
        1
    );
    assert_eq!(
        store.embedding(&v1.id, &model("m")).expect("read"),
        Some(vec![1.0, 0.0])
    );
    assert!(
        store
            .missing_embeddings(&model("m"), None, 10)
            .expect("missing")
            .is_empty()
    );

    let summary = write(store, &[(&v1, Some(&[0.0, 1.0]))], 300).expect("write v1 again");
    assert_eq!(summary.older, 1);
    assert_eq!(summary.embedded, 0, "an older version's vector is ignored");
    let stored = store.paper(&v1.id).expect("read").expect("stored");
    assert_eq!(stored.paper.version, Some(2));
    assert_eq!(
        store.embedding(&v1.id, &model("m")).expect("read"),
        Some(vec![1.0, 0.0])
    );
}

fn a_model_change_is_noticed(store: &mut dyn Store) {
    let one = paper(1, None, "First.", "2025-03-18");
    write(store, &[(&one, Some(&[0.6, 0.8]))], 100).expect("write");
    let classified = store
        .classify(std::slice::from_ref(&one), Some(&model("other")))
        .expect("classify");
    assert!(classified[0].needs_embedding);
    assert_eq!(
        store
            .missing_embeddings(&model("other"), None, 10)
            .expect("missing")
            .len(),
        1
    );
    assert_eq!(
        store.embedding(&one.id, &model("other")).expect("read"),
        None
    );
    let mut visited = Vec::new();
    let count = store
        .for_each_embedding(&model("m"), &mut |id, vector| {
            visited.push((id.to_owned(), vector.to_vec()));
        })
        .expect("visit");
    assert_eq!(
        (count, visited),
        (1, vec![(one.id.clone(), vec![0.6, 0.8])])
    );
    assert_eq!(
        store
            .for_each_embedding(&model("other"), &mut |_, _| ())
            .expect("visit"),
        0
    );
}

fn papers_are_found_by_any_spelling(store: &mut dyn Store) {
    let two = paper(2, Some(3), "Second.", "2025-03-19");
    write(store, &[(&two, None)], 100).expect("write");
    for key in [
        "arXiv:2503.00002",
        "2503.00002",
        "2503.00002v1",
        "https://arxiv.org/abs/2503.00002v3",
        "https://doi.org/10.1000/TWO",
    ] {
        let found = store.find_paper(key).expect("find").map(|p| p.paper.id);
        assert_eq!(found.as_deref(), Some("arXiv:2503.00002"), "{key}");
    }
    assert_eq!(store.find_paper("2503.99999").expect("find"), None);
    assert_eq!(store.find_paper("a title").expect("find"), None);
}

fn papers_are_listed_by_announcement_day(store: &mut dyn Store) {
    let papers: Vec<Paper> = (1..=4)
        .map(|n| paper(n, None, "Text.", &format!("2025-03-{:02}", 16 + n)))
        .collect();
    let rows: Vec<(&Paper, Option<&[f32]>)> = papers.iter().map(|p| (p, None)).collect();
    write(store, &rows, 100).expect("write");
    let listed = store
        .papers_announced("2025-03-18", "2025-03-19")
        .expect("list");
    let ids: Vec<&str> = listed.iter().map(|p| p.paper.id.as_str()).collect();
    assert_eq!(ids, ["arXiv:2503.00002", "arXiv:2503.00003"]);
}

fn a_failing_batch_writes_nothing(store: &mut dyn Store) {
    let one = paper(1, None, "First.", "2025-03-18");
    let two = paper(2, None, "Second.", "2025-03-19");
    let err = write(
        store,
        &[(&one, Some(&[0.6, 0.8])), (&two, Some(&[1.0, 0.0, 0.0]))],
        100,
    )
    .expect_err("a three-dimensional vector for a two-dimensional model");
    assert!(
        matches!(
            err,
            StoreError::Dimension {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.stats().expect("stats").papers, 0);
    assert_eq!(store.paper(&one.id).expect("read"), None);
}

fn users_profiles_feedback_and_digests(store: &mut dyn Store) {
    let one = paper(1, None, "First.", "2025-03-18");
    let two = paper(2, None, "Second.", "2025-03-19");
    write(store, &[(&one, None), (&two, None)], 100).expect("write");

    let ada = store.add_user("ada", 100).expect("add");
    assert_eq!(store.user("ada").expect("read"), Some(ada));
    assert!(matches!(
        store.add_user("ada", 101),
        Err(StoreError::UserExists(_))
    ));
    store.add_user("alan", 102).expect("add");
    let names: Vec<String> = store
        .users()
        .expect("users")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["ada", "alan"]);

    let interest = ProfileItem {
        subject: ProfileSubject::Interest("graph neural networks".into()),
        weight: 0.5,
        added: 120,
    };
    let saved = ProfileItem {
        subject: ProfileSubject::Paper(one.id.clone()),
        weight: 1.0,
        added: 110,
    };
    store.add_profile_item("ada", &interest).expect("interest");
    store.add_profile_item("ada", &saved).expect("paper");
    let unknown = ProfileItem {
        subject: ProfileSubject::Paper("arXiv:2503.99999".into()),
        weight: 1.0,
        added: 130,
    };
    assert!(matches!(
        store.add_profile_item("ada", &unknown),
        Err(StoreError::NoSuchPaper(_))
    ));
    assert_eq!(
        store.profile("ada").expect("profile"),
        [saved.clone(), interest.clone()],
        "oldest first"
    );
    // A paper taken out of the profile, and put back.
    assert_eq!(
        store.remove_profile_paper("ada", &one.id).expect("removed"),
        1
    );
    assert_eq!(
        store.remove_profile_paper("ada", &one.id).expect("again"),
        0
    );
    assert_eq!(
        store.profile("ada").expect("profile"),
        std::slice::from_ref(&interest)
    );
    store.add_profile_item("ada", &saved).expect("paper again");
    assert_eq!(
        store.profile("ada").expect("profile"),
        [saved, interest],
        "oldest first"
    );
    assert!(matches!(
        store.profile("grace"),
        Err(StoreError::NoSuchUser(_))
    ));

    let dislike = Feedback {
        paper_id: two.id.clone(),
        kind: FeedbackKind::Dislike,
        at: 140,
    };
    store.add_feedback("ada", &dislike).expect("feedback");
    assert_eq!(
        store.feedback("ada").expect("feedback"),
        std::slice::from_ref(&dislike)
    );
    assert!(store.feedback("alan").expect("feedback").is_empty());
    // An undo forgets every rating of the paper, and only of that paper and user.
    let like = Feedback {
        paper_id: one.id.clone(),
        kind: FeedbackKind::Like,
        at: 141,
    };
    store.add_feedback("ada", &like).expect("feedback");
    store.add_feedback("alan", &like).expect("feedback");
    assert_eq!(
        store.latest_feedback("ada", &one.id).expect("read"),
        Some(FeedbackKind::Like)
    );
    assert_eq!(
        store.latest_feedback("ada", &two.id).expect("read"),
        Some(FeedbackKind::Dislike)
    );
    assert_eq!(store.remove_feedback("ada", &one.id).expect("undo"), 1);
    assert_eq!(store.latest_feedback("ada", &one.id).expect("read"), None);
    assert_eq!(
        store.remove_feedback("ada", &one.id).expect("undo again"),
        0
    );
    assert_eq!(
        store.feedback("ada").expect("feedback"),
        std::slice::from_ref(&dislike)
    );
    assert_eq!(store.feedback("alan").expect("feedback").len(), 1);
    store.remove_feedback("alan", &one.id).expect("undo");
    // Several users' ratings in one transaction: all, or none when one names no paper.
    let save = Feedback {
        paper_id: one.id.clone(),
        kind: FeedbackKind::Save,
        at: 142,
    };
    let nothing = Feedback {
        paper_id: "arXiv:2599.99999".to_owned(),
        kind: FeedbackKind::Save,
        at: 142,
    };
    assert!(
        store
            .add_feedback_many(&[("ada", save.clone()), ("alan", nothing)])
            .is_err()
    );
    assert_eq!(
        store.feedback("ada").expect("feedback"),
        std::slice::from_ref(&dislike)
    );
    store
        .add_feedback_many(&[("ada", save.clone()), ("alan", save.clone())])
        .expect("both");
    assert_eq!(
        store.latest_feedback("ada", &one.id).expect("read"),
        Some(FeedbackKind::Save)
    );
    assert_eq!(
        store.feedback("alan").expect("feedback"),
        std::slice::from_ref(&save)
    );
    store.remove_feedback("ada", &one.id).expect("undo");
    store.remove_feedback("alan", &one.id).expect("undo");

    assert_eq!(
        store
            .record_sent("ada", &[&one.id, &two.id], 150)
            .expect("sent"),
        2
    );
    assert_eq!(
        store
            .record_sent("ada", &[&two.id], 160)
            .expect("sent again"),
        0,
        "never twice"
    );
    assert_eq!(
        store.sent("ada").expect("sent"),
        [one.id.clone(), two.id.clone()]
    );
    assert!(matches!(
        store.record_sent("ada", &["arXiv:2503.99999"], 170),
        Err(StoreError::NoSuchPaper(_))
    ));

    // Read together, a user is what the separate reads give.
    let state = store.user_state("ada").expect("state").expect("ada");
    assert_eq!(Some(&state.user), store.user("ada").expect("user").as_ref());
    assert_eq!(state.profile, store.profile("ada").expect("profile"));
    assert_eq!(state.feedback, store.feedback("ada").expect("feedback"));
    assert_eq!(state.sent, store.sent("ada").expect("sent"));
    assert!(!state.profile.is_empty() && !state.feedback.is_empty() && !state.sent.is_empty());
    let alan = store.user_state("alan").expect("state").expect("alan");
    assert!(alan.profile.is_empty() && alan.feedback.is_empty() && alan.sent.is_empty());
    assert!(store.user_state("grace").expect("state").is_none());

    assert!(store.remove_user("ada").expect("remove"));
    assert!(!store.remove_user("ada").expect("remove again"));
    assert!(matches!(store.sent("ada"), Err(StoreError::NoSuchUser(_))));
    assert_eq!(store.stats().expect("stats").users, 1);
}

fn settings_and_the_mail_outbox(store: &mut dyn Store) {
    let one = paper(1, None, "First.", "2025-03-18");
    let two = paper(2, None, "Second.", "2025-03-19");
    write(store, &[(&one, None), (&two, None)], 100).expect("write");
    store.add_user("ada", 100).expect("add");
    store.add_user("alan", 100).expect("add");
    assert_eq!(
        store.user("ada").expect("read").expect("user").settings,
        UserSettings::default()
    );
    let settings = UserSettings {
        email: Some("ada@example.org".into()),
        rules: Rules {
            mute_keywords: vec!["blockchain".into()],
            min_similarity: Some(0.3),
            ..Rules::default()
        },
        links_epoch: 3,
        ..UserSettings::default()
    };
    store.set_user_settings("ada", &settings).expect("set");
    assert_eq!(
        store.user("ada").expect("read").expect("user").settings,
        settings
    );
    assert_eq!(store.users().expect("users")[0].settings, settings);
    assert!(matches!(
        store.set_user_settings("grace", &settings),
        Err(StoreError::NoSuchUser(_))
    ));

    let mail = NewMail {
        channel: Channel::Email,
        day: "2025-03-19",
        recipient: "ada@example.org",
        message: b"Subject: hi\r\n\r\nbody\r\n",
    };
    let (recorded, first) = store
        .record_sent_with_mail("ada", &[&one.id, &two.id], 150, &mail)
        .expect("queue");
    assert_eq!(recorded, 2);
    // A mail naming an unknown paper is refused whole: nothing queued, nothing recorded.
    assert!(
        store
            .record_sent_with_mail("alan", &[&one.id, "arXiv:2503.99999"], 151, &mail)
            .is_err()
    );
    assert!(store.sent("alan").expect("sent").is_empty());
    let (_, second) = store
        .record_sent_with_mail("alan", &[&one.id], 152, &mail)
        .expect("queue");
    let queued = store.undelivered_mail().expect("outbox");
    assert_eq!(
        queued.iter().map(|m| m.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(queued[0].user, "ada");
    assert_eq!(queued[0].message, mail.message);
    assert_eq!(queued[0].attempts, 0);

    assert_eq!(queued[0].channel, Channel::Email);
    assert_eq!(queued[0].last_attempt, None);

    store
        .mail_failed(first, "connection refused", 160)
        .expect("fail");
    let queued = store.undelivered_mail().expect("outbox");
    assert_eq!(queued[0].attempts, 1);
    assert_eq!(queued[0].last_error.as_deref(), Some("connection refused"));
    assert_eq!(queued[0].last_attempt, Some(160));
    store.mail_delivered(first, 200).expect("deliver");
    let left: Vec<i64> = store
        .undelivered_mail()
        .expect("outbox")
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, [second]);
    // A removed user's mail goes with them.
    assert!(store.remove_user("alan").expect("remove"));
    assert!(store.undelivered_mail().expect("outbox").is_empty());
}

fn stored_recommendations_are_replaced_whole(store: &mut dyn Store) {
    let one = paper(1, None, "First.", "2025-03-18");
    let two = paper(2, None, "Second.", "2025-03-19");
    write(store, &[(&one, None), (&two, None)], 100).expect("write");
    store.add_user("ada", 100).expect("add");
    store.add_user("alan", 100).expect("add");
    assert_eq!(store.recommendations("ada").expect("read"), None);
    let ranked = |ids: &[&str], computed| StoredRecommendations {
        method: "hybrid".into(),
        computed,
        papers: ids
            .iter()
            .enumerate()
            .map(|(i, id)| Recommendation {
                paper_id: (*id).to_owned(),
                score: 2.0 - i as f32,
                because: format!("{{\"item\": {i}}}"),
            })
            .collect(),
    };
    let first = ranked(&[&two.id, &one.id], 200);
    let theirs = ranked(&[&one.id], 200);
    store
        .set_recommendations(&[("ada", &first), ("alan", &theirs)])
        .expect("store");
    assert_eq!(store.recommendations("ada").expect("read"), Some(first));
    assert_eq!(
        store.recommendations("alan").expect("read"),
        Some(theirs.clone())
    );
    let second = ranked(&[&one.id], 300);
    store
        .set_recommendations(&[("ada", &second)])
        .expect("replace");
    assert_eq!(
        store.recommendations("ada").expect("read"),
        Some(second.clone())
    );
    // An unknown paper or user changes nothing.
    let bad = ranked(&["arXiv:2503.99999"], 400);
    assert!(
        store
            .set_recommendations(&[("alan", &second), ("ada", &bad)])
            .is_err()
    );
    assert!(store.set_recommendations(&[("grace", &second)]).is_err());
    assert_eq!(store.recommendations("ada").expect("read"), Some(second));
    assert_eq!(store.recommendations("alan").expect("read"), Some(theirs));
}

/// Issue 25, defect 2: a scheduled digest's day, its papers and its mail are recorded at once,
/// and a second delivery of the same day is refused with nothing changed.
fn a_day_is_delivered_once(store: &mut dyn Store) {
    let one = paper(1, None, "First.", "2025-03-18");
    let two = paper(2, None, "Second.", "2025-03-19");
    write(store, &[(&one, None), (&two, None)], 100).expect("write");
    store.add_user("ada", 100).expect("add");
    assert!(!store.delivered_on("ada", "2025-03-19").expect("read"));
    let first = Delivery {
        user: "ada",
        day: "2025-03-19",
        paper_ids: &[one.id.as_str()],
        at: 200,
        messages: &[
            NewMail {
                channel: Channel::Email,
                day: "2025-03-19",
                recipient: "ada@example.org",
                message: b"Subject: x\r\n\r\nbody",
            },
            NewMail {
                channel: Channel::Webhook,
                day: "2025-03-19",
                recipient: "http://127.0.0.1:9/hook",
                message: b"{\"text\": \"x\"}",
            },
        ],
    };
    assert_eq!(store.last_delivery("ada").expect("read"), None);
    let (recorded, mail) = store.record_delivery(&first).expect("recorded");
    assert_eq!(recorded, 1);
    assert_eq!(mail.len(), 2);
    let queued = store.undelivered_mail().expect("outbox");
    let channels: Vec<Channel> = queued.iter().map(|m| m.channel).collect();
    assert_eq!(channels, [Channel::Email, Channel::Webhook]);
    assert_eq!(queued[1].recipient, "http://127.0.0.1:9/hook");
    assert!(store.delivered_on("ada", "2025-03-19").expect("read"));
    assert_eq!(
        store.last_delivery("ada").expect("read").as_deref(),
        Some("2025-03-19")
    );
    assert!(!store.delivered_on("ada", "2025-03-20").expect("read"));

    let again = Delivery {
        paper_ids: &[two.id.as_str()],
        ..first
    };
    let err = store
        .record_delivery(&again)
        .expect_err("a second delivery of the day");
    assert!(matches!(err, StoreError::AlreadyDelivered { .. }), "{err}");
    assert_eq!(
        store.sent("ada").expect("sent"),
        std::slice::from_ref(&one.id),
        "nothing changed"
    );
    assert_eq!(store.undelivered_mail().expect("outbox").len(), 2);

    // A paper the store lacks fails the whole delivery, its day included.
    let missing = Delivery {
        day: "2025-03-20",
        paper_ids: &["arXiv:2599.00001"],
        messages: &[],
        ..first
    };
    assert!(store.record_delivery(&missing).is_err());
    assert!(!store.delivered_on("ada", "2025-03-20").expect("read"));
    assert!(store.remove_user("ada").expect("removed"));
    store.add_user("ada", 300).expect("added again");
    assert!(
        !store.delivered_on("ada", "2025-03-19").expect("read"),
        "a new user starts afresh"
    );
}

/// Issue 25, defect 3: a user's name becomes a folder and a log field, so names that are
/// paths, controls or flags are refused where users are created.
fn names_that_are_paths_are_refused(store: &mut dyn Store) {
    for name in ["", ".", "..", "/tmp/x", "../../x", "a\nb", "a\0b", "-rf"] {
        let err = store.add_user(name, 100).expect_err("a bad name");
        assert!(matches!(err, StoreError::BadUserName(_)), "{name:?}: {err}");
        assert_eq!(err.fault(), paperscout_types::Fault::User);
    }
    assert!(store.users().expect("users").is_empty());
    store
        .add_user("ada.lovelace", 100)
        .expect("an ordinary name");
}

/// A paper twice in one batch: the second record merges over the first, as in two batches.
fn a_paper_twice_in_one_batch_merges_in_turn(store: &mut dyn Store) {
    let first = paper(1, Some(1), "First.", "2025-03-19");
    let mut second = paper(1, Some(2), "First, revised.", "2025-03-18");
    second.categories = vec!["cs.LG".to_owned()];
    let summary = write(
        store,
        &[(&first, Some(&[1.0, 0.0])), (&second, Some(&[0.6, 0.8]))],
        100,
    )
    .expect("write");
    assert_eq!(
        (summary.added, summary.updated, summary.embedded),
        (1, 1, 2)
    );
    let stored = store.paper(&first.id).expect("read").expect("stored").paper;
    assert_eq!(stored.version, Some(2));
    assert_eq!(stored.abstract_text, "First, revised.");
    assert_eq!(
        stored.date.as_deref(),
        Some("2025-03-18"),
        "the earliest day"
    );
    assert_eq!(stored.categories, ["cs.CL", "cs.LG"], "categories unioned");
    assert_eq!(
        store.embedding(&first.id, &model("m")).expect("read"),
        Some(vec![0.6, 0.8])
    );
    assert!(
        !store
            .classify(&[second], Some(&model("m")))
            .expect("classify")[0]
            .needs_embedding
    );
}

macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[test]
            fn $case() {
                super::$case(&mut paperscout_store::MemoryStore::new());
            })*
        }
        mod sqlite {
            $(#[test]
            fn $case() {
                let dir = tempfile::tempdir().expect("temporary folder");
                let path = dir.path().join("store.sqlite3");
                super::$case(&mut paperscout_store::SqliteStore::open(&path).expect("open"));
                // And what was written is still there for a reader in a fresh connection.
                let reread = paperscout_store::SqliteStore::open_read_only(&path).expect("reopen");
                super::Store::stats(&reread).expect("stats after reopening");
            })*
        }
        mod postgres {
            $(#[test]
            fn $case() {
                let Some(server) = paperscout_store::testing::TestPostgres::shared() else {
                    return;
                };
                let url = server.new_database();
                super::$case(&mut paperscout_store::PostgresStore::open(&url).expect("open"));
                // What was written is there for another connection, read-only.
                let reread = paperscout_store::PostgresStore::open_read_only(&url).expect("reopen");
                super::Store::stats(&reread).expect("stats after reopening");
            })*
        }
    };
}

on_every_store!(
    round_trip,
    a_paper_twice_in_one_batch_merges_in_turn,
    ingesting_again_changes_nothing,
    a_new_version_updates_the_paper_and_asks_for_a_new_embedding,
    a_model_change_is_noticed,
    papers_are_found_by_any_spelling,
    papers_are_listed_by_announcement_day,
    a_failing_batch_writes_nothing,
    users_profiles_feedback_and_digests,
    settings_and_the_mail_outbox,
    stored_recommendations_are_replaced_whole,
    a_day_is_delivered_once,
    names_that_are_paths_are_refused,
);

#[test]
fn the_twins_agree_on_the_same_writes() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut on_disk = SqliteStore::open(&dir.path().join("store.sqlite3")).expect("open");
    let mut in_memory = MemoryStore::new();
    let papers = [
        paper(1, Some(1), "First.", "2025-03-18"),
        paper(2, None, "Second.", "2025-03-19"),
        paper(1, Some(2), "First, revised.", "2025-03-20"),
        paper(1, Some(1), "First.", "2025-03-21"),
    ];
    for store in [&mut on_disk as &mut dyn Store, &mut in_memory] {
        for (time, paper) in papers.iter().enumerate() {
            write(store, &[(paper, Some(&[time as f32, 1.0]))], time as i64).expect("write");
        }
    }
    for id in ["arXiv:2503.00001", "arXiv:2503.00002"] {
        assert_eq!(
            on_disk.paper(id).expect("read"),
            in_memory.paper(id).expect("read")
        );
        assert_eq!(
            on_disk.embedding(id, &model("m")).expect("read"),
            in_memory.embedding(id, &model("m")).expect("read")
        );
    }
    let mut disk_stats = on_disk.stats().expect("stats");
    disk_stats.file_bytes = None;
    assert_eq!(disk_stats, in_memory.stats().expect("stats"));
}

#[test]
fn a_second_writer_is_told_who_holds_the_store() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("store.sqlite3");
    let mut first = SqliteStore::open(&path).expect("open");
    let err = SqliteStore::open(&path).expect_err("a second writer");
    let message = err.to_string();
    assert!(
        message.contains(&format!("is in use by pid {}", std::process::id())),
        "{message}"
    );
    // Readers are not refused, and see what the writer commits.
    let reader = SqliteStore::open_read_only(&path).expect("a reader");
    write(
        &mut first,
        &[(&paper(1, None, "First.", "2025-03-18"), None)],
        100,
    )
    .expect("write");
    assert_eq!(reader.stats().expect("stats").papers, 1);
    drop(first);
    SqliteStore::open(&path).expect("the lock goes with its holder");
}

#[test]
fn a_reader_cannot_write_and_a_missing_store_is_explained() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("store.sqlite3");
    let err = SqliteStore::open_read_only(&path).expect_err("no file yet");
    assert!(
        err.to_string().contains("ingest some papers first"),
        "{err}"
    );
    drop(SqliteStore::open(&path).expect("create"));
    let mut reader = SqliteStore::open_read_only(&path).expect("read-only");
    assert!(matches!(
        reader.add_user("ada", 1),
        Err(StoreError::ReadOnly)
    ));
}

fn load_fixture(path: &std::path::Path, sql: &str) {
    let connection = rusqlite::Connection::open(path).expect("fixture database");
    connection.execute_batch(sql).expect("fixture SQL");
}

#[test]
fn a_version_1_store_opens_with_everything_in_it() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("store.sqlite3");
    load_fixture(&path, include_str!("fixtures/v1.sql"));
    let store = SqliteStore::open(&path).expect("open a version 1 store");
    let tiny = ModelKey {
        name: "tiny".into(),
        sha256: "abc".into(),
        dim: 2,
    };

    let graphs = store
        .find_paper("10.1000/graphs")
        .expect("find")
        .expect("stored");
    assert_eq!(graphs.paper.authors, ["Alan Turing", "Grace Hopper"]);
    assert_eq!(graphs.paper.categories, ["cs.LG", "cs.AI"]);
    assert_eq!(graphs.paper.version, Some(2));
    assert_eq!(
        store.embedding("arXiv:2503.00001", &tiny).expect("read"),
        Some(vec![0.6, 0.8]),
        "the fixture's text digest matches the current rule"
    );
    assert_eq!(
        store
            .missing_embeddings(&tiny, None, 10)
            .expect("missing")
            .len(),
        1
    );
    assert_eq!(store.profile("ada").expect("profile").len(), 2);
    assert!(
        !store
            .delivered_on("ada", "2025-03-18")
            .expect("the deliveries table exists"),
        "migrated through version 4"
    );
    assert_eq!(
        store.feedback("ada").expect("feedback")[0].kind,
        FeedbackKind::Dislike
    );
    assert_eq!(store.sent("ada").expect("sent"), ["arXiv:2503.00002"]);
    // Version 2 added settings, at their defaults for users who had none.
    assert_eq!(
        store.user("ada").expect("read").expect("user").settings,
        UserSettings::default()
    );
    assert!(store.undelivered_mail().expect("outbox").is_empty());
}

#[test]
fn an_empty_file_is_migrated_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("store.sqlite3");
    load_fixture(&path, "");
    drop(SqliteStore::open(&path).expect("migrate an empty file"));
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, paperscout_store::schema::current_version());

    let newer = dir.path().join("newer.sqlite3");
    load_fixture(&newer, "CREATE TABLE future (x); PRAGMA user_version = 99;");
    let err = SqliteStore::open(&newer).expect_err("a store from the future");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(err.to_string().contains("upgrade paperscout"), "{err}");
}

/// Issue 25, defect 11: one paper whose text was not UTF-8 (SQLite's `integrity_check` says
/// ok) made every scan of the papers fail, naming no row, and an ingest of that paper failed
/// too. Now such text is read with U+FFFD in its place, a row too damaged to read is skipped,
/// and an ingest of either writes it afresh.
#[test]
fn a_damaged_row_is_read_or_skipped_and_an_ingest_repairs_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("paperscout.sqlite3");
    let papers: Vec<Paper> = (1..=3)
        .map(|n| paper(n, Some(1), "An abstract.", "2025-03-18"))
        .collect();
    {
        let mut store = SqliteStore::open(&path).expect("open");
        let rows: Vec<(&Paper, Option<&[f32]>)> = papers.iter().map(|p| (p, None)).collect();
        write(&mut store, &rows, 100).expect("write");
    }
    {
        let raw = rusqlite::Connection::open(&path).expect("raw");
        raw.execute(
            "UPDATE papers SET abstract = CAST(X'41FF42' AS TEXT) WHERE id = ?1",
            [&papers[0].id],
        )
        .expect("bad bytes");
        raw.execute(
            "UPDATE papers SET authors = 'not a list' WHERE id = ?1",
            [&papers[1].id],
        )
        .expect("bad list");
    }
    let mut store = SqliteStore::open(&path).expect("open again");
    let listed = store
        .papers_announced("2025-03-18", "2025-03-18")
        .expect("a damaged row stops no scan");
    let ids: Vec<&str> = listed.iter().map(|s| s.paper.id.as_str()).collect();
    assert_eq!(ids, [papers[0].id.as_str(), papers[2].id.as_str()]);
    assert_eq!(listed[0].paper.abstract_text, "A\u{fffd}B");
    assert!(store.paper(&papers[1].id).expect("read").is_none());
    assert_eq!(
        store
            .missing_embeddings(&model("m"), None, 10)
            .expect("scan")
            .len(),
        2
    );

    let rows: Vec<(&Paper, Option<&[f32]>)> = papers.iter().map(|p| (p, None)).collect();
    write(&mut store, &rows, 200).expect("an ingest of the damaged papers");
    for paper in &papers {
        let stored = store.paper(&paper.id).expect("read").expect("stored");
        assert_eq!(&stored.paper, paper);
    }
}

/// Issue 25, defect 13: SQLite reads a damaged write-ahead log only up to its first bad frame,
/// so committed papers vanished without a word. Now the commits counted in the file are
/// compared at open with the count kept beside it, and a loss is reported.
#[test]
fn commits_a_damaged_write_ahead_log_lost_are_reported_at_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("paperscout.sqlite3");
    let mut store = SqliteStore::open(&path).expect("open");
    assert_eq!(store.lost_commits(), 0);
    let papers: Vec<Paper> = (1..=40)
        .map(|n| paper(n, Some(1), "An abstract.", "2025-03-18"))
        .collect();
    for paper in &papers {
        write(&mut store, &[(paper, None)], 100).expect("one commit a paper");
    }
    // The files as a kill -9 leaves them: the store, its log and the count beside it.
    let copy = |to: &std::path::Path| {
        fs_err::create_dir_all(to).expect("folder");
        for suffix in ["", "-wal", ".commits"] {
            fs_err::copy(
                format!("{}{suffix}", path.display()),
                format!("{}/paperscout.sqlite3{suffix}", to.display()),
            )
            .expect("copied");
        }
        to.join("paperscout.sqlite3")
    };
    let whole = copy(&dir.path().join("whole"));
    let damaged = copy(&dir.path().join("damaged"));
    drop(store);

    let reopened = SqliteStore::open(&whole).expect("whole");
    assert_eq!(reopened.lost_commits(), 0);
    assert_eq!(reopened.stats().expect("stats").papers, 40);

    let wal = format!("{}-wal", damaged.display());
    let mut bytes = fs_err::read(&wal).expect("the log");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs_err::write(&wal, bytes).expect("damaged");
    let reopened = SqliteStore::open(&damaged).expect("damaged");
    let kept = reopened.stats().expect("stats").papers;
    assert!(kept < 40, "the damage lost nothing: {kept} papers");
    assert!(
        reopened.lost_commits() >= 40 - kept,
        "{} commits reported lost, {} papers gone",
        reopened.lost_commits(),
        40 - kept
    );
    drop(reopened);
    let again = SqliteStore::open(&damaged).expect("again");
    assert_eq!(again.lost_commits(), 0, "a loss is reported once");
}

/// Ratings are committed without a disk sync (the one such write): a process killed right
/// after loses none of them, because the log is in the kernel's hands, and the writes after
/// them are synced again.
#[test]
fn ratings_committed_without_a_sync_survive_the_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("paperscout.sqlite3");
    let mut store = SqliteStore::open(&path).expect("open");
    let one = paper(1, Some(1), "An abstract.", "2025-03-18");
    write(&mut store, &[(&one, None)], 100).expect("a paper");
    store.add_user("ada", 100).expect("ada");
    let like = Feedback {
        paper_id: one.id.clone(),
        kind: FeedbackKind::Like,
        at: 101,
    };
    store
        .add_feedback_many(&[("ada", like.clone())])
        .expect("rated");
    // The files as a kill -9 leaves them.
    let copy = dir.path().join("copy");
    fs_err::create_dir_all(&copy).expect("folder");
    for suffix in ["", "-wal"] {
        fs_err::copy(
            format!("{}{suffix}", path.display()),
            format!("{}/paperscout.sqlite3{suffix}", copy.display()),
        )
        .expect("copied");
    }
    let reopened = SqliteStore::open(&copy.join("paperscout.sqlite3")).expect("reopened");
    assert_eq!(reopened.feedback("ada").expect("read"), [like]);
}
