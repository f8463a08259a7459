//! The scheduler's fetches of the sources named in `[sources]`: what
//! [`paperscout_app::sources`] says is due is fetched here and ingested through the service,
//! and its outcome kept in the source's state (shown by `paperscout sources`).

use chrono::{DateTime, Utc};
use paperscout_app::settings::ScheduleConfig;
use paperscout_app::sources::{self, Fetch, Source};
use paperscout_ingest::biorxiv;
use paperscout_proto::IngestRequest;

use super::{Scheduler, State};

impl Scheduler {
    /// Fetches each source that is due, in turn, and notes how it went.
    pub(super) fn fetch_sources(
        &self,
        config: &ScheduleConfig,
        state: &mut State,
        now: DateTime<Utc>,
    ) {
        let wanted = &config.sources;
        for source in Source::ALL {
            let kept = state.sources.entry(source.name().to_owned()).or_default();
            let due = match source {
                Source::Arxiv => sources::arxiv_due(wanted, kept, now),
                other => sources::preprints_due(wanted, other, kept, now),
            };
            let Some(fetch) = due else { continue };
            let outcome = self.fetch(&fetch);
            match &outcome {
                Ok(count) => {
                    tracing::info!(source = source.name(), papers = count, "source fetched");
                }
                Err(why) => tracing::warn!(
                    source = source.name(),
                    "fetching failed, tried again later: {why}"
                ),
            }
            kept.record(outcome, now.timestamp(), wanted);
        }
    }

    /// Runs one fetch through the service's ingest; the papers read, or why it failed.
    fn fetch(&self, fetch: &Fetch) -> Result<usize, String> {
        let ingest = |request: IngestRequest| {
            self.service
                .ingest(&request)
                .map(|answer| answer.report.read - answer.report.left_out)
                .map_err(|err| err.to_string())
        };
        match fetch {
            Fetch::Listing { url } => ingest(IngestRequest {
                path: Some(url.clone()),
                ..IngestRequest::default()
            }),
            Fetch::CatchUp { urls, categories } => {
                let mut read = 0;
                for url in urls {
                    read += ingest(IngestRequest {
                        path: Some(url.clone()),
                        categories: categories.clone(),
                        ..IngestRequest::default()
                    })?;
                }
                Ok(read)
            }
            Fetch::Preprints {
                server,
                api,
                from,
                to,
                collections,
            } => {
                let (from, to) = (
                    from.format("%Y-%m-%d").to_string(),
                    to.format("%Y-%m-%d").to_string(),
                );
                let mut read = 0;
                for collection in collections {
                    let fetched = biorxiv::fetch(api, server, &from, &to, collection.as_deref())
                        .map_err(|err| err.to_string())?;
                    for bad in &fetched.bad {
                        tracing::warn!(server, "{bad}; skipped");
                    }
                    if fetched.papers.is_empty() {
                        continue;
                    }
                    let papers = fetched
                        .papers
                        .iter()
                        .map(serde_json::to_value)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|err| err.to_string())?;
                    read += ingest(IngestRequest {
                        papers,
                        ..IngestRequest::default()
                    })?;
                }
                Ok(read)
            }
        }
    }
}

#[cfg(test)]
mod tests;
