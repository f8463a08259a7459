//! The `paperscout` binary, run as a user runs it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::util::{cosine, embedder, model_copy, paperscout, references, stderr};

fn run_with_input(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn embedding(value: &Value) -> Vec<f32> {
    value["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn embed_writes_one_vector_per_record_in_order_and_skips_bad_lines() {
    let home = tempfile::tempdir().unwrap();
    let Some(seeds) = references("seed-papers.jsonl") else {
        return;
    };
    // Three papers with title and abstract, then a malformed line, a blank one and a free text.
    let mut input = String::new();
    for seed in &seeds[..3] {
        let record =
            serde_json::json!({"id": seed.id, "title": seed.title, "abstract": seed.abstract_text});
        input.push_str(&format!("{record}\n"));
    }
    input.push_str(
        "{\"title\": \"broken\"\n\n{\"text\": \"graph neural networks for molecules\"}\n",
    );

    // FP32, the reference precision: its vectors are PyTorch's to rounding.
    let output = run_with_input(
        paperscout(home.path()).args(["embed", "--precision", "fp32"]),
        &input,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("line 4"),
        "the malformed line is named: {}",
        stderr(&output)
    );

    let rows = json_lines(&output.stdout);
    assert_eq!(rows.len(), 4, "three papers and one text");
    for (row, seed) in rows[..3].iter().zip(&seeds) {
        assert_eq!(row["id"].as_str(), Some(seed.id.as_str()));
        let similarity = cosine(&embedding(row), &seed.embedding);
        assert!(similarity >= 0.99999, "{}: cosine {similarity}", seed.id);
    }
    assert_eq!(rows[3]["id"], Value::from(6), "no id: the line number");
    let expected = embedder()
        .embed(&["graph neural networks for molecules"])
        .unwrap();
    assert!(cosine(&embedding(&rows[3]), &expected[0]) >= 0.99999);
}

#[test]
fn strict_mode_stops_at_the_first_bad_line() {
    let home = tempfile::tempdir().unwrap();
    let output = run_with_input(
        paperscout(home.path()).args(["embed", "--strict"]),
        "{\"text\": \"fine\"}\n[1, 2]\n",
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
}

#[test]
fn f32_output_is_a_row_major_matrix_written_atomically() {
    let home = tempfile::tempdir().unwrap();
    let input_path = home.path().join("in.jsonl");
    std::fs::write(
        &input_path,
        "{\"text\": \"one\"}\n{\"text\": \"two\"}\n{\"text\": \"three\"}\n",
    )
    .unwrap();
    let out = home.path().join("vectors.f32");
    let output = paperscout(home.path())
        .args(["embed", "--precision", "fp32", "--format", "f32", "--out"])
        .arg(&out)
        .arg(&input_path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len(), 3 * 384 * 4);
    let second: Vec<f32> = bytes[384 * 4..2 * 384 * 4]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let expected = embedder().embed(&["two"]).unwrap();
    assert!(cosine(&second, &expected[0]) >= 0.99999);
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn a_failed_run_leaves_no_output_file() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("vectors.jsonl");
    let output = run_with_input(
        paperscout(home.path())
            .args(["embed", "--strict", "--out"])
            .arg(&out),
        "{\"text\": \"fine\"}\nnot json\n",
    );
    assert!(!output.status.success());
    assert!(
        !out.exists(),
        "a failed run must not leave a partial output"
    );
}

#[test]
fn model_info_reports_the_model() {
    let home = tempfile::tempdir().unwrap();
    let output = paperscout(home.path())
        .args(["model", "info", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["dim"], 384);
    assert_eq!(info["pooling"], "mean");
    assert_eq!(info["max_seq_length"], 256);
    assert_eq!(info["layers"], 6);
    assert_eq!(info["device"], "cpu");
    // `auto` resolved: int8 where the CPU has AVX512-VNNI, fp32 elsewhere.
    let auto = paperscout_embed::Precision::Auto.resolve(true).unwrap();
    assert_ne!(auto, paperscout_embed::Precision::Auto);
    assert_eq!(info["precision"], auto.to_string());
    assert_eq!(
        info["sha256"],
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    );

    let table = paperscout(home.path())
        .args(["model", "info"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("dimension") && text.contains("384"), "{text}");
    assert!(text.contains("precision"), "{text}");

    let precision = |args: &[&str], variable: Option<&str>| {
        let mut command = paperscout(home.path());
        if let Some(value) = variable {
            command.env("PAPERSCOUT_PRECISION", value);
        }
        let output = command
            .args(["model", "info", "--json"])
            .args(args)
            .output()
            .unwrap();
        (output.status.code(), stderr(&output), output.stdout)
    };
    let (code, _, stdout) = precision(&["--precision", "fp32"], Some("int8"));
    assert_eq!(code, Some(0));
    let info: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(
        info["precision"], "fp32",
        "the flag wins over the environment"
    );
    let (code, message, _) = precision(&["--precision", "int4"], None);
    assert_eq!(code, Some(2), "{message}");
    assert!(message.contains("unknown precision \"int4\""), "{message}");
    let (code, message, _) = precision(&["--precision", "int8", "--engine", "candle"], None);
    assert_eq!(code, Some(2), "{message}");
    assert!(message.contains("only the fused CPU engine"), "{message}");
}

#[test]
fn settings_layer_defaults_file_environment_flags() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("paperscout.toml");
    std::fs::write(&config, "[model]\nbatch_size = 3\n").unwrap();
    // The batch size that `model info` reports, given a config file, a variable and a flag.
    let batch_size = |file: Option<&Path>, variable: Option<&str>, flag: Option<&str>| -> Value {
        let mut command = paperscout(home.path());
        if let Some(file) = file {
            command.arg("--config").arg(file);
        }
        if let Some(value) = variable {
            command.env("PAPERSCOUT_BATCH_SIZE", value);
        }
        command.args(["model", "info", "--json"]);
        if let Some(value) = flag {
            command.args(["--batch-size", value]);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["batch_size"].clone()
    };
    assert_eq!(batch_size(None, None, None), 16, "default");
    assert_eq!(
        batch_size(Some(&config), None, None),
        3,
        "file beats default"
    );
    assert_eq!(
        batch_size(Some(&config), Some("5"), None),
        5,
        "environment beats file"
    );
    assert_eq!(
        batch_size(Some(&config), Some("5"), Some("7")),
        7,
        "flag beats environment"
    );

    std::fs::write(&config, "[model]\nbatchsize = 3\n").unwrap();
    let output = paperscout(home.path())
        .arg("--config")
        .arg(&config)
        .args(["model", "info", "--json"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("batchsize"),
        "the unknown key is named: {}",
        stderr(&output)
    );
}

#[test]
fn the_default_model_is_verified_against_the_manifest() {
    let home = tempfile::tempdir().unwrap();
    // The data directory is the first place the default model is looked for.
    let data_dir = home.path().join("data-dir");
    let copy = model_copy();
    let installed = data_dir.join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::rename(copy.path(), &installed).unwrap();
    let tokenizer = installed.join("tokenizer.json");
    let mut text = std::fs::read_to_string(&tokenizer).unwrap();
    text.push(' ');
    std::fs::write(&tokenizer, text).unwrap();

    let output = paperscout(home.path())
        .env_remove("PAPERSCOUT_MODEL")
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["model", "info"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("sha256") && message.contains("models/fetch"),
        "{message}"
    );
}

#[test]
fn a_missing_model_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let output = paperscout(home.path())
        .args(["model", "info", "--model", "/nonexistent/folder"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("models/fetch"),
        "{}",
        stderr(&output)
    );

    let output = paperscout(home.path())
        .args(["model", "info", "--device", "tpu"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad device name is the user's mistake"
    );
    assert!(stderr(&output).contains("cuda:N"), "{}", stderr(&output));
}

#[test]
fn every_command_explains_itself() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["embed", "--help"],
        &["model", "info", "--help"],
        &["ingest", "--help"],
        &["stats", "--help"],
    ] {
        let output = paperscout(home.path()).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("Usage:") && text.len() > 200,
            "{args:?}: {text}"
        );
    }
}

#[test]
fn embed_all_re_embeds_beside_the_current_model_and_switches_when_done() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let Some(lines) = crate::util::sample_lines(0, 30) else {
        return;
    };
    crate::util::ingest_lines(home, "papers.jsonl", &lines);
    // The same weights in another folder: another model as far as the store can tell.
    let copy = model_copy();
    let new_name = copy
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    // Without PAPERSCOUT_MODEL, which would name the model for every command.
    let run = |args: &[&str]| {
        let output = paperscout(home)
            .env_remove("PAPERSCOUT_MODEL")
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output
    };
    let before: Value = serde_json::from_slice(&run(&["model", "info", "--json"]).stdout).unwrap();
    assert_ne!(before["name"], new_name.as_str());

    let output = run(&["embed", "--all", "--model", copy.path().to_str().unwrap()]);
    assert!(stderr(&output).contains("now uses"), "{}", stderr(&output));
    let stats: Value = serde_json::from_slice(&run(&["stats", "--json"]).stdout).unwrap();
    let models = stats["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "both models' vectors are kept: {stats}");
    assert!(models.iter().all(|m| m["count"] == 30), "{stats}");
    let data_dir = home.join("data/paperscout");
    let switch: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("model.json")).unwrap())
            .unwrap();
    assert_eq!(
        switch["path"].as_str().unwrap(),
        std::fs::canonicalize(copy.path())
            .unwrap()
            .to_str()
            .unwrap()
    );
    // Every command now uses the new model, and its own index.
    let after: Value = serde_json::from_slice(&run(&["model", "info", "--json"]).stdout).unwrap();
    assert_eq!(after["name"], new_name.as_str(), "{after}");
    assert!(
        std::fs::read_dir(data_dir.join("index")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&new_name)),
        "no index folder of the new model"
    );
    let check: Value =
        serde_json::from_slice(&run(&["index", "check", "--json", "--queries", "10"]).stdout)
            .unwrap();
    assert_eq!(check["papers"], 30, "{check}");
    assert_eq!(
        check["rebuilt_because"],
        Value::Null,
        "built by embed --all: {check}"
    );
    // Again: the model is now the one in use, so its vectors are made again in the precision
    // that runs now (`ingest::embed_all_moves_a_store_to_another_precision`); the same switch.
    run(&["embed", "--all", "--model", copy.path().to_str().unwrap()]);
    let stats: Value = serde_json::from_slice(&run(&["stats", "--json"]).stdout).unwrap();
    assert_eq!(stats["models"].as_array().unwrap().len(), 2);
}

/// Issue 22: sources by name are added to and removed from the config file (kept as it was
/// around them), listed with what their fetches did, and a wrong entry says what to give.
#[test]
fn sources_are_added_listed_and_removed_by_name() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let config = home.join("config/paperscout/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "# mine\n[schedule]\npoll_seconds = 30\n").unwrap();
    let run = |args: &[&str]| paperscout(home).args(args).output().unwrap();
    let empty = run(&["sources"]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no sources"));
    for args in [
        &["sources", "add", "cs.CL"][..],
        &["sources", "add", "stat.ML"],
        &["sources", "add", "neuroscience", "--biorxiv"],
        &["sources", "add", "all", "--medrxiv"],
        &["sources", "remove", "stat.ML"],
    ] {
        let output = run(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("# mine") && text.contains("poll_seconds = 30"),
        "{text}"
    );
    let listed = run(&["sources"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("arxiv    cs.CL"), "{listed}");
    assert!(listed.contains("last fetch never"), "{listed}");
    let rows: Value = serde_json::from_slice(&run(&["sources", "--json"]).stdout).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["arxiv", "biorxiv", "medrxiv"]);
    assert_eq!(rows[0]["what"], serde_json::json!(["cs.CL"]));
    let wrong = run(&["sources", "add", "cs CL; rm"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("such as cs.CL"),
        "{}",
        stderr(&wrong)
    );
    let absent = run(&["sources", "remove", "math.AG"]);
    assert_eq!(absent.status.code(), Some(2));
    assert!(
        stderr(&absent).contains("paperscout sources"),
        "{}",
        stderr(&absent)
    );
}
