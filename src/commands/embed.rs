//! `paperscout embed`: JSONL records in, one vector per record out, in input order.
//!
//! The input is streamed in chunks, so memory stays flat however long it is; each chunk is
//! embedded in length-sorted batches by the embedder. Output to a file appears in one rename
//! when the run succeeds, never half-written.

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use paperscout_embed::Embedder;
use paperscout_store::{SqliteStore, Store};
use paperscout_types::Paper;
use serde_json::Value;

use crate::cli::{EmbedArgs, OutputFormat};
use paperscout_app::Settings;
use paperscout_app::store_model::StoreModel;

/// One input record, ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's `id`, or its line number.
    pub id: Value,
    /// The text to embed.
    pub text: String,
}

/// Reads one JSONL line. `Ok(None)` for a blank line; `Err` says what is wrong with it.
pub fn parse_record(line: &str, line_number: usize) -> Result<Option<Record>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".to_owned());
    };
    let mut field = |name: &str| -> Result<Option<String>, String> {
        match object.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    };
    let title = field("title")?;
    let abstract_text = field("abstract")?;
    let text = field("text")?;
    let text = match (title, abstract_text, text) {
        (None, None, Some(text)) => text,
        (None, None, None) => return Err("has neither `title`/`abstract` nor `text`".to_owned()),
        (title, abstract_text, _) => paperscout_types::embedding_text(
            title.as_deref().unwrap_or_default(),
            abstract_text.as_deref().unwrap_or_default(),
        ),
    };
    let id = object
        .remove("id")
        .unwrap_or_else(|| Value::from(line_number));
    Ok(Some(Record { id, text }))
}

/// Papers embedded per transaction by `--missing`.
const MISSING_BATCH: usize = 256;

/// `embed --missing`: embeds every stored paper that lacks a current embedding under the model.
pub fn run_missing(settings: &Settings, quiet: bool) -> Result<()> {
    let path = paperscout_store::file_in(&settings.data_dir);
    let mut store = SqliteStore::open(&path)?;
    let model = StoreModel::load(settings)?;
    embed_missing(&mut store, &model, quiet)
}

/// `paperscout embed --all`: every paper embedded with the settings' model, its index built
/// in its own folder, then the data directory switched to it by one rename; until then the
/// model in use keeps its vectors and index.
pub fn run_all(settings: &Settings, quiet: bool) -> Result<()> {
    if paperscout_daemon::running(settings) {
        bail!(
            "the daemon holds the store: stop it (`paperscout stop`), run `embed --all`, then start it again; it will serve with the new model"
        );
    }
    let path = paperscout_store::file_in(&settings.data_dir);
    let mut store = SqliteStore::open(&path)?;
    let model = StoreModel::load(settings)?;
    let located = paperscout_app::model::locate(settings)?;
    embed_missing(&mut store, &model, quiet)?;
    let dir = paperscout_app::live_index::dir_for(&settings.data_dir, model.key());
    let (index, opened) = paperscout_app::live_index::open(
        &store,
        model.key(),
        &dir,
        paperscout_index::IndexParams::default(),
    )?;
    let switch = paperscout_app::settings::switch_file(&settings.data_dir);
    let record = serde_json::json!({
        "path": std::fs::canonicalize(&located.dir)?,
        "name": model.key().name,
        "sha256": model.key().sha256,
        "dim": model.key().dim,
        "switched": paperscout_store::now(),
    });
    crate::commands::digest::write_atomically(
        &switch,
        &(serde_json::to_string_pretty(&record)? + "\n"),
    )?;
    if !quiet {
        eprintln!(
            "{} now uses {} ({} papers indexed in {:.1} s); the previous model's vectors and index are kept. \
             Start the daemon again to serve with it; a config file or PAPERSCOUT_MODEL that names a model still wins over the switch",
            settings.data_dir.display(),
            model.key().name,
            index.len(),
            opened.seconds
        );
    }
    Ok(())
}

/// Embeds every stored paper lacking a current vector of `model`, in batches, each committed.
fn embed_missing(store: &mut SqliteStore, model: &StoreModel, quiet: bool) -> Result<()> {
    let stats = store.stats()?;
    let done = stats
        .models
        .iter()
        .find(|stored| stored.name == model.key().name && stored.sha256 == model.key().sha256)
        .map_or(0, |stored| stored.count);
    let total = stats.papers.saturating_sub(done);
    let progress = crate::progress::items(total, "papers", quiet);
    let started = Instant::now();
    let mut embedded = 0;
    let mut after: Option<String> = None;
    loop {
        let papers = store.missing_embeddings(model.key(), after.as_deref(), MISSING_BATCH)?;
        let Some(last) = papers.last() else {
            break;
        };
        after = Some(last.id.clone());
        let texts: Vec<String> = papers.iter().map(Paper::embedding_text).collect();
        let vectors = model.embedder().embed(&texts)?;
        let rows: Vec<(&Paper, &[f32])> = papers
            .iter()
            .zip(&vectors)
            .map(|(paper, vector)| (paper, vector.as_slice()))
            .collect();
        embedded += store.put_embeddings(model.key(), &rows)?;
        progress.set_position(embedded as u64);
    }
    progress.finish_and_clear();
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {embedded} papers that lacked a current {} embedding in {seconds:.1} s              ({:.1} papers/s)",
            model.key().name,
            embedded as f64 / seconds.max(1e-9)
        );
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: &EmbedArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if args.format == OutputFormat::F32 && args.out.is_none() && std::io::stdout().is_terminal() {
        bail!("--format f32 writes binary data: give --out FILE or redirect standard output");
    }
    let (embedder, _) = paperscout_app::model::load(settings)?;

    let (reader, input_len) = open_input(&args.input)?;
    let progress = crate::progress::bytes(input_len, quiet);
    let counting = CountingReader {
        inner: reader,
        progress: progress.clone(),
    };

    let started = Instant::now();
    let summary = match &args.out {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let staged = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write into {}", dir.display()))?;
            let mut writer = BufWriter::new(staged);
            let summary = embed_stream(counting, &mut writer, &embedder, args, &progress)?;
            let staged = writer.into_inner().context("could not flush the output")?;
            staged
                .as_file()
                .sync_all()
                .context("could not sync the output")?;
            staged
                .persist(path)
                .with_context(|| format!("could not move the output into {}", path.display()))?;
            summary
        }
        None => {
            let stdout = std::io::stdout();
            let mut writer = BufWriter::new(stdout.lock());
            let summary = embed_stream(counting, &mut writer, &embedder, args, &progress)?;
            writer
                .flush()
                .context("could not write to standard output")?;
            summary
        }
    };
    progress.finish_and_clear();

    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {} records ({} skipped) in {seconds:.1} s: {:.1} texts/s, {}-d vectors",
            summary.embedded,
            summary.skipped,
            summary.embedded as f64 / seconds.max(1e-9),
            embedder.dim(),
        );
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Summary {
    embedded: usize,
    skipped: usize,
}

fn embed_stream(
    reader: impl Read,
    out: &mut impl Write,
    embedder: &Embedder,
    args: &EmbedArgs,
    progress: &ProgressBar,
) -> Result<Summary> {
    // Many batches per chunk, so sorting by length finds texts of similar length to batch.
    let chunk_size = (embedder.info().batch_size * 16).max(256);
    let mut reader = BufReader::new(reader);
    let mut summary = Summary::default();
    let mut chunk: Vec<Record> = Vec::with_capacity(chunk_size);
    let mut line = Vec::new();
    let mut line_number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("could not read {}", args.input.display()))?;
        if read > 0 {
            line_number += 1;
            let parsed = std::str::from_utf8(&line)
                .map_err(|_| "not valid UTF-8".to_owned())
                .and_then(|text| parse_record(text, line_number));
            match parsed {
                Ok(Some(record)) => chunk.push(record),
                Ok(None) => {}
                Err(why) if args.strict => bail!("line {line_number}: {why} (--strict)"),
                Err(why) => {
                    summary.skipped += 1;
                    progress.suspend(|| tracing::warn!("line {line_number}: {why}; skipped"));
                }
            }
        }
        if chunk.len() >= chunk_size || (read == 0 && !chunk.is_empty()) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
            let vectors = embedder.embed(&texts)?;
            write_vectors(out, &chunk, &vectors, args.format)?;
            summary.embedded += chunk.len();
            progress.set_message(format!("{} embedded", summary.embedded));
            chunk.clear();
        }
        if read == 0 {
            return Ok(summary);
        }
    }
}

fn write_vectors(
    out: &mut impl Write,
    records: &[Record],
    vectors: &[Vec<f32>],
    format: OutputFormat,
) -> Result<()> {
    for (record, vector) in records.iter().zip(vectors) {
        match format {
            OutputFormat::Jsonl => {
                serde_json::to_writer(
                    &mut *out,
                    &serde_json::json!({ "id": record.id, "embedding": vector }),
                )?;
                out.write_all(b"\n")?;
            }
            OutputFormat::F32 => {
                for value in vector {
                    out.write_all(&value.to_le_bytes())?;
                }
            }
        }
    }
    Ok(())
}

fn open_input(path: &Path) -> Result<(Box<dyn Read>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin().lock()), None));
    }
    let file = fs_err::File::open(path).context("cannot read the input")?;
    let len = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), len))
}

/// Advances the progress bar by the bytes read.
struct CountingReader<R> {
    inner: R,
    progress: ProgressBar,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.progress.inc(read as u64);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn papers_embed_title_and_abstract() {
        let record = parse_record(r#"{"id": "p1", "title": "T", "abstract": "A"}"#, 1)
            .expect("valid")
            .expect("not blank");
        assert_eq!(record.id, Value::from("p1"));
        assert_eq!(record.text, "T\nA");
    }

    #[test]
    fn texts_embed_as_they_are_and_ids_default_to_the_line() {
        let record = parse_record(r#"{"text": "free text"}"#, 7)
            .expect("valid")
            .expect("not blank");
        assert_eq!(record.id, Value::from(7));
        assert_eq!(record.text, "free text");
    }

    #[test]
    fn blank_lines_are_not_records() {
        assert_eq!(parse_record("  \n", 3), Ok(None));
    }

    #[test]
    fn malformed_records_say_what_is_wrong() {
        assert!(
            parse_record("{oops", 1)
                .expect_err("bad json")
                .contains("JSON")
        );
        assert!(
            parse_record("[1]", 1)
                .expect_err("array")
                .contains("object")
        );
        assert!(
            parse_record(r#"{"id": 1}"#, 1)
                .expect_err("no text")
                .contains("text")
        );
        assert!(
            parse_record(r#"{"title": 5}"#, 1)
                .expect_err("number")
                .contains("title")
        );
    }
}
