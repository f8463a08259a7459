//! The ingest pipeline: records in batches → which are new or changed → embed those → one
//! transaction per batch.
//!
//! Each batch is written with its embeddings in one transaction, after the embedder has run,
//! so a crash at any moment loses at most the batch in flight, and running the same ingest
//! again finishes the job: papers already stored are unchanged, and papers stored without an
//! embedding of their current text are embedded then.

use std::time::Instant;

use paperscout_store::{ModelKey, PaperWrite, Store, Timestamp, WriteSummary};
use paperscout_types::{Fault, Paper};
use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::reader::Records;
use crate::record::{BadRecord, Item};

/// Whatever turns texts into unit vectors of one model: the model the command line loaded, the
/// daemon's model worker. Behind this small interface so that this crate (and the use cases
/// above it) do not depend on the model; the one embedder trait of paperscout.
pub trait TextEmbedder {
    /// The model the vectors come from, as the store keys them.
    fn key(&self) -> &ModelKey;
    /// One unit vector per text, in order.
    fn embed_texts(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, EmbedFailure>;
}

/// Why texts were not embedded: whose fault it is and what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EmbedFailure {
    /// Whose fault: [`Fault::Busy`] for a model whose queue is full.
    pub fault: Fault,
    /// What went wrong and what to do.
    pub message: String,
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop at the first bad record, writing nothing of its batch.
    pub strict: bool,
    /// Papers per transaction (and per call to the embedder).
    pub batch_size: usize,
    /// Keep only papers in one of these categories (`cs.CL`) or archives (`cs`); none: every
    /// paper. A source that lists a whole archive (an OAI-PMH set) is narrowed to what was
    /// asked for.
    pub categories: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            strict: false,
            batch_size: 512,
            categories: Vec::new(),
        }
    }
}

/// Whether a paper is in one of the wanted categories or archives (none wanted: every paper).
pub fn in_categories(paper: &Paper, wanted: &[String]) -> bool {
    wanted.is_empty()
        || paper.categories.iter().any(|category| {
            wanted.iter().any(|want| {
                category.eq_ignore_ascii_case(want)
                    || category
                        .get(..want.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(want))
                        && category.as_bytes().get(want.len()) == Some(&b'.')
            })
        })
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Papers read from the sources.
    pub read: usize,
    /// Records skipped as bad.
    pub bad: usize,
    /// Records the source marked as deleted.
    pub deleted: usize,
    /// Papers stored with fields cut to [`crate::limits`]' sizes.
    #[serde(default)]
    pub shortened: usize,
    /// Papers left out as outside the categories asked for.
    #[serde(default)]
    pub left_out: usize,
    /// What the store did with the papers.
    pub written: WriteSummary,
    /// Seconds spent in the embedder.
    pub embed_seconds: f64,
    /// Seconds spent in the store.
    pub store_seconds: f64,
}

impl Report {
    /// Adds another report's counts to this one.
    pub fn absorb(&mut self, other: &Self) {
        self.read += other.read;
        self.bad += other.bad;
        self.deleted += other.deleted;
        self.shortened += other.shortened;
        self.left_out += other.left_out;
        self.written.absorb(other.written);
        self.embed_seconds += other.embed_seconds;
        self.store_seconds += other.store_seconds;
    }
}

/// What the pipeline tells its caller as it goes.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A record was skipped.
    Bad(&'a BadRecord),
    /// A paper's fields were cut before it was stored; the note says which.
    Shortened(&'a BadRecord),
    /// A batch was committed: its papers as read, and the vector stored for each (none for
    /// papers that were unchanged, older than stored, or not embedded). Comes just before
    /// [`Progress::Committed`].
    Written {
        /// The batch.
        papers: &'a [Paper],
        /// The new vectors, one slot per paper.
        vectors: &'a [Option<Vec<f32>>],
    },
    /// A batch was committed; the report so far.
    Committed(&'a Report),
}

/// Reads every record of `records`, stores the papers under `source` and embeds those that
/// need it when an embedder is given.
pub fn ingest(
    store: &mut dyn Store,
    records: Records,
    source: &str,
    embedder: Option<&dyn TextEmbedder>,
    options: Options,
    now: Timestamp,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report> {
    let mut report = Report::default();
    let mut batch: Vec<Paper> = Vec::with_capacity(options.batch_size);
    for item in records {
        let paper = match item? {
            Item::Paper(paper) => paper,
            Item::Shortened { paper, note } => {
                report.shortened += 1;
                on_progress(Progress::Shortened(&note));
                paper
            }
            Item::Bad(bad) => {
                if options.strict {
                    return Err(IngestError::Strict(bad));
                }
                report.bad += 1;
                on_progress(Progress::Bad(&bad));
                continue;
            }
            Item::Deleted => {
                report.deleted += 1;
                continue;
            }
        };
        report.read += 1;
        if !in_categories(&paper, &options.categories) {
            report.left_out += 1;
            continue;
        }
        batch.push(paper);
        if batch.len() >= options.batch_size {
            let vectors = commit(store, &batch, source, embedder, now, &mut report)?;
            on_progress(Progress::Written {
                papers: &batch,
                vectors: &vectors,
            });
            batch.clear();
            on_progress(Progress::Committed(&report));
        }
    }
    if !batch.is_empty() {
        let vectors = commit(store, &batch, source, embedder, now, &mut report)?;
        on_progress(Progress::Written {
            papers: &batch,
            vectors: &vectors,
        });
        on_progress(Progress::Committed(&report));
    }
    Ok(report)
}

fn commit(
    store: &mut dyn Store,
    batch: &[Paper],
    source: &str,
    embedder: Option<&dyn TextEmbedder>,
    now: Timestamp,
    report: &mut Report,
) -> Result<Vec<Option<Vec<f32>>>> {
    let started = Instant::now();
    let model = embedder.map(|embedder| embedder.key().clone());
    let classified = store.classify(batch, model.as_ref())?;
    let wanted: Vec<usize> = classified
        .iter()
        .enumerate()
        .filter(|(_, class)| class.needs_embedding)
        .map(|(index, _)| index)
        .collect();
    let mut store_seconds = started.elapsed().as_secs_f64();

    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; batch.len()];
    if let Some(embedder) = embedder
        && !wanted.is_empty()
    {
        let started = Instant::now();
        let texts: Vec<String> = wanted.iter().map(|&i| batch[i].embedding_text()).collect();
        let computed = embedder.embed_texts(&texts).map_err(IngestError::Embed)?;
        if computed.len() != texts.len() {
            return Err(IngestError::Embed(EmbedFailure {
                fault: Fault::Bug,
                message: format!("{} vectors for {} texts", computed.len(), texts.len()),
            }));
        }
        for (index, vector) in wanted.iter().zip(computed) {
            vectors[*index] = Some(vector);
        }
        report.embed_seconds += started.elapsed().as_secs_f64();
    }

    let started = Instant::now();
    let writes: Vec<PaperWrite<'_>> = batch
        .iter()
        .zip(&vectors)
        .map(|(paper, vector)| PaperWrite {
            paper,
            source,
            embedding: vector.as_deref(),
        })
        .collect();
    let written = store.write_papers(&writes, model.as_ref(), now)?;
    store_seconds += started.elapsed().as_secs_f64();
    report.written.absorb(written);
    report.store_seconds += store_seconds;
    // Vectors of records older than the stored version were not stored.
    for (vector, class) in vectors.iter_mut().zip(&classified) {
        if class.change == paperscout_store::Change::Older {
            *vector = None;
        }
    }
    Ok(vectors)
}
