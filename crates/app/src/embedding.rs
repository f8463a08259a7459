//! Embedding outside a digest: a stream of JSON-lines records into vectors (`embed FILE`),
//! the store's papers that lack a current vector (`embed --missing`), and a whole store under
//! a new model, switched to in one rename, or rewritten under the model in use in the precision
//! it runs in now (`embed --all`).
//!
//! Streams are read a chunk at a time, so memory stays flat however long the input is; each
//! chunk is embedded in length-sorted batches by the embedder.

use std::io::{BufRead, BufReader, Read, Write};

use paperscout_embed::Embedder;
use paperscout_store::Store;
use paperscout_types::Paper;
use serde_json::Value;

use crate::choose::TextEmbedder;
use crate::{AppError, Result, Settings};

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

/// How vectors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    /// `{"id": ..., "embedding": [...]}`, one a line.
    Jsonl,
    /// Raw little-endian float32 rows, one per record, no header.
    F32,
}

/// What a stream's embedding tells its caller as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamEvent<'a> {
    /// A malformed line was skipped.
    Skipped {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        why: &'a str,
    },
    /// Records embedded so far.
    Embedded(usize),
}

/// What a stream's embedding did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamSummary {
    /// Records embedded and written.
    pub embedded: usize,
    /// Malformed lines skipped.
    pub skipped: usize,
}

/// Embeds every record of `input` into `out`, in input order. With `strict`, the first
/// malformed line stops the run; otherwise it is reported and skipped.
pub fn embed_stream(
    input: impl Read,
    out: &mut dyn Write,
    embedder: &Embedder,
    format: VectorFormat,
    strict: bool,
    events: &mut dyn FnMut(StreamEvent<'_>),
) -> Result<StreamSummary> {
    // Many batches per chunk, so sorting by length finds texts of similar length to batch.
    let chunk_size = (embedder.info().batch_size * 16).max(256);
    let mut reader = BufReader::new(input);
    let mut summary = StreamSummary::default();
    let mut chunk: Vec<Record> = Vec::with_capacity(chunk_size);
    let mut line = Vec::new();
    let mut line_number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|err| AppError::io("could not read the input", err))?;
        if read > 0 {
            line_number += 1;
            let parsed = std::str::from_utf8(&line)
                .map_err(|_| "not valid UTF-8".to_owned())
                .and_then(|text| parse_record(text, line_number));
            match parsed {
                Ok(Some(record)) => chunk.push(record),
                Ok(None) => {}
                Err(why) if strict => {
                    return Err(AppError::Usage(format!(
                        "line {line_number}: {why} (--strict)"
                    )));
                }
                Err(why) => {
                    summary.skipped += 1;
                    events(StreamEvent::Skipped {
                        line: line_number,
                        why: &why,
                    });
                }
            }
        }
        if chunk.len() >= chunk_size || (read == 0 && !chunk.is_empty()) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
            let vectors = embedder.embed(&texts)?;
            write_vectors(out, &chunk, &vectors, format)?;
            summary.embedded += chunk.len();
            events(StreamEvent::Embedded(summary.embedded));
            chunk.clear();
        }
        if read == 0 {
            return Ok(summary);
        }
    }
}

fn write_vectors(
    out: &mut dyn Write,
    records: &[Record],
    vectors: &[Vec<f32>],
    format: VectorFormat,
) -> Result<()> {
    for (record, vector) in records.iter().zip(vectors) {
        match format {
            VectorFormat::Jsonl => {
                let line = serde_json::json!({ "id": record.id, "embedding": vector });
                out.write_all(line.to_string().as_bytes())?;
                out.write_all(b"\n")?;
            }
            VectorFormat::F32 => {
                for value in vector {
                    out.write_all(&value.to_le_bytes())?;
                }
            }
        }
    }
    Ok(())
}

/// Papers embedded per transaction by [`embed_missing`].
const MISSING_BATCH: usize = 256;

/// Embeds every stored paper lacking a current vector of `model`, in batches, each committed,
/// so a killed run keeps what it did. `progress` hears (embedded so far, to do in all).
/// Returns how many were embedded.
pub fn embed_missing(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let stats = store.stats()?;
    let done = stats
        .models
        .iter()
        .find(|stored| stored.name == model.key().name && stored.sha256 == model.key().sha256)
        .map_or(0, |stored| stored.count);
    let total = usize::try_from(stats.papers.saturating_sub(done)).unwrap_or(usize::MAX);
    progress(0, total);
    let mut embedded = 0;
    let mut after: Option<String> = None;
    loop {
        let papers = store.missing_embeddings(model.key(), after.as_deref(), MISSING_BATCH)?;
        let Some(last) = papers.last() else {
            break;
        };
        after = Some(last.id.clone());
        embedded += embed_and_store(store, model, model.key(), &papers)?;
        progress(embedded, total);
    }
    Ok(embedded)
}

/// Embeds `papers` with `model` and stores their vectors under `key` in one transaction;
/// returns how many were stored.
fn embed_and_store(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    key: &paperscout_store::ModelKey,
    papers: &[Paper],
) -> Result<usize> {
    let texts: Vec<String> = papers.iter().map(Paper::embedding_text).collect();
    let vectors = model.embed_texts(&texts).map_err(AppError::Embedding)?;
    let rows: Vec<(&Paper, &[f32])> = papers
        .iter()
        .zip(&vectors)
        .map(|(paper, vector)| (paper, vector.as_slice()))
        .collect();
    Ok(store.put_embeddings(key, &rows)?)
}

/// Where a [`rewrite_all`] notes the last paper it committed: `{"sha256", "precision", "after"}`.
pub fn rewrite_cursor_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("embed-all.json")
}

/// Whether `key` is the model the data directory uses now: the one `embed --all` last switched
/// it to (`model.json`), or where it never switched, a model the store holds vectors of.
/// `embed --all` makes that model's vectors again and fills in a new model's.
pub fn in_use(
    settings: &Settings,
    store: &dyn Store,
    key: &paperscout_store::ModelKey,
) -> Result<bool> {
    match crate::settings::switch_record(&settings.data_dir) {
        Some(record) => Ok(record["sha256"].as_str() == Some(key.sha256.as_str())
            && record["name"].as_str() == Some(key.name.as_str())),
        None => Ok(store.stats()?.models.iter().any(|stored| {
            stored.name == key.name && stored.sha256 == key.sha256 && stored.count > 0
        })),
    }
}

/// Re-embeds every paper that has a vector of `model` with the model as it runs now, in
/// batches, each committed: how a store moves to another precision (`embed --all --precision
/// int8`). The last committed paper is noted in [`rewrite_cursor_file`], so a killed run
/// continues after it when run again in the same precision; the file is removed at the end.
/// `progress` hears (re-embedded so far, to do in all). Returns how many were re-embedded.
pub fn rewrite_all(
    data_dir: &std::path::Path,
    store: &mut dyn Store,
    model: &crate::store_model::StoreModel,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let key = model.key().clone();
    let precision = model.embedder().info().precision.to_string();
    let cursor_path = rewrite_cursor_file(data_dir);
    let after = std::fs::read_to_string(&cursor_path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(|cursor| {
            cursor["sha256"].as_str() == Some(key.sha256.as_str())
                && cursor["precision"].as_str() == Some(precision.as_str())
        })
        .and_then(|cursor| cursor["after"].as_str().map(str::to_owned));
    let mut ids = Vec::new();
    store.for_each_embedding(&key, &mut |id, _| {
        if after.as_deref().is_none_or(|after| id > after) {
            ids.push(id.to_owned());
        }
    })?;
    ids.sort_unstable();
    progress(0, ids.len());
    let mut done = 0;
    for chunk in ids.chunks(MISSING_BATCH) {
        let mut papers = Vec::with_capacity(chunk.len());
        for id in chunk {
            if let Some(stored) = store.paper(id)? {
                papers.push(stored.paper);
            }
        }
        embed_and_store(store, model, &key, &papers)?;
        crate::crash::point("embed-all-committed");
        done += chunk.len();
        let cursor = serde_json::json!({
            "sha256": key.sha256,
            "precision": precision,
            "after": chunk.last(),
        });
        crate::files::write_atomically(&cursor_path, format!("{cursor}\n").as_bytes())?;
        crate::crash::point("embed-all-noted");
        progress(done, ids.len());
    }
    // The index holds the vectors as they were: [`switch_model`] builds it again from the store.
    remove_if_there(&crate::live_index::dir_for(data_dir, &key))?;
    remove_if_there(&cursor_path)?;
    Ok(done)
}

/// Removes a file or folder, if it is there.
fn remove_if_there(path: &std::path::Path) -> Result<()> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(AppError::io(
            format!("cannot remove {}", path.display()),
            err,
        )),
        _ => Ok(()),
    }
}

/// What [`switch_model`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Switched {
    /// Papers in the new model's index.
    pub indexed: usize,
    /// Seconds the index took.
    pub seconds: f64,
}

/// Builds the index of `model` (whose vectors the store holds) in its own folder, then switches
/// the data directory to the model with one rename of `model.json`. Until then the model in
/// use keeps its vectors and index.
pub fn switch_model(
    settings: &Settings,
    store: &dyn Store,
    model: &crate::store_model::StoreModel,
) -> Result<Switched> {
    let located = crate::model::locate(settings)?;
    let dir = crate::live_index::dir_for(&settings.data_dir, model.key());
    let (index, opened) = crate::live_index::open(
        store,
        model.key(),
        &dir,
        paperscout_index::IndexParams::default(),
    )?;
    let path = std::fs::canonicalize(&located.dir)
        .map_err(|err| AppError::io(format!("cannot resolve {}", located.dir.display()), err))?;
    let record = serde_json::json!({
        "path": path,
        "name": model.key().name,
        "sha256": model.key().sha256,
        "dim": model.key().dim,
        "precision": model.embedder().info().precision,
        "switched": paperscout_store::now(),
    });
    let text = serde_json::to_string_pretty(&record).map_err(|source| AppError::Json {
        what: "writing the model switch".to_owned(),
        source,
    })? + "\n";
    crate::files::write_atomically(
        &crate::settings::switch_file(&settings.data_dir),
        text.as_bytes(),
    )?;
    Ok(Switched {
        indexed: index.len(),
        seconds: opened.seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{DIM, Words, paper};
    use paperscout_store::{MemoryStore, PaperWrite};

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
        let wrong = |line: &str| parse_record(line, 1).expect_err("malformed");
        assert!(wrong("{oops").contains("JSON"));
        assert!(wrong("[1]").contains("object"));
        assert!(wrong(r#"{"id": 1}"#).contains("text"));
        assert!(wrong(r#"{"title": 5}"#).contains("title"));
    }

    #[test]
    fn missing_vectors_are_embedded_once() {
        let words = Words::new();
        let papers = [
            paper(
                "2503.1",
                "2025-03-18",
                "Graphs",
                "Graph networks.",
                &["cs.LG"],
            ),
            paper(
                "2503.2",
                "2025-03-18",
                "Speech",
                "Speech recognition.",
                &["cs.CL"],
            ),
        ];
        let writes: Vec<PaperWrite<'_>> = papers
            .iter()
            .map(|paper| PaperWrite {
                paper,
                source: "test",
                embedding: None,
            })
            .collect();
        let mut store = MemoryStore::new();
        store.write_papers(&writes, None, 1).expect("written");
        let mut heard = Vec::new();
        let embedded = embed_missing(&mut store, &words, &mut |done, total| {
            heard.push((done, total));
        })
        .expect("embedded");
        assert_eq!(embedded, 2);
        assert_eq!(heard.first(), Some(&(0, 2)));
        let stored = store
            .embedding("arXiv:2503.1", words.key())
            .expect("read")
            .expect("embedded");
        assert_eq!(stored.len(), DIM);
        assert_eq!(stored, Words::vector(&papers[0].embedding_text()));
        assert_eq!(
            embed_missing(&mut store, &words, &mut |_, _| {}).expect("again"),
            0
        );
    }
}
