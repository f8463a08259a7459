//! The web page in a real browser: headless Chromium driven through its WebDriver
//! (`chromedriver`), as a person uses it. Each page's screenshot is written under
//! `target/screenshots/` for a reviewer to look at.
//!
//! `make test` installs Debian's `chromium` and `chromium-driver` when they are missing. Without
//! them the test says so and passes, unless `PAPERSCOUT_REQUIRE_BROWSER=1` (as `make test` sets).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::mail::free_port;
use crate::util::{repo_root, sample_lines};
use crate::web::{Page, Served, cli, feedback, home_with_ada};

/// `chromedriver`: $PAPERSCOUT_CHROMEDRIVER, else on the PATH.
fn chromedriver() -> Option<PathBuf> {
    let found = std::env::var_os("PAPERSCOUT_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("chromedriver"))
                    .find(|path| path.is_file())
            })
        });
    if found.is_none() {
        let message = "no chromedriver: run `make test` (it installs chromium and chromium-driver), \
                       or set PAPERSCOUT_CHROMEDRIVER";
        assert!(
            std::env::var_os("PAPERSCOUT_REQUIRE_BROWSER").is_none(),
            "{message}"
        );
        eprintln!("\n!!! SKIPPED: the browser test: {message} !!!\n");
    }
    found
}

/// A `chromedriver` on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(binary: &Path) -> Self {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until `probe` holds, polling the page.
async fn until(client: &Client, what: &str, probe: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let source = client.source().await.unwrap();
        if probe(&source) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {what}:\n{source}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_person_signs_in_rates_undoes_searches_and_sets_a_rule_in_a_real_browser() {
    let Some(lines) = sample_lines(0, 150) else {
        return;
    };
    let Some(binary) = chromedriver() else {
        return;
    };
    let home = home_with_ada(
        &lines,
        [10, 40],
        &["--interest", "diffusion models for image generation"],
    );
    let home = home.path();
    let page = Page { port: free_port() };
    let _served = Served::start(home, &page);
    let link = cli(home, &["user", "link", "ada", "--http", &page.host()]);
    // The rule to set: a category of some of ada's current picks, not of all of them.
    let before: Value = serde_json::from_str(&cli(
        home,
        &["recommend", "--user", "ada", "-n", "10", "--json"],
    ))
    .unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for pick in before["papers"].as_array().unwrap() {
        for category in pick["categories"].as_array().unwrap() {
            *counts
                .entry(category.as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    let muted = counts
        .iter()
        .min_by_key(|(_, count)| **count)
        .map(|(category, _)| category.clone())
        .unwrap();
    let driver = Driver::start(&binary);
    let profile_dir = tempfile::tempdir().unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,1500",
                format!("--user-data-dir={}", profile_dir.path().display()),
            ]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap();
        let base = format!("http://{}", page.host());

        // The login link leads to today's papers.
        client.goto(link.trim()).await.unwrap();
        assert_eq!(
            client.current_url().await.unwrap().as_str(),
            format!("{base}/today")
        );
        until(&client, "the picks", |s| s.contains("class=\"pick\"")).await;
        shoot(&client, "today").await;
        let picks = client.find_all(Locator::Css("article.pick")).await.unwrap();
        assert!(picks.len() >= 3, "{} picks", picks.len());
        let ids: Vec<String> = {
            let mut ids = Vec::new();
            for pick in &picks[..2] {
                let input = pick.find(Locator::Css("input[name=paper]")).await.unwrap();
                ids.push(input.attr("value").await.unwrap().unwrap());
            }
            ids
        };

        // Dislike the first and dismiss the second: the script rates without a reload and
        // the page says what the rating will do.
        picks[0]
            .find(Locator::Css("button[value=dislike]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "the dislike said", |s| {
            s.contains("papers like it are pushed down")
        })
        .await;
        picks[1]
            .find(Locator::Css("button[value=dismiss]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "the dismissal said", |s| {
            s.contains("Dismissed: it will not come again")
        })
        .await;
        assert_eq!(
            feedback(home, "ada"),
            [
                (ids[0].clone(), "dislike".to_owned()),
                (ids[1].clone(), "dismiss".to_owned())
            ]
        );

        // Both are in history; undo the dismissal there (a plain form, a reload).
        client.goto(&format!("{base}/history")).await.unwrap();
        // Polled, not read once: under a loaded machine the source was read once before the
        // page had its rows (seen once in `make test`, never alone).
        until(&client, "both ratings in history", |s| {
            s.contains(">dislike<") && s.contains(">dismiss<")
        })
        .await;
        shoot(&client, "history").await;
        let rows = client.find_all(Locator::Css("table tr")).await.unwrap();
        let mut undone = false;
        for row in &rows {
            if row.text().await.unwrap().contains("dismiss") {
                row.find(Locator::Css("button"))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                undone = true;
                break;
            }
        }
        assert!(undone);
        until(&client, "the undo", |s| !s.contains(">dismiss<")).await;
        assert_eq!(
            feedback(home, "ada"),
            [(ids[0].clone(), "dislike".to_owned())]
        );

        // Search by free text.
        client.goto(&format!("{base}/search")).await.unwrap();
        let field = client.find(Locator::Css("input[name=q]")).await.unwrap();
        field
            .send_keys("graph neural networks for molecules")
            .await
            .unwrap();
        client
            .find(Locator::Css("form.wide button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "search hits", |s| {
            s.contains("found.") && s.contains("class=\"pick\"")
        })
        .await;
        shoot(&client, "search").await;

        // A paper's page, from the first hit's title.
        client
            .find(Locator::Css("article.pick h3 a"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "the paper's page", |s| {
            s.contains("Why it was or was not picked")
        })
        .await;
        shoot(&client, "paper").await;

        // A rule: mute a category from the profile page.
        client.goto(&format!("{base}/profile")).await.unwrap();
        let mute = client
            .find(Locator::Css("textarea[name=mute_categories]"))
            .await
            .unwrap();
        mute.send_keys(&muted).await.unwrap();
        shoot(&client, "profile").await;
        client
            .find(Locator::Css("form[action='/profile/rules'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "the saved rule", |s| {
            s.contains(&format!(">{muted}</textarea>"))
        })
        .await;

        // The backtest, one click from the profile.
        client
            .find(Locator::LinkText("Run your backtest"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "the backtest", |s| {
            s.contains("mean reciprocal rank")
        })
        .await;
        shoot(&client, "backtest").await;
        client.close().await.unwrap();
    });

    // The store holds what the person did, and the next digest obeys it.
    let shown: Value =
        serde_json::from_str(&cli(home, &["user", "show", "ada", "--json"])).unwrap();
    assert_eq!(
        shown["settings"]["rules"]["mute_categories"],
        json!([muted])
    );
    let next: Value = serde_json::from_str(&cli(
        home,
        &["recommend", "--user", "ada", "-n", "10", "--json"],
    ))
    .unwrap();
    assert!(!next["papers"].as_array().unwrap().is_empty());
    for pick in next["papers"].as_array().unwrap() {
        assert!(
            !pick["categories"]
                .as_array()
                .unwrap()
                .contains(&json!(muted)),
            "{pick}"
        );
    }
    assert!(screenshots().join("today.png").is_file());
}
