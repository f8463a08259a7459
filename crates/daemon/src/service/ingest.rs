//! `ingest`: papers are committed batch by batch (the store's writer is held for each
//! transaction only) and join the index and the catalogue as each batch commits.

use std::time::Instant;

use paperscout_app::settings::defaults;
use paperscout_index::Payload;
use paperscout_ingest::{Input, LogBudget, Options, Progress, Records};
use paperscout_proto::{IngestAnswer, IngestRequest};

use super::{Bulk, Service, write};
use crate::error::{DaemonError, Result};

impl Service {
    /// `ingest`: papers are committed batch by batch (the store's writer is held for each
    /// transaction only) and join the index and the catalogue as each batch commits.
    pub fn ingest(&self, request: &IngestRequest) -> Result<IngestAnswer> {
        let input = match (&request.path, request.papers.is_empty()) {
            // A URL is fetched; a path must be a regular file, opened without blocking, since
            // a FIFO or `-` would hold a thread (and shutdown) until something wrote to it.
            (Some(url), true) if paperscout_ingest::is_url(url) => paperscout_ingest::open(url)?,
            (Some(path), true) => paperscout_ingest::open_file(path)?,
            (None, false) => {
                let mut bytes = Vec::new();
                for paper in &request.papers {
                    bytes.extend_from_slice(paper.to_string().as_bytes());
                    bytes.push(b'\n');
                }
                Input {
                    name: "request".to_owned(),
                    len: Some(bytes.len() as u64),
                    reader: Box::new(std::io::Cursor::new(bytes)),
                    consumed: std::sync::Arc::default(),
                }
            }
            _ => {
                return Err(DaemonError::BadRequest(
                    "an ingest request needs either \"path\" or \"papers\", not both".to_owned(),
                ));
            }
        };
        let source = input.name.clone();
        let records = Records::new(input)?;
        // Scoop alerts: each batch checked as it commits. A failure there costs the alerts,
        // never the papers.
        let mut scoops = super::scoops::Scoops::default();
        let started = Instant::now();
        let mut bad = Vec::new();
        let mut log = LogBudget::default();
        let mut failed = None;
        let mut shared = &*self.writer;
        let report = paperscout_ingest::ingest(
            &mut shared,
            records,
            &source,
            Some(&Bulk(&self.model)),
            Options {
                batch_size: request
                    .batch
                    .unwrap_or(defaults::INGEST_BATCH)
                    .clamp(1, 100_000),
                categories: request.categories.clone(),
                ..Options::default()
            },
            paperscout_store::now(),
            &mut |progress| match progress {
                Progress::Bad(record) => {
                    if log.allows() {
                        tracing::warn!("{record}; skipped");
                    }
                    if bad.len() < 100 {
                        bad.push(record.to_string());
                    }
                }
                Progress::Shortened(note) => {
                    if log.allows() {
                        tracing::warn!("{note}; kept");
                    }
                }
                Progress::Written { papers, vectors } => {
                    if let Err(err) = self.absorb(papers, vectors) {
                        failed.get_or_insert(err);
                    }
                    if let Err(err) = self.alert(&mut scoops, papers, vectors) {
                        tracing::error!("could not queue scoop alerts: {err}");
                    }
                }
                Progress::Committed(_) => {}
            },
        )?;
        log.log_refused(&source);
        self.deliver_scoops(&scoops);
        if let Some(err) = failed {
            return Err(DaemonError::Bug(format!(
                "the papers were stored, but the index lags behind the store until the daemon \
                 restarts: {err}"
            )));
        }
        self.persist()?;
        Ok(IngestAnswer {
            source,
            report,
            bad_records: bad,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Brings the index and the catalogue up to date with a committed batch.
    fn absorb(
        &self,
        papers: &[paperscout_types::Paper],
        vectors: &[Option<Vec<f32>>],
    ) -> Result<()> {
        let ids: Vec<&str> = papers.iter().map(|p| p.id.as_str()).collect();
        // The merged papers, as stored.
        let stored = self.readers.with(|store| {
            let mut stored = Vec::with_capacity(ids.len());
            for id in &ids {
                stored.extend(store.paper(id)?);
            }
            Ok(stored)
        })?;
        {
            let mut catalog = write(&self.catalog);
            for paper in &stored {
                catalog.insert(&paper.paper);
            }
        }
        // The payloads are the merged papers' days and categories.
        let payloads: std::collections::HashMap<&str, Payload> = stored
            .iter()
            .map(|s| (s.paper.id.as_str(), Payload::of(&s.paper)))
            .collect();
        let rows: Vec<(&str, &[f32], Payload)> = papers
            .iter()
            .zip(vectors)
            .filter_map(|(paper, vector)| {
                let payload = payloads.get(paper.id.as_str()).cloned().unwrap_or_default();
                Some((paper.id.as_str(), vector.as_deref()?, payload))
            })
            .collect();
        self.index.upsert(&rows)?;
        Ok(())
    }
}
