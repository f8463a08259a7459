//! `paperscout eval` on a small data set in the format of `shared/EVAL.md`, built from the
//! shared sample, with the real model and a real store.

use std::io::{BufRead, BufReader};
use std::path::Path;

use paperscout_types::Paper;
use serde_json::Value;

use crate::util::{paperscout, shared_file, stderr};

/// The first 40 papers of the shared sample (of 2025).
fn originals() -> Option<Vec<Paper>> {
    let sample = shared_file("data/arxiv-cs/sample-2k.jsonl")?;
    Some(
        BufReader::new(std::fs::File::open(sample).unwrap())
            .lines()
            .take(40)
            .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
            .collect(),
    )
}

/// 40 papers of 2025, and in 2026 an exact copy (new id) of each of the first five plus five
/// distractors. Query i's profile is paper i; its one relevant paper is paper i's copy.
fn write_data_set(dir: &Path) -> Option<()> {
    let originals = originals()?;
    let copy = |source: &Paper, number: usize| {
        let mut paper = source.clone();
        paper.arxiv_id = Some(format!("2601.{number:05}"));
        paper.id = format!("arXiv:2601.{number:05}");
        paper.date = Some(format!("2026-01-{:02}", number % 28 + 1));
        paper
    };
    let mut papers = originals.clone();
    papers.extend((0..5).map(|i| copy(&originals[i], i)));
    papers.extend((20..25).map(|i| copy(&originals[i], i)));
    let lines: Vec<String> = papers
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    std::fs::write(dir.join("papers.jsonl"), lines.join("\n") + "\n").unwrap();

    let mut queries = String::from("query_id\tpaper_id\n");
    let mut qrels = String::from("query_id\tpaper_id\trelevance\n");
    for (i, original) in originals.iter().take(5).enumerate() {
        queries += &format!("q{i}\t{}\n", original.id);
        qrels += &format!("q{i}\tarXiv:2601.{i:05}\t1\n");
    }
    std::fs::write(dir.join("queries.tsv"), queries).unwrap();
    std::fs::write(dir.join("qrels.tsv"), qrels).unwrap();
    Some(())
}

fn eval(home: &Path, extra: &[&str]) -> std::process::Output {
    let dir = home.to_str().unwrap();
    paperscout(home)
        .args(["eval", "--candidates-since", "2026-01-01"])
        .args(["--papers", &format!("{dir}/papers.jsonl")])
        .args(["--queries", &format!("{dir}/queries.tsv")])
        .args(["--qrels", &format!("{dir}/qrels.tsv")])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn every_method_is_judged_and_exact_copies_come_first() {
    let home = tempfile::tempdir().unwrap();
    if write_data_set(home.path()).is_none() {
        return;
    }
    let output = eval(home.path(), &["--method", "all"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    for field in ["ndcg@10", "recall@10", "recall@100", "mrr", "map@100"] {
        assert!(
            report[field]["mean"].is_number(),
            "{field} missing: {report}"
        );
    }
    assert_eq!(
        report["method"], "hybrid",
        "the default method is the headline"
    );
    assert_eq!(report["queries"], 5);
    assert_eq!(report["candidates"], 10);
    let methods = report["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 7);
    assert!(methods.iter().any(|m| m["method"] == "bm25"), "{report}");
    for method in methods {
        let name = method["method"].as_str().unwrap();
        let mrr = method["mrr"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&mrr), "{name}: {mrr}");
        if ["centroid", "max-sim", "zotero", "hybrid"].contains(&name) {
            // The relevant paper has the profile paper's very text: cosine 1.
            assert_eq!(mrr, 1.0, "{name}");
            assert_eq!(method["recall@10"]["mean"].as_f64(), Some(1.0), "{name}");
            assert_eq!(method["model"], "all-MiniLM-L6-v2", "{name}");
        }
        // The headline's paired difference against every other method, query by query.
        let difference = &method["headline_minus_this"];
        if name == "hybrid" {
            assert!(difference.is_null(), "{method}");
        } else {
            let gain = difference["mrr"]["mean"].as_f64().unwrap();
            assert!((gain - (1.0 - mrr)).abs() < 1e-9, "{name}: {difference}");
            let interval = &difference["mrr"];
            assert!(
                interval["low"].as_f64() <= Some(gain) && Some(gain) <= interval["high"].as_f64()
            );
        }
    }
    assert!(
        stderr(&output).contains("| hybrid minus | nDCG@10 |"),
        "{}",
        stderr(&output)
    );
    // The table for people goes to standard error.
    assert!(
        stderr(&output).contains("| hybrid | 5 |"),
        "{}",
        stderr(&output)
    );
    // The two halves share the queries out between them, each judged alone.
    let judged = |half: &str| {
        let output = eval(home.path(), &["--method", "tfidf", "--half", half]);
        assert!(output.status.success(), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["half"], half);
        report["queries"].as_u64().unwrap()
    };
    // The digest's sections judged against the flat top 10 of the same ranking.
    let output = eval(home.path(), &["--sections"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let sectioned: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sections = &sectioned["sections"];
    assert_eq!(sections["queries"], 5, "{sectioned}");
    assert_eq!(
        sections["flat"]["ndcg@10"]["mean"], sectioned["ndcg@10"]["mean"],
        "the flat list is the headline's ranking: {sectioned}"
    );
    assert!(
        stderr(&output).contains("| sectioned minus flat |"),
        "{}",
        stderr(&output)
    );
    let (tune, report_half) = (judged("tune"), judged("report"));
    assert!(
        tune > 0 && report_half > 0 && tune + report_half == 5,
        "{tune} + {report_half}"
    );
    // The store now holds the papers and their embeddings, for the next run.
    let stats = paperscout(home.path())
        .args(["stats", "--json"])
        .output()
        .unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(
        (stats["papers"].as_u64(), stats["embeddings"].as_u64()),
        (Some(50), Some(50))
    );
}

#[test]
fn a_malformed_qrels_line_is_named() {
    let home = tempfile::tempdir().unwrap();
    if write_data_set(home.path()).is_none() {
        return;
    }
    std::fs::write(
        home.path().join("qrels.tsv"),
        "query_id\tpaper_id\trelevance\nq0\tarXiv:2601.00000\thigh\n",
    )
    .unwrap();
    let output = eval(home.path(), &["--method", "tfidf"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a malformed data set is the user's to fix"
    );
    assert!(
        stderr(&output).contains("qrels.tsv line 2: relevance \"high\" is not a number"),
        "{}",
        stderr(&output)
    );
}

/// The data set of [`write_data_set`] as a data set from another field would key it: bare
/// DOIs and plain numbers for the originals, OpenAlex-style ids for the copies, and no field
/// but `id`, `title`, `abstract` and `date`.
fn write_foreign_data_set(dir: &Path) -> Option<()> {
    let originals = originals()?;
    let own_id = |i: usize| {
        if i.is_multiple_of(2) {
            serde_json::json!(format!("10.9999/orig.{i}"))
        } else {
            serde_json::json!(1000 + i)
        }
    };
    let id_text = |i: usize| match own_id(i) {
        Value::String(id) => id,
        number => number.to_string(),
    };
    let mut lines: Vec<String> = originals
        .iter()
        .enumerate()
        .map(|(i, p)| {
            serde_json::json!({"id": own_id(i), "title": p.title, "abstract": p.abstract_text,
                               "date": "2025-03-18"})
            .to_string()
        })
        .collect();
    for i in (0..5).chain(20..25) {
        let p = &originals[i];
        lines.push(
            serde_json::json!({"id": format!("W{i}"), "title": p.title,
                               "abstract": p.abstract_text, "date": "2026-01-05"})
            .to_string(),
        );
    }
    std::fs::write(dir.join("papers.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut queries = String::from("query_id\tpaper_id\n");
    let mut qrels = String::from("query_id\tpaper_id\trelevance\n");
    for i in 0..5 {
        queries += &format!("q{i}\t{}\n", id_text(i));
        qrels += &format!("q{i}\tW{i}\t1\n");
    }
    std::fs::write(dir.join("queries.tsv"), queries).unwrap();
    std::fs::write(dir.join("qrels.tsv"), qrels).unwrap();
    Some(())
}

#[test]
fn a_data_set_is_judged_by_its_own_ids_and_one_that_matches_nothing_says_why() {
    let home = tempfile::tempdir().unwrap();
    if write_foreign_data_set(home.path()).is_none() {
        return;
    }
    let output = eval(home.path(), &["--method", "all"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["queries"].as_u64(), report["candidates"].as_u64()),
        (Some(5), Some(10))
    );
    for method in report["methods"].as_array().unwrap() {
        let name = method["method"].as_str().unwrap();
        if ["centroid", "max-sim", "zotero", "hybrid"].contains(&name) {
            // Exact copies under other ids, embedded whether the store can key them or not.
            assert_eq!(method["mrr"]["mean"].as_f64(), Some(1.0), "{name}");
        }
    }
    // Only the papers with a DOI could be kept in the store; the rest were embedded for the run.
    let stats = paperscout(home.path())
        .args(["stats", "--json"])
        .output()
        .unwrap();
    let stats: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["papers"].as_u64(), Some(20), "{stats}");

    // Qrels that name no paper of the data: an error that says why, with an example.
    std::fs::write(
        home.path().join("qrels.tsv"),
        "query_id\tpaper_id\trelevance\nq0\tW-missing\t1\n",
    )
    .unwrap();
    let output = eval(home.path(), &["--method", "tfidf"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(said.contains("no query can be evaluated"), "{said}");
    assert!(
        said.contains("qrels.tsv line 2 names the paper \"W-missing\""),
        "{said}"
    );
    assert!(!said.contains("-0.0000"), "{said}");
}

/// The personal backtest on real papers: a user who follows papers of several days and
/// liked others; the latest are held out, and their days replayed.
#[test]
fn a_users_backtest_ranks_their_held_out_papers_on_their_days() {
    let home = tempfile::tempdir().unwrap();
    let Some(lines) = crate::util::sample_lines(0, 600) else {
        return;
    };
    crate::util::ingest_lines(home.path(), "papers.jsonl", &lines);
    let id = |i: usize| crate::util::paper_id(&lines[i]);
    let profile = home.path().join("ada.txt");
    std::fs::write(&profile, format!("{}\n{}\n{}\n", id(5), id(120), id(480))).unwrap();
    let ok = |args: &[&str]| {
        let output = paperscout(home.path()).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output
    };
    ok(&["user", "add", "ada", "--papers", profile.to_str().unwrap()]);
    ok(&["like", "ada", &id(300), &id(590)]);
    let output = ok(&["eval", "--user", "ada", "--holdout", "40%"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let held = report["held_out"].as_array().unwrap();
    assert_eq!(
        (report["kept"].as_u64(), held.len()),
        (Some(3), 2),
        "{report}"
    );
    for paper in held {
        assert!(paper["candidates"].as_u64().unwrap() > 10, "{paper}");
        let day = paper["day"].as_str().unwrap();
        assert!(day.starts_with("2025-03-"), "{paper}");
    }
    assert_eq!(report["hit_at"].as_array().unwrap().len(), 4);
    assert!((0.0..=1.0).contains(&report["mrr"].as_f64().unwrap()));
    assert!(
        stderr(&output).contains("backtest of ada: 2 papers held out"),
        "{}",
        stderr(&output)
    );
    // Nothing was changed: the profile and the likes are as they were.
    let shown: Value =
        serde_json::from_slice(&ok(&["user", "show", "ada", "--json"]).stdout).unwrap();
    assert_eq!(shown["feedback"].as_array().unwrap().len(), 2);
    // No such user: the exit status of something missing.
    let output = paperscout(home.path())
        .args(["eval", "--user", "nobody"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}
