//! The web page as a person and a hostile client meet it: a real daemon serving HTTP on
//! loopback, its real store, a real SMTP server for the e-mailed links. Requests are made
//! by hand over a TCP stream, so every header (`Host`, `Cookie`) is the test's to choose.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mail::{SmtpServer, free_port, python_with_aiosmtpd};
pub use crate::util::http::Page;
use crate::util::http::{encode, unescape};
use crate::util::{ingest_lines, paper_id, paperscout, sample_lines, stderr, write_config};

/// A `paperscout serve --foreground` with the page on, killed when dropped.
pub struct Served {
    child: Child,
}

impl Served {
    pub fn start(home: &Path, page: &Page) -> Self {
        let log = std::fs::File::create(home.join("daemon.log")).unwrap();
        let child = paperscout(home)
            .args(["serve", "--foreground", "--http", &page.host()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut served = Self { child };
        let deadline = Instant::now() + Duration::from_secs(180);
        while TcpStream::connect(("127.0.0.1", page.port)).is_err() {
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!(
                    "the daemon exited ({status}): {}",
                    std::fs::read_to_string(home.join("daemon.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the page never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
        served
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn cli(home: &Path, args: &[&str]) -> String {
    let output = paperscout(home).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

pub fn feedback(home: &Path, user: &str) -> Vec<(String, String)> {
    let shown: Value = serde_json::from_str(&cli(home, &["user", "show", user, "--json"])).unwrap();
    shown["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["paper_id"].as_str().unwrap().to_owned(),
                f["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A home with `lines` ingested and ada following the papers of the lines at `follows`, plus
/// the `extra` flags of `user add` (interests).
pub fn home_with_ada(lines: &[String], follows: [usize; 2], extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    ingest_lines(home, "papers.jsonl", lines);
    let profile = home.join("ada.txt");
    let keys: Vec<String> = follows.iter().map(|&i| paper_id(&lines[i])).collect();
    std::fs::write(&profile, keys.join("\n") + "\n").unwrap();
    let mut args = vec!["user", "add", "ada", "--papers", profile.to_str().unwrap()];
    args.extend_from_slice(extra);
    cli(home, &args);
    dir
}

/// Signs in with `user link`, returning the session cookie.
fn sign_in(home: &Path, page: &Page, user: &str) -> String {
    let link = cli(home, &["user", "link", user, "--http", &page.host()]);
    let path = link
        .trim()
        .strip_prefix(&format!("http://{}", page.host()))
        .unwrap();
    let answer = page.get(path, None);
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some("/today"));
    let set = answer.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    answer.session()
}

#[test]
fn a_user_rates_undoes_searches_and_sets_rules_on_the_page_and_reaches_only_their_own() {
    let Some(mut lines) = sample_lines(0, 150) else {
        return;
    };
    // A paper whose title and abstract hold markup: shown, never run.
    lines.push(
        serde_json::json!({
            "id": "2503.99999", "title": "<script>alert(\"t\")</script> & 'graphs'",
            "abstract": "We study <b>graph neural networks</b> & molecules, $a<b$.",
            "authors": ["Eve <img src=x>"], "categories": ["cs.LG"], "date": "2025-03-19"
        })
        .to_string(),
    );
    let home = home_with_ada(&lines, [10, 40], &[]);
    let home = home.path();
    cli(
        home,
        &["user", "add", "bob", "--interest", "speech recognition"],
    );
    let page = Page { port: free_port() };
    let _served = Served::start(home, &page);

    // Nobody signed in: pages send to the sign-in page, forms are refused, bad links cost a
    // delay and say nothing of the user.
    assert_eq!(page.get("/today", None).status, 303);
    assert_eq!(page.get("/profile", None).status, 303);
    assert_eq!(page.get("/profile/backtest", None).status, 303);
    assert_eq!(
        page.post(
            "/rate",
            None,
            &[("paper", "x"), ("kind", "like"), ("csrf", "x")]
        )
        .status,
        403
    );
    assert_eq!(
        page.post(
            "/profile/watch",
            None,
            &[("label", "x"), ("text", "x"), ("csrf", "x")]
        )
        .status,
        403
    );
    let started = Instant::now();
    let forged = page.get(
        "/login/bG9naW4KYWRhCjAKOTk5OTk5OTk5OQ.AAAAAAAAAAAAAAAAAAAAAA",
        None,
    );
    assert_eq!(forged.status, 403);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "a wrong token costs time"
    );
    // A page asked for under another name (DNS rebinding) is refused.
    let rebound = page.request("GET", "/", &[("Host", "evil.example:80")], "");
    assert_eq!(rebound.status, 421);

    let ada = sign_in(home, &page, "ada");
    let today = page.get("/today", Some(&ada));
    assert_eq!(today.status, 200);
    assert!(today.body.contains("Because you follow"), "{}", today.body);
    let csp = today.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    let csrf = today.inputs("csrf")[0].clone();
    let mut picks = today.inputs("paper");
    picks.dedup();
    assert!(picks.len() >= 3, "{picks:?}");

    // Dislike one (twice: one rating), dismiss another, undo the dismissal.
    for _ in 0..2 {
        let rated = page.post(
            "/rate",
            Some(&ada),
            &[
                ("paper", &picks[0]),
                ("kind", "dislike"),
                ("csrf", &csrf),
                ("back", "/today"),
            ],
        );
        assert_eq!(
            (rated.status, rated.header("location")),
            (303, Some("/today"))
        );
    }
    let rated = page.post(
        "/rate",
        Some(&ada),
        &[
            ("paper", &picks[1]),
            ("kind", "dismiss"),
            ("csrf", &csrf),
            ("back", "//evil.example/"),
        ],
    );
    assert_eq!(
        rated.header("location"),
        Some("/today"),
        "back goes nowhere else"
    );
    assert_eq!(
        feedback(home, "ada"),
        [
            (picks[0].clone(), "dislike".to_owned()),
            (picks[1].clone(), "dismiss".to_owned())
        ]
    );
    let history = page.get("/history", Some(&ada));
    assert!(
        history.body.contains(">dislike<") && history.body.contains(">dismiss<"),
        "{}",
        history.body
    );
    page.post(
        "/undo",
        Some(&ada),
        &[("paper", &picks[1]), ("csrf", &csrf), ("back", "/history")],
    );
    assert_eq!(
        feedback(home, "ada"),
        [(picks[0].clone(), "dislike".to_owned())]
    );

    // Search by free text, and the hostile paper is shown as text.
    let found = page.get("/search?q=graph+neural+networks+for+molecules", Some(&ada));
    assert_eq!(found.status, 200);
    assert!(
        found
            .body
            .contains("&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; &#39;graphs&#39;"),
        "{}",
        found.body
    );
    assert!(!found.body.contains("<script>alert") && !found.body.contains("<img src=x>"));
    assert!(
        found
            .body
            .contains("&lt;b&gt;graph neural networks&lt;/b&gt;")
    );

    // A paper's page says why it is not offered: it was rated.
    let paper = page.get(&format!("/paper/{}", encode(&picks[0])), Some(&ada));
    assert_eq!(paper.status, 200);
    assert!(
        paper.body.contains("You rated it (dislike)"),
        "{}",
        paper.body
    );
    assert!(paper.body.contains("Similar papers"));

    // A rule from the profile page is the CLI's settings change, and the next ranking obeys it.
    let set = page.post(
        "/profile/rules",
        Some(&ada),
        &[("csrf", &csrf), ("mute_categories", "cs.CV"), ("size", "4")],
    );
    assert_eq!(set.status, 303, "{}", set.body);
    let shown: Value =
        serde_json::from_str(&cli(home, &["user", "show", "ada", "--json"])).unwrap();
    assert_eq!(
        shown["settings"]["rules"]["mute_categories"],
        serde_json::json!(["cs.CV"])
    );
    // So is the hour and cadence of the digest; a made-up zone is refused and changes nothing.
    let timed = page.post(
        "/profile/timing",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("cadence", "weekly:fri"),
            ("digest_at", "07:30"),
            ("timezone", "Asia/Tokyo"),
            ("nothing_note", "on"),
        ],
    );
    assert_eq!(timed.status, 303, "{}", timed.body);
    let refused = page.post(
        "/profile/timing",
        Some(&ada),
        &[("csrf", &csrf), ("timezone", "Mars/Olympus")],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("IANA"), "{}", refused.body);
    let shown: Value =
        serde_json::from_str(&cli(home, &["user", "show", "ada", "--json"])).unwrap();
    assert_eq!(
        shown["settings"]["timing"],
        serde_json::json!({"cadence": "weekly:fri", "timezone": "Asia/Tokyo",
                           "digest_at": "07:30", "nothing_note": true})
    );
    assert!(page.get("/profile", Some(&ada)).body.contains("Asia/Tokyo"));
    let next: Value =
        serde_json::from_str(&cli(home, &["recommend", "--user", "ada", "--json"])).unwrap();
    for pick in next["papers"].as_array().unwrap() {
        assert!(
            !pick["categories"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("cs.CV")),
            "{pick}"
        );
        assert_ne!(
            pick["id"],
            picks[0].as_str(),
            "a disliked paper is not offered"
        );
    }
    assert!(page.get("/today", Some(&ada)).body.contains("Your papers"));

    // A digest the command sends (through the daemon) is today's digest, and in history.
    let sent: Value = serde_json::from_str(&cli(
        home,
        &[
            "digest",
            "--user",
            "ada",
            "--date",
            "2025-03-19",
            "--days",
            "3",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    let mut sent: Vec<String> = sent["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!sent.is_empty() && sent.len() <= 4, "{sent:?}");
    let today = page.get("/today", Some(&ada));
    assert!(
        today.body.contains("Your digest of 2025-03-19"),
        "{}",
        today.body
    );
    let mut shown = today.inputs("paper");
    shown.dedup();
    sent.sort();
    shown.sort();
    assert_eq!(shown, sent);
    let history = page.get("/history", Some(&ada));
    assert!(history.body.contains("2025-03-19"), "{}", history.body);
    for id in &sent {
        assert!(
            history.body.contains(&format!("/paper/{}", encode(id))),
            "{id}: {}",
            history.body
        );
    }

    // A text watched from the profile page is the CLI's watch; stopping it drops it.
    let watched = page.post(
        "/profile/watch",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("label", "my <draft>"),
            ("text", "Graph networks for molecules\nWe pass messages."),
            ("threshold", "0.85"),
        ],
    );
    assert_eq!(watched.status, 303, "{}", watched.body);
    let shown: Value =
        serde_json::from_str(&cli(home, &["user", "show", "ada", "--json"])).unwrap();
    assert_eq!(
        shown["settings"]["watches"][0]["label"], "my <draft>",
        "{shown}"
    );
    let profile = page.get("/profile", Some(&ada));
    assert!(
        profile.body.contains("my &lt;draft&gt;"),
        "{}",
        profile.body
    );
    let too_far = page.post(
        "/profile/watch",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("label", "x"),
            ("text", "y"),
            ("threshold", "3"),
        ],
    );
    assert_eq!(too_far.status, 400, "{}", too_far.body);
    page.post(
        "/profile/unwatch",
        Some(&ada),
        &[("csrf", &csrf), ("label", "my <draft>")],
    );
    let shown: Value =
        serde_json::from_str(&cli(home, &["user", "show", "ada", "--json"])).unwrap();
    assert!(shown["settings"].get("watches").is_none(), "{shown}");

    // A library followed from the command line is listed on the profile page.
    let library = home.join("library.bib");
    std::fs::write(
        &library,
        "@article{x, title = {<Escaped & listed>}, doi = {10.1/x}}\n",
    )
    .unwrap();
    cli(
        home,
        &[
            "user",
            "follow",
            "ada",
            "--bibtex",
            library.to_str().unwrap(),
        ],
    );
    let profile = page.get("/profile", Some(&ada));
    assert!(
        profile.body.contains("Followed libraries") && profile.body.contains("library.bib"),
        "{}",
        profile.body
    );

    // The backtest page ranks ada's latest paper again on its day, and changes nothing.
    let backtest = page.get("/profile/backtest", Some(&ada));
    assert_eq!(backtest.status, 200, "{}", backtest.body);
    assert!(
        backtest
            .body
            .contains("1 of your papers and likes were hidden")
            && backtest.body.contains("mean reciprocal rank"),
        "{}",
        backtest.body
    );
    assert_eq!(
        feedback(home, "ada"),
        [(picks[0].clone(), "dislike".to_owned())]
    );

    // ada's interests: renamed and boosted by a form as `user facet` would, the name shown
    // escaped; a form without her token, or with a mode that is none, changes nothing.
    let facets = page.get("/profile/facets", Some(&ada));
    assert_eq!(facets.status, 200, "{}", facets.body);
    let anchors = facets.inputs("anchor");
    assert!(!anchors.is_empty(), "{}", facets.body);
    let facet_form = |csrf: &str, name: &str, mode: &str| {
        page.post(
            "/profile/facet",
            Some(&ada),
            &[
                ("csrf", csrf),
                ("anchor", &anchors[0]),
                ("name", name),
                ("mode", mode),
            ],
        )
    };
    assert_eq!(facet_form("forged", "x", "muted").status, 403);
    assert_eq!(facet_form(&csrf, "x", "loud").status, 400);
    let named = facet_form(&csrf, "<My> graphs", "boosted");
    assert_eq!(named.status, 303, "{}", named.body);
    let listed: Value =
        serde_json::from_str(&cli(home, &["user", "facet", "ada", "--json"])).unwrap();
    assert_eq!(
        (&listed["facets"][0]["name"], &listed["facets"][0]["mode"]),
        (&Value::from("<My> graphs"), &Value::from("boosted")),
        "{listed}"
    );
    let facets = page.get("/profile/facets", Some(&ada));
    assert!(facets.body.contains("&lt;My&gt; graphs"), "{}", facets.body);
    let reset = page.post(
        "/profile/facet",
        Some(&ada),
        &[("csrf", &csrf), ("anchor", &anchors[0]), ("reset", "1")],
    );
    assert_eq!(reset.status, 303, "{}", reset.body);
    let shown: Value =
        serde_json::from_str(&cli(home, &["user", "show", "ada", "--json"])).unwrap();
    assert!(shown["settings"].get("facets").is_none(), "{shown}");

    // Bob sees his own pages; Ada's form token does not work with his session, nor his
    // session's changes reach her.
    let bob = sign_in(home, &page, "bob");
    let bobs = page.get("/profile", Some(&bob));
    assert!(
        bobs.body.contains("speech recognition") && !bobs.body.contains("cs.CV"),
        "{}",
        bobs.body
    );
    let cross = page.post(
        "/rate",
        Some(&bob),
        &[("paper", &picks[2]), ("kind", "like"), ("csrf", &csrf)],
    );
    assert_eq!(cross.status, 403);
    let bob_csrf = bobs.inputs("csrf")[0].clone();
    page.post(
        "/rate",
        Some(&bob),
        &[("paper", &picks[2]), ("kind", "like"), ("csrf", &bob_csrf)],
    );
    assert_eq!(
        feedback(home, "bob"),
        [(picks[2].clone(), "like".to_owned())]
    );
    assert_eq!(feedback(home, "ada").len(), 1);
    let bobs_history = page.get("/history", Some(&bob));
    assert!(
        !bobs_history.body.contains(">dislike<"),
        "{}",
        bobs_history.body
    );

    // Revoking ends every session and link of Ada, and only hers.
    cli(home, &["user", "link", "ada", "--revoke"]);
    assert_eq!(page.get("/today", Some(&ada)).status, 303);
    assert_eq!(page.get("/today", Some(&bob)).status, 200);
}

#[test]
fn a_mail_scanner_that_fetches_every_link_records_nothing_and_the_button_records_once() {
    let Some(lines) = sample_lines(0, 80) else {
        return;
    };
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let home = home_with_ada(&lines, [3, 30], &[]);
    let home = home.path();
    cli(home, &["user", "set", "ada", "--email", "ada@example.org"]);
    let smtp_port = free_port();
    let server = SmtpServer::start(&python, smtp_port, &home.join("maildir"));
    let page = Page { port: free_port() };
    write_config(
        home,
        &format!(
            "[schedule]\ndigest_at = \"00:00\"\ndigest_days = 4000\ndigest_size = 3\npoll_seconds = 1\n\
             [mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\nsecurity = \"none\"\n\
             from = \"paperscout <digest@paperscout.test>\"\n"
        ),
    );
    let _served = Served::start(home, &page);
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.messages(&python).is_empty() {
        assert!(Instant::now() < deadline, "no digest was mailed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let message = &server.messages(&python)[0];
    let base = format!("http://{}", page.host());
    let mut urls = Vec::new();
    for part in message["parts"].as_array().unwrap() {
        let text = part["text"].as_str().unwrap();
        for (at, _) in text.match_indices(&base) {
            let rest = &text[at + base.len()..];
            let end = rest
                .find(|c: char| c == ')' || c == '"' || c.is_whitespace())
                .unwrap_or(rest.len());
            urls.push(unescape(&rest[..end]));
        }
    }
    // Three picks, five links each (open, like, save, dislike, dismiss), in both parts.
    assert_eq!(urls.len(), 3 * 5 * 2, "{urls:?}");

    // A scanner fetches every link, without cookies, as Safe Links does: nothing is recorded.
    for url in &urls {
        let answer = page.get(url, None);
        assert!(
            matches!(answer.status, 200 | 303),
            "{url}: {}",
            answer.status
        );
    }
    assert!(feedback(home, "ada").is_empty(), "a GET recorded a rating");

    // The person follows "not for me" and presses its button, twice: one rating.
    let plain = message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "text/plain")
        .unwrap();
    let plain = plain["text"].as_str().unwrap();
    let at = plain.find("[not for me](").unwrap() + "[not for me](".len();
    let link = &plain[at..at + plain[at..].find(')').unwrap()];
    let path = link.strip_prefix(&base).unwrap();
    let shown = page.get(path, None);
    assert!(
        shown.body.contains(&format!("action=\"{path}\"")),
        "{}",
        shown.body
    );
    assert!(
        shown
            .body
            .contains("Nothing is recorded until you press the button")
    );
    let cookie = shown.session();
    for _ in 0..2 {
        let pressed = page.post(path, Some(&cookie), &[]);
        assert_eq!(pressed.status, 200, "{}", pressed.body);
        assert!(pressed.body.contains("takes effect in your next digest"));
    }
    let rated = feedback(home, "ada");
    assert_eq!(rated.len(), 1, "{rated:?}");
    assert_eq!(rated[0].1, "dislike");
    // The link's page signed the user in: today shows the delivered digest, rated.
    let today = page.get("/today", Some(&cookie));
    assert!(today.body.contains("Your digest of"), "{}", today.body);
}

#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_limit_and_cannot_name_another() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    // One request a second after a burst of four, counted per client the proxy names.
    write_config(
        home,
        "[web]\nrequests_per_second = 1\ntrusted_proxies = [\"127.0.0.1\"]\n",
    );
    let page = Page { port: free_port() };
    let _served = Served::start(home, &page);
    let from = |forwarded: &str| {
        page.request("GET", "/", &[("X-Forwarded-For", forwarded)], "")
            .status
    };
    let mut statuses = Vec::new();
    while statuses.len() < 8 && statuses.last() != Some(&429) {
        statuses.push(from("203.0.113.9"));
    }
    assert_eq!(statuses[..4], [200; 4], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The client wrote another address before its own; the proxy added its real one last.
    assert_eq!(
        from("198.51.100.7, 203.0.113.9"),
        429,
        "a client named itself someone else and escaped its limit"
    );
    assert_eq!(from("198.51.100.7"), 200, "another client behind the proxy");
    assert_eq!(page.get("/", None).status, 200, "the proxy's own requests");

    let named = tempfile::tempdir().unwrap();
    write_config(named.path(), "[web]\ntrusted_proxies = [\"proxy.lab\"]\n");
    let refused = paperscout(named.path())
        .args(["serve", "--foreground", "--http", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("\"proxy.lab\" is not an IP address"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn silent_connections_are_closed_and_one_client_cannot_hold_every_slot() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write_config(
        home,
        "[web]\nmax_connections = 8\nmax_connections_per_client = 2\nidle_timeout_secs = 3\n",
    );
    let page = Page { port: free_port() };
    let _served = Served::start(home, &page);
    let connect = || {
        let stream = TcpStream::connect(("127.0.0.1", page.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
    };
    // Two connections that begin a request and never finish its head: this client's share.
    let head = format!("GET / HTTP/1.1\r\nHost: {}\r\n", page.host());
    let mut silent: Vec<TcpStream> = (0..2).map(|_| connect()).collect();
    for stream in &mut silent {
        stream.write_all(head.as_bytes()).unwrap();
    }
    // A third, with a whole request, is closed unanswered.
    let mut third = connect();
    let _ = third.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
    let mut answer = Vec::new();
    let _ = third.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "a third connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    // The silent ones are closed once the idle timeout passes, not held for ever.
    let started = Instant::now();
    for stream in &mut silent {
        let mut rest = Vec::new();
        // Closed: the end of the stream, or a reset (the server read a head it never finished).
        if let Err(err) = stream.read_to_end(&mut rest) {
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::ConnectionReset,
                "a silent connection was kept: {err}"
            );
        }
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(
        page.get("/", None).status,
        200,
        "and the client is served again"
    );
}
