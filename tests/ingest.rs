//! `paperscout ingest`, `stats` and `embed --missing` on a real store file, with the real model,
//! including a run killed with SIGKILL half way.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use paperscout_store::{ModelKey, SqliteStore, Store};
use paperscout_types::Paper;
use serde_json::Value;

use crate::util::{cosine, embedder, paperscout, shared_file, stderr};

/// The first `count` papers of the shared sample, as a file in `dir`, and the papers.
fn sample(dir: &Path, count: usize) -> Option<(PathBuf, Vec<Paper>)> {
    let source = shared_file("data/arxiv-cs/sample-2k.jsonl")?;
    let lines: Vec<String> = BufReader::new(std::fs::File::open(source).unwrap())
        .lines()
        .take(count)
        .map(Result::unwrap)
        .collect();
    let path = dir.join(format!("sample-{count}.jsonl"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let papers = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Some((path, papers))
}

fn store_path(home: &Path) -> PathBuf {
    home.join("data/paperscout/paperscout.sqlite3")
}

fn stats(home: &Path) -> Value {
    let output = paperscout(home).args(["stats", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The model key the binary stores vectors under, read back from the store.
fn stored_model(home: &Path) -> ModelKey {
    let stats = stats(home);
    let model = &stats["models"][0];
    ModelKey {
        name: model["name"].as_str().unwrap().to_owned(),
        sha256: model["sha256"].as_str().unwrap().to_owned(),
        dim: model["dim"].as_u64().unwrap() as usize,
    }
}

#[test]
fn ingest_stores_and_embeds_and_a_second_run_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let Some((file, papers)) = sample(home.path(), 60) else {
        return;
    };
    let output = paperscout(home.path())
        .args(["ingest", file.to_str().unwrap(), "--papers-per-batch", "16"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("60 papers read"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("60 new, 0 updated, 0 unchanged; 60 embedded"),
        "{}",
        stderr(&output)
    );

    let stats = stats(home.path());
    assert_eq!(
        (stats["papers"].as_u64(), stats["embeddings"].as_u64()),
        (Some(60), Some(60))
    );
    assert_eq!(stats["first_date"], "2025-03-18");

    // The stored vectors are the model's vectors of title + "\n" + abstract, in the default
    // precision (int8 where the CPU has AVX512-VNNI): within its quality condition of FP32's.
    let model = stored_model(home.path());
    assert_eq!(model.dim, 384);
    let store = SqliteStore::open_read_only(&store_path(home.path())).unwrap();
    let expected = embedder().embed(&[papers[7].embedding_text()]).unwrap();
    let stored = store
        .embedding(&papers[7].id, &model)
        .unwrap()
        .expect("embedded");
    assert!(cosine(&stored, &expected[0]) > 0.995);
    assert_eq!(
        store.paper(&papers[7].id).unwrap().unwrap().paper,
        papers[7]
    );

    let again = paperscout(home.path())
        .args(["ingest", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["total"]["read"], 60);
    assert_eq!(summary["total"]["written"]["unchanged"], 60);
    assert_eq!(summary["total"]["written"]["embedded"], 0);
}

#[test]
fn no_embed_defers_and_embed_missing_catches_up() {
    let home = tempfile::tempdir().unwrap();
    let Some((file, _)) = sample(home.path(), 30) else {
        return;
    };
    let output = paperscout(home.path())
        .args(["ingest", "--no-embed", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let before = stats(home.path());
    assert_eq!(
        (before["papers"].as_u64(), before["embeddings"].as_u64()),
        (Some(30), Some(0))
    );

    let output = paperscout(home.path())
        .args(["embed", "--missing"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("embedded 30 papers"),
        "{}",
        stderr(&output)
    );
    let after = stats(home.path());
    assert_eq!(after["embeddings"].as_u64(), Some(30));

    let output = paperscout(home.path())
        .args(["embed", "--missing"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("embedded 0 papers"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_records_are_reported_and_strict_mode_stops() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("papers.jsonl");
    let good =
        |n: u32| format!(r#"{{"id": "arXiv:2503.{n:05}", "title": "T{n}", "abstract": "A."}}"#);
    std::fs::write(&file, format!("{}\n{{oops\n{}\n", good(1), good(2))).unwrap();
    let output = paperscout(home.path())
        .args(["ingest", "--no-embed", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains(&format!(
            "{} line 2: not valid JSON (key must be a string at line 1 column 2); skipped",
            file.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("2 new, 0 updated, 0 unchanged; 0 embedded; 1 bad records skipped"),
        "{text}"
    );

    let strict = paperscout(home.path())
        .args(["ingest", "--no-embed", "--strict", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    assert!(
        stderr(&strict).contains(&format!(
            "paperscout: error: ingesting {} stopped: {} line 2: not valid JSON",
            file.display(),
            file.display()
        )),
        "{}",
        stderr(&strict)
    );
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("papers.jsonl");
    std::fs::write(
        &file,
        r#"{"id": "arXiv:2503.00001", "title": "T", "abstract": "A."}"#,
    )
    .unwrap();
    let holder = SqliteStore::open(&store_path(home.path())).unwrap();
    let output = paperscout(home.path())
        .args(["ingest", "--no-embed", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("is in use by pid {}", std::process::id())),
        "{}",
        stderr(&output)
    );
    // Reading is never refused.
    assert_eq!(stats(home.path())["papers"], 0);
    drop(holder);
    let output = paperscout(home.path())
        .args(["ingest", "--no-embed", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Everything the store holds about papers, timestamps aside: papers, and each paper's vector.
fn contents(home: &Path) -> Vec<(Paper, Option<Vec<f32>>)> {
    let store = SqliteStore::open_read_only(&store_path(home)).unwrap();
    let model = stored_model(home);
    let stats = store.stats().unwrap();
    let papers = store.papers_announced("0000-00-00", "9999-99-99").unwrap();
    assert_eq!(
        papers.len() as u64,
        stats.papers,
        "every paper has a date here"
    );
    papers
        .into_iter()
        .map(|stored| {
            let vector = store.embedding(&stored.paper.id, &model).unwrap();
            (stored.paper, vector)
        })
        .collect()
}

#[test]
fn a_run_killed_half_way_and_run_again_ends_as_an_uninterrupted_run() {
    let work = tempfile::tempdir().unwrap();
    let Some((file, papers)) = sample(work.path(), 120) else {
        return;
    };
    let args = [
        "ingest",
        file.to_str().unwrap(),
        "--papers-per-batch",
        "20",
        "--quiet",
    ];

    // Killed once at least one batch is committed, well before the last.
    let killed = tempfile::tempdir().unwrap();
    let mut child = paperscout(killed.path())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let committed = loop {
        let committed = SqliteStore::open_read_only(&store_path(killed.path()))
            .and_then(|store| store.stats())
            .map_or(0, |stats| stats.papers);
        if committed > 0 || started.elapsed() > Duration::from_secs(120) {
            break committed;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        committed > 0 && committed < 120,
        "killed after {committed} of 120 papers"
    );
    let partial = contents(killed.path());
    assert!(
        partial.iter().all(|(_, vector)| vector.is_some()),
        "a committed paper always has its vector"
    );

    let rerun = paperscout(killed.path()).args(args).output().unwrap();
    assert!(rerun.status.success(), "{}", stderr(&rerun));

    let clean = tempfile::tempdir().unwrap();
    let output = paperscout(clean.path()).args(args).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let resumed = contents(killed.path());
    let reference = contents(clean.path());
    assert_eq!(resumed.len(), papers.len());
    assert_eq!(resumed.len(), reference.len());
    for ((paper, vector), (expected_paper, expected_vector)) in resumed.iter().zip(&reference) {
        assert_eq!(paper, expected_paper);
        let (vector, expected) = (vector.as_ref().unwrap(), expected_vector.as_ref().unwrap());
        assert!(cosine(vector, expected) > 0.99999, "{}", paper.id);
    }
    let mut out = std::io::stderr();
    writeln!(
        out,
        "killed after {committed} committed papers; the re-run completed the rest"
    )
    .unwrap();
}

/// Issue 20: an `embed --all` killed after a committed batch, before or after its cursor moved,
/// continues when run again: what it had not re-embedded is done, nothing is lost, and the
/// store ends in the new precision with its index built.
#[test]
fn a_killed_embed_all_continues_where_it_stopped() {
    use paperscout_embed::Precision;
    let Some(int8) = crate::util::reduced_precision_embedder(Precision::Int8) else {
        return;
    };
    // More papers than one batch (256), each short, so the test spends little on the model.
    let papers: Vec<Paper> = (1..=300)
        .map(|n| {
            serde_json::from_value(serde_json::json!({
                "id": format!("arXiv:2501.{n:05}"),
                "title": format!("Paper {n} on topic {}", n % 7),
                "abstract": format!("We study problem {n} with method {}.", n % 11),
                "date": "2025-01-15",
            }))
            .unwrap()
        })
        .collect();
    let lines: Vec<String> = papers
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let file = crate::util::write_lines(home, "papers.jsonl", &lines);
    let run = |precision: &str, crash_at: Option<&str>| {
        let mut command = paperscout(home);
        command.env("PAPERSCOUT_PRECISION", precision);
        if let Some(point) = crash_at {
            command.env("PAPERSCOUT_CRASH_AT", point);
        }
        command.args(["embed", "--all"]).output().unwrap()
    };
    let output = paperscout(home)
        .env("PAPERSCOUT_PRECISION", "fp32")
        .args(["ingest", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let (first, last) = (&papers[0], &papers[299]);
    let in_int8 = |paper: &Paper| int8.embed(&[paper.embedding_text()]).unwrap().remove(0);
    let in_fp32 = |paper: &Paper| {
        embedder()
            .embed(&[paper.embedding_text()])
            .unwrap()
            .remove(0)
    };
    let stored = |paper: &Paper| {
        SqliteStore::open_read_only(&store_path(home))
            .unwrap()
            .embedding(&paper.id, &stored_model(home))
            .unwrap()
            .expect("embedded")
    };
    let is = |got: Vec<f32>, want: Vec<f32>| crate::util::max_abs_diff(&got, &want) <= 1e-5;
    let cursor = home.join("data/paperscout/embed-all.json");

    // Killed once the first batch was committed and noted: the cursor names its last paper.
    let killed = run("int8", Some("embed-all-noted"));
    assert!(!killed.status.success(), "no crash: {}", stderr(&killed));
    let noted: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(noted["after"], papers[255].id.as_str(), "{noted}");
    assert_eq!(noted["precision"], "int8");
    assert!(is(stored(first), in_int8(first)), "the first batch is int8");
    assert!(is(stored(last), in_fp32(last)), "the rest is still fp32");

    // Killed again after the second batch was committed, before the cursor moved past it.
    let killed = run("int8", Some("embed-all-committed"));
    assert!(!killed.status.success(), "no crash: {}", stderr(&killed));
    assert!(
        is(stored(last), in_int8(last)),
        "the second batch was committed"
    );
    let still: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(still, noted, "the cursor did not move");

    // The third run does only the batch the cursor does not cover, then builds the index.
    let completed = run("int8", None);
    assert!(completed.status.success(), "{}", stderr(&completed));
    let said = stderr(&completed);
    assert!(said.contains("embedded 44 papers again in int8"), "{said}");
    assert!(!cursor.exists(), "the cursor is gone");
    for paper in [first, &papers[150], last] {
        assert!(is(stored(paper), in_int8(paper)), "{} is int8", paper.id);
    }
    let output = paperscout(home)
        .args(["index", "check", "--json", "--queries", "10"])
        .output()
        .unwrap();
    let check: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(check["papers"], 300, "{check}");
}

/// Issue 20: `embed --all` with the model in use makes every vector again in the precision that
/// runs now and builds the index anew; `model.json` records the precision. There and back.
#[test]
fn embed_all_moves_a_store_to_another_precision() {
    use paperscout_embed::Precision;
    let Some(int8) = crate::util::reduced_precision_embedder(Precision::Int8) else {
        return;
    };
    let Some(lines) = crate::util::sample_lines(0, 20) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let file = crate::util::write_lines(home, "papers.jsonl", &lines);
    let run = |precision: &str, args: &[&str]| {
        let output = paperscout(home)
            .env("PAPERSCOUT_PRECISION", precision)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stderr(&output)
    };
    run("fp32", &["ingest", file.to_str().unwrap()]);
    let paper: Paper = serde_json::from_str(&lines[3]).unwrap();
    let fp32 = embedder()
        .embed(&[paper.embedding_text()])
        .unwrap()
        .remove(0);
    let in_int8 = int8.embed(&[paper.embedding_text()]).unwrap().remove(0);
    let stored = || {
        SqliteStore::open_read_only(&store_path(home))
            .unwrap()
            .embedding(&paper.id, &stored_model(home))
            .unwrap()
            .expect("embedded")
    };
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
    };
    assert!(max_diff(&stored(), &fp32) <= 1e-5, "ingested in fp32");
    assert!(max_diff(&fp32, &in_int8) > 1e-4, "the precisions differ");

    let data_dir = home.join("data/paperscout");
    let switch = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("model.json")).unwrap())
            .unwrap()
    };
    for (precision, expected) in [("int8", &in_int8), ("fp32", &fp32)] {
        let said = run(precision, &["embed", "--all"]);
        assert!(
            said.contains(&format!("embedded 20 papers again in {precision}")),
            "{said}"
        );
        assert!(
            max_diff(&stored(), expected) <= 1e-5,
            "the stored vector is {precision}'s"
        );
        assert_eq!(switch()["precision"], precision);
        assert!(
            !data_dir.join("embed-all.json").exists(),
            "the cursor is gone"
        );
        let stats = stats(home);
        assert_eq!(stats["models"].as_array().unwrap().len(), 1, "{stats}");
        let output = paperscout(home)
            .args(["index", "check", "--json", "--queries", "10"])
            .output()
            .unwrap();
        let check: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(check["papers"], 20, "{check}");
        assert_eq!(
            check["rebuilt_because"],
            Value::Null,
            "built by embed --all: {check}"
        );
    }
}
