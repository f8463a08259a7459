//! `paperscout user`, feedback and `digest` on a real store with the real model: explained
//! picks, nothing from the profile, and no paper ever sent twice.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::util::{ingest_lines, paper_id, paperscout, sample_lines, stderr};

/// Ingests sample papers `skip..skip + count` and returns their ids.
fn ingest_sample(home: &Path, skip: usize, count: usize) -> Option<Vec<String>> {
    let lines = sample_lines(skip, count)?;
    ingest_lines(home, &format!("papers-{skip}.jsonl"), &lines);
    Some(lines.iter().map(|l| paper_id(l)).collect())
}

fn digest(home: &Path, args: &[&str]) -> Value {
    let output = paperscout(home)
        .args(["digest", "--user", "ada", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    if output.stdout.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&output.stdout).unwrap()
}

fn ids(digest: &Value) -> Vec<String> {
    digest["papers"].as_array().map_or_else(Vec::new, |papers| {
        papers
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    })
}

#[test]
fn digests_are_explained_never_repeat_and_dry_runs_record_nothing() {
    let home = tempfile::tempdir().unwrap();
    let Some(papers) = ingest_sample(home.path(), 0, 60) else {
        return;
    };
    let profile_file = home.path().join("mine.txt");
    std::fs::write(
        &profile_file,
        format!("{}\n{}\n2599.99999\n", papers[0], papers[1]),
    )
    .unwrap();
    let output = paperscout(home.path())
        .args([
            "user",
            "add",
            "ada",
            "--papers",
            profile_file.to_str().unwrap(),
        ])
        .args(["--interest", "diffusion models for image generation"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("3 profile items added, 1 unknown papers"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("2599.99999 is not in the store"),
        "{}",
        stderr(&output)
    );

    let preview = digest(
        home.path(),
        &["--date", "2025-03-18", "--size", "5", "--dry-run"],
    );
    let again = digest(
        home.path(),
        &["--date", "2025-03-18", "--size", "5", "--dry-run"],
    );
    assert_eq!(
        ids(&preview),
        ids(&again),
        "a dry run records nothing, so it repeats"
    );
    assert_eq!(ids(&preview).len(), 5);

    let first = digest(home.path(), &["--date", "2025-03-18", "--size", "5"]);
    assert_eq!(ids(&first), ids(&preview));
    for paper in first["papers"].as_array().unwrap() {
        let id = paper["id"].as_str().unwrap();
        assert!(
            id != papers[0] && id != papers[1],
            "a profile paper was offered: {id}"
        );
        let because = &paper["because"];
        assert!(
            ["added", "interest"].contains(&because["reason"].as_str().unwrap()),
            "{paper}"
        );
        assert!(!because["item"].as_str().unwrap().is_empty(), "{paper}");
        assert!(because["similarity"].as_f64().unwrap() > 0.0, "{paper}");
    }

    // The same day again: everything announced then is covered already.
    let repeat = digest(home.path(), &["--date", "2025-03-18", "--size", "5"]);
    assert!(ids(&repeat).is_empty(), "{repeat}");

    // The next day, after a dislike: new papers only, and never the disliked one.
    let second_day = ingest_sample(home.path(), 328, 40).unwrap();
    let disliked = second_day[0].clone();
    let output = paperscout(home.path())
        .args(["dislike", "ada", &disliked, &second_day[1]])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // Second thoughts about one of them: the undo forgets it as if never given.
    let output = paperscout(home.path())
        .args(["undo", "ada", &second_day[1]])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("ada: forgot the rating of {}", second_day[1])),
        "{}",
        stderr(&output)
    );
    let next = digest(home.path(), &["--date", "2025-03-19", "--size", "8"]);
    let first_ids: HashSet<String> = ids(&first).into_iter().collect();
    assert!(!ids(&next).is_empty(), "{next}");
    for id in ids(&next) {
        assert!(!first_ids.contains(&id), "{id} was sent twice");
        assert_ne!(id, disliked);
    }
    assert_eq!(next["from"], "2025-03-19");

    let shown = paperscout(home.path())
        .args(["user", "show", "ada", "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        shown["sent"].as_u64(),
        Some((ids(&first).len() + ids(&next).len()) as u64)
    );
    assert_eq!(shown["feedback"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["feedback"][0]["kind"], "dislike");
    assert_eq!(shown["feedback"][0]["paper_id"], disliked.as_str());
}

#[test]
fn an_unknown_user_and_an_empty_profile_say_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    if ingest_sample(home.path(), 0, 5).is_none() {
        return;
    }
    let output = paperscout(home.path())
        .args(["digest", "--user", "ada", "--date", "2025-03-18"])
        .output()
        .unwrap();
    // Something the command names is missing: 3, as the daemon's not_found.
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output)
            .contains("there is no user named \"ada\": create one with `paperscout user add ada`"),
        "{}",
        stderr(&output)
    );

    let output = paperscout(home.path())
        .args(["user", "add", "ada"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = paperscout(home.path())
        .args(["digest", "--user", "ada", "--date", "2025-03-18"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "an empty profile is the user's to fix"
    );
    assert!(
        stderr(&output).contains("ada's profile is empty"),
        "{}",
        stderr(&output)
    );
}

fn index_check(home: &Path) -> Value {
    let output = paperscout(home)
        .args(["index", "check", "--json", "--queries", "20"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_index_is_saved_reused_caught_up_and_rebuilt_when_corrupt() {
    let home = tempfile::tempdir().unwrap();
    if ingest_sample(home.path(), 0, 40).is_none() {
        return;
    }
    let first = index_check(home.path());
    assert_eq!(first["papers"], 40);
    assert_eq!(first["rebuilt_because"], "there is none yet");
    assert!(first["recall@k"].as_f64().unwrap() > 0.95, "{first}");

    let second = index_check(home.path());
    assert_eq!(
        second["rebuilt_because"],
        Value::Null,
        "the saved index is reused"
    );
    // Too small to calibrate: the default ef, unless --ef overrides it.
    assert_eq!(
        (&second["calibration"], second["ef_search"].as_u64()),
        (&Value::Null, Some(64)),
        "{second}"
    );
    let output = paperscout(home.path())
        .args(["index", "check", "--json", "--queries", "20", "--ef", "16"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let overridden: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(overridden["ef_search"], 16, "{overridden}");

    ingest_sample(home.path(), 40, 10).unwrap();
    let grown = index_check(home.path());
    assert_eq!(
        (grown["papers"].as_u64(), &grown["rebuilt_because"]),
        (Some(50), &Value::Null)
    );

    let points = crate::util::index_dir(home.path()).join("gen-2/points.bin");
    let mut bytes = std::fs::read(&points).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&points, bytes).unwrap();
    let repaired = index_check(home.path());
    assert!(
        repaired["rebuilt_because"]
            .as_str()
            .unwrap()
            .contains("points.bin does not match its digest"),
        "{repaired}"
    );
    assert_eq!(repaired["papers"], 50);
}

#[test]
fn a_bibtex_library_joins_the_profile_with_external_papers_and_bad_entries_named() {
    let home = tempfile::tempdir().unwrap();
    let Some(papers) = ingest_sample(home.path(), 0, 30) else {
        return;
    };
    let stored = papers[4].trim_start_matches("arXiv:");
    let library = format!(
        "@article{{known,\n  title = {{Whatever the export says}},\n  eprint = {{{stored}}},\n  archivePrefix = {{arXiv}}\n}}\n\n\
         @inproceedings{{external,\n  title = {{Diffusion Models for {{Image}} Synthesis}},\n  abstract = {{We study denoising diffusion models for image generation.}},\n  doi = {{10.1000/Diffusion.1}}\n}}\n\n\
         @article{{broken,\n  title = {{Unclosed\n\n@misc{{untitled,\n  note = {{nothing to go on}}\n}}\n"
    );
    let file = home.path().join("library.bib");
    std::fs::write(&file, library).unwrap();
    let output = paperscout(home.path())
        .args(["user", "add", "ada", "--bibtex", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("library.bib line 13: not a valid BibTeX entry"),
        "{text}"
    );
    assert!(
        text.contains(
            "library.bib line 16: untitled has no title and is not in the store; skipped"
        ),
        "{text}"
    );
    assert!(
        text.contains("1 library entries not in the store joined as external papers"),
        "{text}"
    );

    let shown = paperscout(home.path())
        .args(["user", "show", "ada", "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let profile: Vec<&str> = shown["profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["subject"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(profile, [papers[4].as_str(), "doi:10.1000/diffusion.1"]);

    // The external paper counts in a digest (embedded on the fly) and is never a candidate.
    let digest = digest(
        home.path(),
        &["--date", "2025-03-18", "--size", "3", "--dry-run"],
    );
    assert_eq!(ids(&digest).len(), 3, "{digest}");
    assert!(
        !ids(&digest).iter().any(|id| id.starts_with("doi:")),
        "{digest}"
    );
}

#[test]
fn digests_render_as_e_mail_safe_html_and_as_an_atom_feed() {
    let home = tempfile::tempdir().unwrap();
    let Some(papers) = ingest_sample(home.path(), 0, 30) else {
        return;
    };
    std::fs::write(home.path().join("mine.txt"), format!("{}\n", papers[0])).unwrap();
    let mine = home.path().join("mine.txt");
    let output = paperscout(home.path())
        .args(["user", "add", "ada", "--papers", mine.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let render = |format: &str| {
        let out = home.path().join(format!("digest.{format}"));
        let output = paperscout(home.path())
            .args([
                "digest",
                "--user",
                "ada",
                "--date",
                "2025-03-18",
                "--size",
                "4",
                "--dry-run",
                "--format",
                format,
            ])
            .args(["--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        (out.clone(), std::fs::read_to_string(out).unwrap())
    };
    let json: Value = {
        let (_, text) = render("json");
        serde_json::from_str(&text).unwrap()
    };
    let chosen = ids(&json);
    assert_eq!(chosen.len(), 4);

    let (_, html) = render("html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(
        !html.contains("<script") && !html.contains("<link") && !html.contains("<style"),
        "inline styles only"
    );
    assert_eq!(html.matches("<h2 ").count(), 4);
    assert!(
        html.contains("Because you follow"),
        "every pick is explained"
    );

    // The feed reads back through paperscout's own Atom reader, the same papers in order.
    let (feed, _) = render("atom");
    let records =
        paperscout_ingest::Records::new(paperscout_ingest::open(feed.to_str().unwrap()).unwrap())
            .unwrap();
    let read: Vec<String> = records
        .map(|item| match item.unwrap() {
            paperscout_ingest::Item::Paper(paper) => paper.id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(read, chosen);
}

/// Lower-case words, as the rules match them.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn scores(digest: &Value) -> std::collections::HashMap<String, f64> {
    digest["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_users_rules_lift_filter_and_explain_and_their_size_applies() {
    let home = tempfile::tempdir().unwrap();
    let Some(papers) = ingest_sample(home.path(), 0, 60) else {
        return;
    };
    let lines = sample_lines(0, 60).unwrap();
    let meta: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let set = |args: &[&str]| {
        let output = paperscout(home.path())
            .args(["user", "set", "ada"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    };
    let profile_file = home.path().join("mine.txt");
    std::fs::write(&profile_file, format!("{}\n{}\n", papers[0], papers[1])).unwrap();
    let output = paperscout(home.path())
        .args(["user", "add", "ada", "--papers"])
        .arg(&profile_file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // Every candidate, in relevance order, so scores can be compared one by one.
    let everything = [
        "--date",
        "2025-03-18",
        "--size",
        "100",
        "--mmr-lambda",
        "1",
        "--dry-run",
    ];
    let before = digest(home.path(), &everything);
    assert_eq!(ids(&before).len(), 58);

    // An author of the 40th paper, by surname: their papers rise by exactly one standard
    // deviation, each explained; nobody else moves.
    let target = ids(&before)[39].clone();
    let author = meta.iter().find(|m| m["id"] == target.as_str()).unwrap()["authors"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let surname = author.split_whitespace().last().unwrap().to_owned();
    set(&["--boost-author", &surname]);
    let boosted = digest(home.path(), &everything);
    let (old, new) = (scores(&before), scores(&boosted));
    let by_author = |id: &str| {
        let paper = meta.iter().find(|m| m["id"] == id).unwrap();
        paper["authors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| words(a.as_str().unwrap()).contains(&surname.to_lowercase()))
    };
    for paper in boosted["papers"].as_array().unwrap() {
        let id = paper["id"].as_str().unwrap();
        let lift = new[id] - old[id];
        if by_author(id) {
            assert!((lift - 1.0).abs() < 1e-3, "{id} rose by {lift}");
            assert_eq!(
                paper["because"]["rules"],
                serde_json::json!([format!("author {surname}")])
            );
        } else {
            assert!(lift.abs() < 1e-3, "{id} moved by {lift}");
            assert!(paper["because"].get("rules").is_none(), "{paper}");
        }
    }
    let rank_of = |d: &Value| ids(d).iter().position(|id| *id == target).unwrap();
    assert!(rank_of(&boosted) < rank_of(&before));
    let markdown = paperscout(home.path())
        .args([
            "digest",
            "--user",
            "ada",
            "--date",
            "2025-03-18",
            "--size",
            "100",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&markdown.stdout)
            .contains(&format!("your rules: author {surname}")),
        "the explanation names the rule"
    );

    // A muted keyword: a distinctive word of the top pick's title; no paper with it is left.
    let top = &before["papers"][0];
    let keyword = words(top["title"].as_str().unwrap())
        .into_iter()
        .filter(|w| w.len() >= 7)
        .max_by_key(String::len)
        .unwrap();
    set(&["--clear-rules", "--mute-keyword", &keyword]);
    let muted = digest(home.path(), &everything);
    assert!(!ids(&muted).contains(&top["id"].as_str().unwrap().to_owned()));
    for paper in muted["papers"].as_array().unwrap() {
        let text = format!("{} {}", paper["title"], paper["abstract"]);
        assert!(
            !words(&text).contains(&keyword),
            "{keyword} in {}",
            paper["id"]
        );
    }
    assert!(muted["candidates"].as_u64() < before["candidates"].as_u64());

    // Only one category: everything offered is in it.
    let category = top["categories"][0].as_str().unwrap().to_owned();
    set(&["--clear-rules", "--only-category", &category]);
    let only = digest(home.path(), &everything);
    assert!(!ids(&only).is_empty());
    for paper in only["papers"].as_array().unwrap() {
        assert!(
            paper["categories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == category.as_str()),
            "{paper}"
        );
    }

    // The user's own size and floor apply when the command gives none.
    set(&["--clear-rules", "--size", "3"]);
    let sized = digest(home.path(), &["--date", "2025-03-18", "--dry-run"]);
    assert_eq!(ids(&sized).len(), 3);
    set(&["--min-similarity", "0.99"]);
    let floored = digest(home.path(), &["--date", "2025-03-18", "--dry-run"]);
    assert!(ids(&floored).is_empty(), "{floored}");
    let output = paperscout(home.path())
        .args(["user", "set", "ada", "--min-similarity", "3"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad setting is the user's mistake"
    );
    assert!(
        stderr(&output).contains("is not a cosine"),
        "{}",
        stderr(&output)
    );
}
