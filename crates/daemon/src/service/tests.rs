//! The daemon's operations called in process, without a socket, on the real model and a
//! real SQLite store: what `similar` resolves a query to, and how a digest, feedback and a
//! settings change go through the service.

use std::path::Path;

use paperscout_app::Settings;
use paperscout_app::settings::{DaemonConfig, ModelConfig, ScheduleConfig};
use paperscout_proto::{
    DigestAction, DigestRequest, ErrorCode, FeedbackRequest, IngestRequest, QueryKind, Request,
    SimilarRequest, UndoRequest, UserAction, UserAnswer, UserRequest,
};
use paperscout_store::FeedbackKind;
use serde_json::Value;

use super::{Service, ServiceOptions};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/daemon is two folders down")
}

/// The first `n` papers of the shared sample, or `None` (said loudly) where it is absent.
pub(crate) fn sample(n: usize) -> Option<Vec<Value>> {
    let path = repo_root().join("../shared/data/arxiv-cs/sample-2k.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("\n!!!!! SKIPPED: {} is missing !!!!!\n", path.display());
        return None;
    };
    Some(
        text.lines()
            .take(n)
            .map(|line| serde_json::from_str(line).expect("a paper"))
            .collect(),
    )
}

pub(crate) fn settings(data_dir: &Path) -> Settings {
    let model = repo_root().join("models/all-MiniLM-L6-v2");
    assert!(
        model.join("model.safetensors").is_file(),
        "the model is not at {}: run `models/fetch` (`make test` does it)",
        model.display()
    );
    Settings {
        data_dir: data_dir.to_path_buf(),
        model: ModelConfig::default(),
        daemon: DaemonConfig::default(),
        schedule: ScheduleConfig::default(),
        mail: paperscout_app::mail::MailConfig::default(),
        web: paperscout_app::settings::WebConfig::default(),
        socket: data_dir.join("unused.sock"),
        store: paperscout_app::stores::StoreLocation::Sqlite(paperscout_store::file_in(data_dir)),
    }
}

/// A service over 40 sample papers, the fifth given a DOI, and the user ada following the
/// first two.
fn service(home: &Path) -> Option<(Service, Vec<Value>)> {
    let mut papers = sample(40)?;
    papers[4]["doi"] = Value::from("10.1000/Paperscout.Test");
    let settings = settings(home);
    let service = Service::open(&settings, ServiceOptions::from_settings(&settings)).expect("open");
    let ingested = service
        .ingest(&IngestRequest {
            path: None,
            papers: papers.clone(),
            batch: Some(16),
            ..Default::default()
        })
        .expect("ingested");
    assert_eq!(ingested.report.written.added, 40);
    let added = service
        .user(&UserRequest {
            papers: vec![id(&papers[0]), id(&papers[1])],
            ..UserRequest::new(UserAction::Add, "ada")
        })
        .expect("ada is added");
    assert!(matches!(added, UserAnswer::Added(ref a) if a.created && a.added == 2));
    Some((service, papers))
}

pub(crate) fn id(paper: &Value) -> String {
    paper["id"].as_str().expect("an id").to_owned()
}

fn similar(query: &str, by: QueryKind) -> SimilarRequest {
    SimilarRequest {
        query: query.to_owned(),
        by,
        k: 5,
        since: None,
        until: None,
        categories: Vec::new(),
    }
}

#[test]
fn similar_finds_the_same_paper_by_arxiv_id_doi_title_and_its_own_text() {
    let home = tempfile::tempdir().expect("a temp dir");
    let Some((service, papers)) = service(home.path()) else {
        return;
    };
    let paper = &papers[4];
    let bare = paper["arxiv_id"].as_str().expect("an arXiv id");
    let title = paper["title"].as_str().expect("a title");

    let by_id = service
        .similar(&similar(&format!("arXiv:{bare}v3"), QueryKind::Auto))
        .expect("by id");
    assert_eq!(by_id.query.kind, "paper");
    assert_eq!(by_id.query.id.as_deref(), Some(id(paper).as_str()));
    assert_eq!(by_id.hits.len(), 5);
    assert!(
        by_id.hits.iter().all(|hit| hit.id != id(paper)),
        "never itself"
    );

    for query in [
        "10.1000/paperscout.test",
        "https://doi.org/10.1000/PAPERSCOUT.TEST",
    ] {
        let by_doi = service
            .similar(&similar(query, QueryKind::Auto))
            .expect(query);
        assert_eq!(by_doi, by_id, "{query}");
    }
    let shouted = title.to_uppercase();
    let by_title = service
        .similar(&similar(&shouted, QueryKind::Auto))
        .expect("by title");
    assert_eq!(by_title.hits, by_id.hits);

    let text = format!(
        "{title}\n{}",
        paper["abstract"].as_str().expect("an abstract")
    );
    let by_text = service
        .similar(&similar(&text, QueryKind::Text))
        .expect("by text");
    assert_eq!(by_text.query.kind, "text");
    assert_eq!(
        by_text.hits[0].id,
        id(paper),
        "a paper is its own text's nearest"
    );
    assert!(by_text.hits[0].score > 0.999, "{:?}", by_text.hits[0]);
    let neighbours: Vec<&str> = by_id.hits.iter().map(|h| h.id.as_str()).collect();
    let from_text: Vec<&str> = by_text.hits[1..].iter().map(|h| h.id.as_str()).collect();
    assert_eq!(from_text, neighbours[..4]);
}

#[test]
fn a_bad_or_unknown_query_is_answered_with_its_code() {
    let home = tempfile::tempdir().expect("a temp dir");
    let Some((service, _)) = service(home.path()) else {
        return;
    };
    let code = |request: SimilarRequest| {
        service
            .handle(Request::Similar(request))
            .expect_err("a failure")
            .code
    };
    assert_eq!(
        code(similar("2599.99999", QueryKind::Auto)),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(similar("No Such Title", QueryKind::Title)),
        ErrorCode::NotFound
    );
    assert_eq!(code(similar("   ", QueryKind::Auto)), ErrorCode::BadRequest);
    let mut huge = similar("graphs", QueryKind::Text);
    huge.k = 100_000;
    assert_eq!(code(huge), ErrorCode::BadRequest);
    let mut bad_day = similar("graphs", QueryKind::Text);
    bad_day.since = Some("yesterday".to_owned());
    assert_eq!(code(bad_day), ErrorCode::BadRequest);
}

#[test]
fn a_sent_digest_is_recorded_once_and_feedback_and_settings_go_through_the_store() {
    let home = tempfile::tempdir().expect("a temp dir");
    let Some((service, papers)) = service(home.path()) else {
        return;
    };
    let day = papers[39]["date"].as_str().expect("a date").to_owned();
    let digest = |action| DigestRequest {
        user: "ada".to_owned(),
        action,
        date: Some(day.clone()),
        days: 30,
        size: Some(3),
        mmr_lambda: None,
        min_similarity: None,
        format: paperscout_app::render::Format::Markdown,
        email: false,
    };
    let preview = service
        .digest(&digest(DigestAction::Preview))
        .expect("preview");
    assert_eq!((preview.digest.papers.len(), preview.recorded), (3, None));
    assert!(
        preview
            .rendered
            .expect("rendered")
            .contains("# paperscout digest for ada")
    );
    let sent = service.digest(&digest(DigestAction::Send)).expect("send");
    assert_eq!(sent.recorded, Some(3));
    assert_eq!(
        sent.digest.papers, preview.digest.papers,
        "a preview records nothing"
    );
    let again = service
        .digest(&digest(DigestAction::Send))
        .expect("send again");
    assert_eq!(
        again.recorded,
        Some(0),
        "nothing new after the newest day sent"
    );

    let rated = service
        .feedback(&FeedbackRequest {
            user: "ada".to_owned(),
            kind: FeedbackKind::Dislike,
            papers: vec![id(&papers[20])],
        })
        .expect("recorded");
    assert_eq!(rated.papers, [id(&papers[20])]);
    let failure = service
        .handle(Request::Feedback(FeedbackRequest {
            user: "nobody".to_owned(),
            kind: FeedbackKind::Like,
            papers: vec![id(&papers[20])],
        }))
        .expect_err("no such user");
    assert_eq!(failure.code, ErrorCode::NotFound);

    let set = service
        .user(&UserRequest {
            settings: Box::new(paperscout_app::users::SettingsChange {
                size: Some(2),
                ..Default::default()
            }),
            ..UserRequest::new(UserAction::Set, "ada")
        })
        .expect("set");
    let UserAnswer::Set(set) = set else {
        panic!("{set:?}")
    };
    assert_eq!(set.settings.rules.size, Some(2));
    let shown = service
        .user(&UserRequest::new(UserAction::Show, "ada"))
        .expect("shown");
    let UserAnswer::Show(shown) = shown else {
        panic!("{shown:?}")
    };
    assert_eq!(
        (shown.profile.len(), shown.feedback.len(), shown.sent),
        (2, 1, 3)
    );

    // An undo forgets one paper's ratings, and nothing when a paper named is unknown.
    service
        .feedback(&FeedbackRequest {
            user: "ada".to_owned(),
            kind: FeedbackKind::Like,
            papers: vec![id(&papers[21])],
        })
        .expect("liked");
    let unknown = service
        .handle(Request::Undo(UndoRequest {
            user: "ada".to_owned(),
            papers: vec![id(&papers[21]), "2501.99999".to_owned()],
        }))
        .expect_err("no such paper");
    assert_eq!(unknown.code, ErrorCode::NotFound);
    let undone = service
        .undo(&UndoRequest {
            user: "ada".to_owned(),
            papers: vec![id(&papers[21])],
        })
        .expect("undone");
    assert_eq!(
        (undone.papers[0].paper.as_str(), undone.papers[0].forgotten),
        (id(&papers[21]).as_str(), 1)
    );
    let feedback =
        |service: &Service| match service.user(&UserRequest::new(UserAction::Show, "ada")) {
            Ok(UserAnswer::Show(shown)) => shown.feedback,
            other => panic!("{other:?}"),
        };
    let left = feedback(&service);
    assert_eq!(left.len(), 1, "the dislike of another paper stays");
    assert_eq!(left[0].paper_id, id(&papers[20]));
}

/// Ratings sent at once from many threads are written together; each is answered, none is
/// lost or doubled, and a bad one fails alone.
#[test]
fn concurrent_ratings_are_each_recorded_once_and_a_bad_one_fails_alone() {
    let home = tempfile::tempdir().expect("a temp dir");
    let Some((service, papers)) = service(home.path()) else {
        return;
    };
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let service = &service;
                // Papers 10..18, each rated by three threads at once (two of them alike).
                let paper = id(&papers[10 + i % 8]);
                let kind = if i < 16 {
                    FeedbackKind::Like
                } else {
                    FeedbackKind::Save
                };
                scope.spawn(move || {
                    service.feedback(&FeedbackRequest {
                        user: if i == 23 { "nobody" } else { "ada" }.to_owned(),
                        kind,
                        papers: vec![paper],
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 23);
    assert!(answers[23].is_err(), "an unknown user fails alone");
    let feedback = service
        .read_store(|store| Ok(store.feedback("ada")?))
        .expect("read");
    for offset in 0..8 {
        let paper = id(&papers[10 + offset]);
        let kinds: Vec<FeedbackKind> = feedback
            .iter()
            .filter(|f| f.paper_id == paper)
            .map(|f| f.kind)
            .collect();
        let likes = kinds.iter().filter(|k| **k == FeedbackKind::Like).count();
        assert!(likes <= 2 && !kinds.is_empty(), "{paper}: {kinds:?}");
        // No two alike in a row: a double rating is one.
        assert!(kinds.windows(2).all(|w| w[0] != w[1]), "{paper}: {kinds:?}");
    }
}

/// Issue 25, defect 5: a category filter cost papers × categories on the runtime's own
/// threads, so one request naming 250,000 categories froze the daemon for seconds. Now a list
/// longer than [`super::MAX_CATEGORIES`] is refused, a long one is answered as a short one is,
/// and a filtered request goes to a blocking thread.
#[test]
fn a_huge_category_filter_is_refused_and_a_filtered_one_is_blocking_work() {
    let home = tempfile::tempdir().expect("a temp dir");
    let Some((service, papers)) = service(home.path()) else {
        return;
    };
    let query = id(&papers[3]);
    let mut huge = similar(&query, QueryKind::Auto);
    huge.categories = (0..250_000).map(|n| format!("x{n}.AI")).collect();
    let refused = service
        .handle(Request::Similar(huge))
        .expect_err("too many");
    assert_eq!(refused.code, ErrorCode::BadRequest);
    assert!(refused.message.contains("at most"), "{}", refused.message);

    let mut odd = similar(&query, QueryKind::Auto);
    odd.categories = vec!["cs.LG".to_owned(), "cs LG\n".repeat(100)];
    let refused = service
        .handle(Request::Similar(odd))
        .expect_err("not a category");
    assert_eq!(refused.code, ErrorCode::BadRequest);
    assert!(refused.message.len() < 300, "{}", refused.message);

    let mut short = similar(&query, QueryKind::Auto);
    short.categories = vec!["cs".to_owned()];
    let mut long = short.clone();
    long.categories
        .extend((1..super::MAX_CATEGORIES).map(|n| format!("x{n}.AI")));
    let by_short = service.similar(&short).expect("short");
    assert!(!by_short.hits.is_empty());
    assert_eq!(service.similar(&long).expect("long").hits, by_short.hits);

    let plain = similar(&query, QueryKind::Auto);
    assert!(service.is_quick(&Request::Similar(plain.clone())));
    assert!(!service.is_quick(&Request::Similar(short)));
    let mut many = plain;
    many.k = 1000;
    assert!(!service.is_quick(&Request::Similar(many)));
}

/// Issue 25, defect 14: `mmr_lambda` 1e39 and a `min_similarity` of 3 were accepted, against
/// the protocol's own ranges.
#[test]
fn knobs_out_of_range_are_refused() {
    let home = tempfile::tempdir().expect("a temp dir");
    let Some((service, _)) = service(home.path()) else {
        return;
    };
    let digest = |mmr_lambda, min_similarity| {
        service.handle(Request::Digest(DigestRequest {
            user: "ada".to_owned(),
            action: DigestAction::Preview,
            date: Some("2025-03-18".to_owned()),
            days: 7,
            size: Some(3),
            mmr_lambda,
            min_similarity,
            format: paperscout_app::render::Format::Markdown,
            email: false,
        }))
    };
    for (lambda, floor) in [
        (Some(f32::INFINITY), None),
        (Some(2.0), None),
        (Some(f32::NAN), None),
        (Some(-0.1), None),
        (None, Some(3.0)),
        (None, Some(-1.5)),
    ] {
        let refused = digest(lambda, floor).expect_err("out of range");
        assert_eq!(refused.code, ErrorCode::BadRequest, "{}", refused.message);
    }
    assert!(digest(Some(0.5), Some(0.2)).is_ok());
}
