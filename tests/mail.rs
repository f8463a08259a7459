//! Digest e-mail against a real SMTP server on loopback (Python's aiosmtpd writing a
//! maildir): the message's headers and both parts, the outbox while the server is down, and
//! no paper mailed twice.
//!
//! The server needs a Python with aiosmtpd: `make test` makes one in `.venv-test`. Without it
//! the test says so loudly and skips, unless PAPERSCOUT_REQUIRE_SMTP is set (as `make test`
//! sets it), where it fails.

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{ingest_lines, paper_id, paperscout, repo_root, sample_lines, stderr};

/// A Python that can run aiosmtpd: $PAPERSCOUT_TEST_PYTHON, the repository's `.venv-test`,
/// or `python3`.
pub fn python_with_aiosmtpd() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PAPERSCOUT_TEST_PYTHON").map(PathBuf::from),
        Some(repo_root().join(".venv-test/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    let found = candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        let message = "no Python with aiosmtpd: run `make test` (it makes .venv-test), or \
                       `pip install aiosmtpd`, or set PAPERSCOUT_TEST_PYTHON";
        assert!(
            std::env::var_os("PAPERSCOUT_REQUIRE_SMTP").is_none(),
            "{message}"
        );
        eprintln!("\n!!! SKIPPED: the SMTP test: {message} !!!\n");
    }
    found
}

/// An SMTP server on 127.0.0.1 that stores every message it accepts in a maildir.
pub struct SmtpServer {
    child: Child,
    maildir: PathBuf,
}

impl SmtpServer {
    pub fn start(python: &Path, port: u16, maildir: &Path) -> Self {
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "--nosetuid", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--class", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            maildir: maildir.to_path_buf(),
        }
    }

    /// Every message received so far, parsed by Python's `email` package, oldest first.
    pub fn messages(&self, python: &Path) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort_by_key(|f| std::fs::metadata(f).unwrap().modified().unwrap());
        files
            .iter()
            .map(|file| parse_message(python, file))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_message(python: &Path, file: &Path) -> Value {
    const PARSE: &str = r#"
import email, email.policy, json, sys
with open(sys.argv[1], "rb") as f:
    m = email.message_from_binary_file(f, policy=email.policy.default)
parts = [{"type": p.get_content_type(), "text": p.get_content()}
         for p in m.walk() if not p.is_multipart()]
headers = {k.lower(): str(v) for k, v in m.items()}
print(json.dumps({"headers": headers, "type": m.get_content_type(), "parts": parts}))
"#;
    let output = Command::new(python)
        .args(["-c", PARSE])
        .arg(file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(home: &Path, args: &[&str]) -> std::process::Output {
    paperscout(home).args(args).output().unwrap()
}

fn ok(home: &Path, args: &[&str]) -> std::process::Output {
    let output = run(home, args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    output
}

/// The titles a message's plain-text part lists (`## N. Title`).
pub fn titles(message: &Value) -> Vec<String> {
    let plain = message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "text/plain")
        .expect("a plain-text part");
    plain["text"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|l| l.split_once(". ").unwrap().1.to_owned())
        .collect()
}

#[test]
fn digests_are_mailed_kept_queued_while_the_server_is_down_and_never_repeated() {
    let Some(first_day) = sample_lines(0, 60) else {
        return;
    };
    let Some(python) = python_with_aiosmtpd() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ingest_lines(home, "day1.jsonl", &first_day);
    let profile = home.join("mine.txt");
    std::fs::write(
        &profile,
        format!("{}\n{}\n", paper_id(&first_day[0]), paper_id(&first_day[1])),
    )
    .unwrap();
    ok(
        home,
        &["user", "add", "ada", "--papers", profile.to_str().unwrap()],
    );

    // Without an address or a server, the user is told what to set.
    let output = run(
        home,
        &["digest", "--user", "ada", "--date", "2025-03-18", "--email"],
    );
    assert_eq!(
        output.status.code(),
        Some(2),
        "a missing address is the user's to set"
    );
    assert!(
        stderr(&output).contains("paperscout user set ada --email ADDRESS"),
        "{}",
        stderr(&output)
    );
    let output = run(home, &["user", "set", "ada", "--email", "not an address"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not an e-mail address"),
        "{}",
        stderr(&output)
    );
    ok(home, &["user", "set", "ada", "--email", "ada@example.org"]);
    let output = run(
        home,
        &["digest", "--user", "ada", "--date", "2025-03-18", "--email"],
    );
    assert!(stderr(&output).contains("[mail]"), "{}", stderr(&output));

    let port = free_port();
    let config_dir = home.join("config/paperscout");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
             from = \"paperscout <digest@paperscout.test>\"\ntimeout_secs = 5\n"
        ),
    )
    .unwrap();

    // A dry run prints the message and neither sends nor records.
    let dry = ok(
        home,
        &[
            "digest",
            "--user",
            "ada",
            "--date",
            "2025-03-18",
            "--size",
            "5",
            "--email",
            "--dry-run",
        ],
    );
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("Subject: paperscout: 5 new papers for ada"),
        "{text}"
    );
    assert!(text.contains("multipart/alternative"), "{text}");

    // The server is down: the papers are recorded with the message queued, and the command
    // says so and fails.
    let output = run(
        home,
        &[
            "digest",
            "--user",
            "ada",
            "--date",
            "2025-03-18",
            "--size",
            "5",
            "--email",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("stay queued"),
        "{}",
        stderr(&output)
    );
    let queue: Value =
        serde_json::from_slice(&ok(home, &["mail", "queue", "--json"]).stdout).unwrap();
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue[0]["recipient"], "ada@example.org");
    assert_eq!(queue[0]["channel"], "email");
    assert_eq!(queue[0]["attempts"], 1);
    assert!(!queue[0]["last_error"].as_str().unwrap().is_empty());
    let shown: Value =
        serde_json::from_slice(&ok(home, &["user", "show", "ada", "--json"]).stdout).unwrap();
    assert_eq!(shown["sent"], 5);

    // The server comes up: the queued message goes out, once.
    let maildir = home.join("maildir");
    let server = SmtpServer::start(&python, port, &maildir);
    ok(home, &["mail", "flush"]);
    ok(home, &["mail", "flush"]);
    let messages = server.messages(&python);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let first = &messages[0];
    let headers = &first["headers"];
    assert_eq!(first["type"], "multipart/alternative");
    assert_eq!(headers["to"], "ada@example.org");
    assert_eq!(headers["from"], "paperscout <digest@paperscout.test>");
    assert_eq!(headers["x-rcptto"], "ada@example.org");
    assert_eq!(headers["auto-submitted"], "auto-generated");
    assert_eq!(
        headers["subject"],
        "paperscout: 5 new papers for ada — 2025-03-18"
    );
    assert!(
        headers["message-id"]
            .as_str()
            .unwrap()
            .contains("digest.ada.2025-03-18@paperscout.test")
    );
    let first_titles = titles(first);
    assert_eq!(first_titles.len(), 5);
    let html = first["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "text/html")
        .expect("an HTML part")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    for title in &first_titles {
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            html.contains(&escaped) || html.contains(title),
            "{title} not in the HTML"
        );
    }
    assert!(html.contains("Because you follow"), "{html}");
    let queue: Value =
        serde_json::from_slice(&ok(home, &["mail", "queue", "--json"]).stdout).unwrap();
    assert_eq!(queue, serde_json::json!([]));

    // The same day again: nothing new, no mail.
    ok(
        home,
        &["digest", "--user", "ada", "--date", "2025-03-18", "--email"],
    );
    assert_eq!(server.messages(&python).len(), 1);

    // The next day: new papers only.
    let second_day = sample_lines(328, 40).unwrap();
    ingest_lines(home, "day2.jsonl", &second_day);
    ok(
        home,
        &[
            "digest",
            "--user",
            "ada",
            "--date",
            "2025-03-19",
            "--size",
            "5",
            "--email",
        ],
    );
    let messages = server.messages(&python);
    assert_eq!(messages.len(), 2);
    let second_titles: HashSet<String> = titles(&messages[1]).into_iter().collect();
    assert_eq!(second_titles.len(), 5);
    for title in &first_titles {
        assert!(!second_titles.contains(title), "{title} was mailed twice");
    }
}

/// Issue 22: when digests come and where else they go are set from the command line; what is
/// wrong is refused with what to give, and a webhook's secret path is never printed as text.
#[test]
fn timing_and_webhooks_are_set_checked_and_shown_without_secrets() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    ok(
        home,
        &["user", "add", "ada", "--interest", "graph neural networks"],
    );
    ok(
        home,
        &[
            "user",
            "set",
            "ada",
            "--cadence",
            "weekly:fri",
            "--timezone",
            "Asia/Tokyo",
            "--digest-at",
            "07:30",
            "--nothing-note",
            "--webhook",
            "https://hooks.example.org/services/T1/B2/secret-token",
            "--webhook-format",
            "slack",
        ],
    );
    let text = String::from_utf8_lossy(&ok(home, &["user", "show", "ada"]).stdout).into_owned();
    assert!(
        text.contains("digests: weekly:fri at 07:30 (Asia/Tokyo); a note on days with nothing new"),
        "{text}"
    );
    assert!(
        text.contains("posts to https://hooks.example.org/… (slack"),
        "{text}"
    );
    assert!(!text.contains("secret-token"), "{text}");
    let shown: Value =
        serde_json::from_slice(&ok(home, &["user", "show", "ada", "--json"]).stdout).unwrap();
    assert_eq!(
        shown["settings"]["webhooks"][0]["url"],
        "https://hooks.example.org/services/T1/B2/secret-token"
    );
    for (flag, value, says) in [
        ("--timezone", "Mars/Olympus", "IANA"),
        ("--digest-at", "7pm", "HH:MM"),
        ("--webhook", "hooks.example.org/x", "http or https URL"),
        (
            "--remove-webhook",
            "https://elsewhere.example.org/x",
            "no webhook has the URL",
        ),
    ] {
        let output = run(home, &["user", "set", "ada", flag, value]);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        assert!(
            stderr(&output).contains(says),
            "{flag}: {}",
            stderr(&output)
        );
    }
    let output = run(home, &["user", "set", "ada", "--cadence", "hourly"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("weekly:mon"),
        "{}",
        stderr(&output)
    );
    ok(
        home,
        &[
            "user",
            "set",
            "ada",
            "--clear-timing",
            "--remove-webhook",
            "https://hooks.example.org/services/T1/B2/secret-token",
        ],
    );
    let shown: Value =
        serde_json::from_slice(&ok(home, &["user", "show", "ada", "--json"]).stdout).unwrap();
    assert!(shown["settings"].get("timing").is_none(), "{shown}");
    assert!(shown["settings"].get("webhooks").is_none(), "{shown}");
}
