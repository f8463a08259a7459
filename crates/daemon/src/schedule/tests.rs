//! The scheduler on a test's clock, over the real model and a real SQLite store: cadences and
//! time zones over two simulated weeks, and a webhook receiver on 127.0.0.1 that fails before
//! it accepts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use paperscout_app::choose::Digest;
use paperscout_app::settings::ScheduleConfig;
use paperscout_app::users::SettingsChange;
use paperscout_proto::{IngestRequest, UserAction, UserRequest};
use paperscout_types::{Cadence, Webhook, WebhookFormat};
use serde_json::Value;

use super::*;
use crate::service::tests::{id, sample, settings};
use crate::service::{Service, ServiceOptions};

pub(super) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a time")
        .with_timezone(&Utc)
}

/// The test's clock: the scheduler reads it, the test sets it.
pub(super) type TestClock = Arc<Mutex<DateTime<Utc>>>;

/// What a receiver was posted: each request's answer and body.
type Posted = Arc<Mutex<Vec<(u16, String)>>>;

/// A service over `per_day` sample papers announced on each of `days` days from `first`, and
/// a scheduler on a clock the test sets.
pub(super) fn scheduled(
    home: &Path,
    first: NaiveDate,
    days: u64,
    per_day: usize,
    config: ScheduleConfig,
) -> Option<(Arc<Service>, Scheduler, TestClock, Vec<Value>)> {
    let count = usize::try_from(days).expect("few days") * per_day;
    let mut papers = sample(count)?;
    for (n, paper) in papers.iter_mut().enumerate() {
        let day = first + chrono::Days::new((n / per_day) as u64);
        paper["date"] = Value::from(day.format("%Y-%m-%d").to_string());
    }
    let settings = settings(home);
    let service =
        Arc::new(Service::open(&settings, ServiceOptions::from_settings(&settings)).expect("open"));
    service
        .ingest(&IngestRequest {
            path: None,
            papers: papers.clone(),
            batch: Some(64),
            ..Default::default()
        })
        .expect("ingested");
    let now = Arc::new(Mutex::new(utc("2000-01-01T00:00:00Z")));
    let clock = Arc::clone(&now);
    let scheduler = Scheduler {
        clock: Arc::new(move || *clock.lock().expect("the clock")),
        ..Scheduler::new(
            Arc::clone(&service),
            Arc::new(RwLock::new(config)),
            home.to_path_buf(),
        )
    };
    Some((service, scheduler, now, papers))
}

/// Adds a user following two papers, with their settings changed.
fn add_user(service: &Service, name: &str, follows: &[&Value], change: SettingsChange) {
    service
        .user(&UserRequest {
            papers: follows.iter().map(|p| id(p)).collect(),
            ..UserRequest::new(UserAction::Add, name)
        })
        .expect("added");
    service
        .user(&UserRequest {
            settings: Box::new(change),
            ..UserRequest::new(UserAction::Set, name)
        })
        .expect("set");
}

/// The user's scheduled digests so far, by day, from the outbox.
fn digests(home: &Path, user: &str) -> Vec<Digest> {
    let Ok(entries) = std::fs::read_dir(home.join("digests").join(user)) else {
        return Vec::new();
    };
    let mut found: Vec<Digest> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().contains(".sent-")
        })
        .map(|p| serde_json::from_str(&fs_err::read_to_string(p).expect("read")).expect("a digest"))
        .collect();
    found.sort_by(|a, b| a.to.cmp(&b.to));
    found
}

#[test]
fn cadences_and_time_zones_over_two_weeks_of_a_fake_clock() {
    let home = tempfile::tempdir().expect("a temp dir");
    // 2026-03-02 is a Monday; papers are announced every day of two weeks.
    let first = NaiveDate::from_ymd_opt(2026, 3, 2).expect("a day");
    let config = ScheduleConfig {
        digest_at: Some("07:00".into()),
        timezone: Some("UTC".into()),
        digest_size: Some(2),
        ..ScheduleConfig::default()
    };
    let Some((service, scheduler, now, papers)) = scheduled(home.path(), first, 15, 4, config)
    else {
        return;
    };
    let follows = [&papers[0], &papers[1]];
    add_user(
        &service,
        "weekly",
        &follows,
        SettingsChange {
            cadence: Some(Cadence::Weekly(0)),
            size: Some(30),
            ..SettingsChange::default()
        },
    );
    add_user(
        &service,
        "weekdays",
        &follows,
        SettingsChange {
            cadence: Some(Cadence::Weekdays),
            ..SettingsChange::default()
        },
    );
    add_user(
        &service,
        "tokyo",
        &follows,
        SettingsChange {
            timezone: Some("Asia/Tokyo".into()),
            digest_at: Some("07:30".into()),
            ..SettingsChange::default()
        },
    );
    // Each user's digests, with the round's time when each appeared.
    let mut seen: BTreeMap<&str, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
    let mut at = utc("2026-03-01T12:00:00Z");
    while at <= utc("2026-03-16T12:00:00Z") {
        *now.lock().expect("the clock") = at;
        scheduler.round();
        for user in ["weekly", "weekdays", "tokyo"] {
            let days: Vec<String> = digests(home.path(), user)
                .into_iter()
                .map(|d| d.to)
                .collect();
            let known = seen.entry(user).or_default();
            for day in days.into_iter().skip(known.len()) {
                known.push((at, day));
            }
        }
        at += Duration::minutes(30);
    }

    // Weekly on Mondays at 07:00, each the week's best: its window is the whole week.
    let weekly: Vec<(DateTime<Utc>, String)> = seen["weekly"].clone();
    assert_eq!(
        weekly,
        [
            (utc("2026-03-02T07:00:00Z"), "2026-03-02".to_owned()),
            (utc("2026-03-09T07:00:00Z"), "2026-03-09".to_owned()),
            (utc("2026-03-16T07:00:00Z"), "2026-03-16".to_owned()),
        ]
    );
    let second = &digests(home.path(), "weekly")[1];
    assert_eq!(
        (second.from.as_str(), second.to.as_str()),
        ("2026-03-03", "2026-03-09")
    );
    let days: std::collections::BTreeSet<&str> = second
        .papers
        .iter()
        .filter_map(|e| e.paper.date.as_deref())
        .collect();
    assert!(
        days.len() >= 5,
        "the week's papers, not the last day's: {days:?}"
    );

    // Weekdays: none on a Saturday or Sunday; Monday's covers the weekend.
    let weekdays = &seen["weekdays"];
    assert_eq!(weekdays.len(), 11, "{weekdays:?}");
    for (sent, day) in weekdays {
        let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("a day");
        assert!(
            !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
            "{day}"
        );
        assert_eq!(sent.format("%H:%M").to_string(), "07:00");
    }
    let monday = digests(home.path(), "weekdays")
        .into_iter()
        .find(|d| d.to == "2026-03-09")
        .expect("Monday's digest");
    assert_eq!(monday.from, "2026-03-07");

    // Tokyo (UTC+9) at its own 07:30: 22:30 UTC the day before, every day.
    let tokyo = &seen["tokyo"];
    assert!(tokyo.len() >= 14, "{tokyo:?}");
    for (sent, day) in tokyo {
        let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("a day");
        assert_eq!(sent.date_naive().succ_opt(), Some(day), "{sent} for {day}");
        assert_eq!(sent.format("%H:%M").to_string(), "22:30");
    }
    // Nothing was ever sent twice to anyone.
    for user in ["weekly", "weekdays", "tokyo"] {
        let mut ids: Vec<String> = digests(home.path(), user)
            .iter()
            .flat_map(|d| d.papers.iter().map(|e| e.paper.id.clone()))
            .collect();
        let all = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all, "{user} got a paper twice");
    }
}

/// An answer of a test server: status, extra headers, body.
pub(super) type Answer = (u16, Vec<(&'static str, String)>, String);

/// What a test server was asked: when, the request line's target, the body and the
/// User-Agent.
pub(super) type Asked = Arc<Mutex<Vec<(std::time::Instant, String, String, String)>>>;

/// An HTTP server on 127.0.0.1 answering each request with `answer(target, body)`, keeping
/// what it was asked. Returns its base URL (`http://127.0.0.1:PORT`).
pub(super) fn serve(answer: impl Fn(&str, &str) -> Answer + Send + 'static) -> (String, Asked) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let log: Asked = Arc::default();
    let kept = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let at = std::time::Instant::now();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let target = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let mut length = 0;
            let mut agent = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("user-agent:") {
                    agent = line["user-agent:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let (status, headers, text) = answer(&target, &body);
            kept.lock()
                .expect("the log")
                .push((at, target, body, agent));
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
                if status < 400 { "OK" } else { "Failed" },
                text.len()
            );
            for (name, value) in headers {
                head += &format!("{name}: {value}\r\n");
            }
            let _ = write!(reader.get_mut(), "{head}\r\n{text}");
        }
    });
    (base, log)
}

/// A receiver that answers HTTP 500 to its first `failures` posts, then 200, keeping every
/// post's answer and body.
fn flaky_receiver(failures: usize) -> (String, Posted) {
    let posted: Posted = Arc::default();
    let kept = Arc::clone(&posted);
    let (base, _) = serve(move |_, body| {
        let mut log = kept.lock().expect("the log");
        let status = if log.len() < failures { 500 } else { 200 };
        log.push((status, body.to_owned()));
        (status, Vec::new(), "ok".to_owned())
    });
    (format!("{base}/hooks/T000/B000/secret"), posted)
}

#[test]
fn a_webhook_that_fails_twice_gets_the_digest_once_with_every_pick() {
    let home = tempfile::tempdir().expect("a temp dir");
    let first = NaiveDate::from_ymd_opt(2026, 3, 2).expect("a day");
    let (url, log) = flaky_receiver(2);
    // A team's channel takes ada's digests too, and no one else's.
    let (team_url, team_log) = flaky_receiver(0);
    let config = ScheduleConfig {
        digest_at: Some("07:00".into()),
        timezone: Some("UTC".into()),
        digest_size: Some(5),
        retry_seconds: Some(1),
        team_webhooks: vec![paperscout_app::settings::TeamWebhook {
            url: team_url,
            format: WebhookFormat::Json,
            users: vec!["ada".into()],
        }],
        ..ScheduleConfig::default()
    };
    let Some((service, scheduler, now, papers)) = scheduled(home.path(), first, 1, 30, config)
    else {
        return;
    };
    add_user(&service, "alan", &[&papers[2]], SettingsChange::default());
    add_user(
        &service,
        "ada",
        &[&papers[0], &papers[1]],
        SettingsChange {
            webhook: Some(Webhook {
                url: url.clone(),
                format: WebhookFormat::Slack,
            }),
            ..SettingsChange::default()
        },
    );
    *now.lock().expect("the clock") = utc("2026-03-02T08:00:00Z");
    let requests = || log.lock().expect("the log").len();
    scheduler.round();
    assert_eq!(requests(), 1, "posted with the digest");
    scheduler.round();
    assert_eq!(requests(), 1, "not again before its pause");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    scheduler.round();
    assert_eq!(requests(), 2, "again after 1 s");
    scheduler.round();
    assert_eq!(requests(), 2);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    scheduler.round();
    assert_eq!(requests(), 3, "again after 2 s more, accepted");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    scheduler.round();
    scheduler.round();
    let log = log.lock().expect("the log").clone();
    assert_eq!(
        log.iter().map(|(status, _)| *status).collect::<Vec<_>>(),
        [500, 500, 200],
        "accepted once, never posted again"
    );
    assert!(
        log.iter().all(|(_, body)| *body == log[0].1),
        "the same body each time"
    );
    let digest = &digests(home.path(), "ada")[0];
    assert_eq!(digest.papers.len(), 5);
    let body: Value = serde_json::from_str(&log[2].1).expect("JSON");
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.contains("5 new papers for ada"))
    );
    let blocks = body["blocks"].as_array().expect("Block Kit blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().expect("mrkdwn text"))
        .collect();
    for entry in &digest.papers {
        let title = entry
            .paper
            .title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            sections.iter().any(|s| s.contains(&title)),
            "{title} is posted"
        );
    }
    assert!(
        service
            .deliver_outbox(false, Posts::All)
            .expect("delivered")
            .delivered
            == 0
    );
    let team = team_log.lock().expect("the log").clone();
    assert_eq!(
        team.len(),
        1,
        "the team's channel got ada's digest, not alan's"
    );
    let posted: Digest = serde_json::from_str(&team[0].1).expect("the digest's JSON");
    assert_eq!((posted.user.as_str(), posted.papers.len()), ("ada", 5));
}

#[test]
fn bad_times_and_zones_say_where_to_fix_them() {
    let config = ScheduleConfig {
        digest_at: Some("7pm".into()),
        ..ScheduleConfig::default()
    };
    let err = validate(&config).unwrap_err().to_string();
    assert!(err.contains("[schedule]") && err.contains("HH:MM"), "{err}");
    let config = ScheduleConfig {
        digest_at: Some("07:00".into()),
        timezone: Some("Europe/Berln".into()),
        ..ScheduleConfig::default()
    };
    let err = validate(&config).unwrap_err().to_string();
    assert!(err.contains("IANA"), "{err}");
}
