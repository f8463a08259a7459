//! `paperscout ingest`: papers from files and feeds into the store, embedded.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result};
use paperscout_ingest::{Options, Progress, Records, Report, TextEmbedder, ingest};
use serde::Serialize;

use crate::cli::IngestArgs;
use paperscout_app::Settings;
use paperscout_app::store_model::StoreModel;

#[derive(Serialize)]
struct SourceReport<'a> {
    source: &'a str,
    #[serde(flatten)]
    report: Report,
}

#[derive(Serialize)]
struct Summary<'a> {
    sources: Vec<SourceReport<'a>>,
    total: Report,
    seconds: f64,
}

/// Runs the command.
pub fn run(args: &IngestArgs, settings: &Settings, quiet: bool) -> Result<()> {
    // The lock first: a second writer should hear so before a model loads.
    let mut store = settings.store.open()?;
    let model = if args.no_embed {
        None
    } else {
        Some(StoreModel::load(settings)?)
    };
    let options = Options {
        strict: args.strict,
        batch_size: args.papers_per_batch as usize,
        ..Options::default()
    };

    // Scoop alerts, as the daemon sends them for its own ingests.
    let mut scoops = match &model {
        Some(model) => paperscout_app::alerts::Pending::load(&store, model, &settings.mail)?,
        None => None,
    };
    let started = Instant::now();
    let mut summary = Summary {
        sources: Vec::new(),
        total: Report::default(),
        seconds: 0.0,
    };
    for source in &args.sources {
        let input = paperscout_ingest::open(source)?;
        let bar = crate::progress::bytes(input.len, quiet);
        let consumed = std::sync::Arc::clone(&input.consumed);
        let records = Records::new(input)?;
        let source_started = Instant::now();
        let mut log = paperscout_ingest::LogBudget::default();
        let report = ingest(
            &mut store,
            records,
            source,
            model.as_ref().map(|model| model as &dyn TextEmbedder),
            options.clone(),
            paperscout_store::now(),
            &mut |progress| match progress {
                Progress::Bad(bad) if log.allows() => {
                    bar.suspend(|| tracing::warn!("{bad}; skipped"));
                }
                Progress::Shortened(note) if log.allows() => {
                    bar.suspend(|| tracing::warn!("{note}; kept"));
                }
                Progress::Bad(_) | Progress::Shortened(_) => {}
                Progress::Written { papers, vectors } => {
                    if let Some(scoops) = &mut scoops {
                        scoops.observe(papers, vectors);
                    }
                }
                Progress::Committed(report) => {
                    bar.set_position(consumed.load(Ordering::Relaxed));
                    let rate = report.read as f64 / source_started.elapsed().as_secs_f64();
                    bar.set_message(format!(
                        "{} papers, {rate:.0} papers/s, {} embedded",
                        report.read, report.written.embedded
                    ));
                }
            },
        )
        .with_context(|| format!("ingesting {source} stopped"))?;
        bar.finish_and_clear();
        log.log_refused(source);
        if !quiet && !args.json {
            eprintln!(
                "{}",
                paperscout_proto::tables::ingest_line(
                    source,
                    &report,
                    source_started.elapsed().as_secs_f64()
                )
            );
        }
        summary.total.absorb(&report);
        summary.sources.push(SourceReport { source, report });
    }
    if let Some(scoops) = scoops {
        let (alerted, delivery) = scoops.send(&mut store, paperscout_store::now())?;
        if alerted > 0 {
            tracing::info!("{alerted} new papers sent as scoop alerts");
        }
        for failed in &delivery.failed {
            tracing::warn!("a scoop alert stays queued for `paperscout mail flush`: {failed}");
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    if args.json {
        super::print(true, &summary, |_| String::new())?;
    } else if !quiet && summary.sources.len() > 1 {
        eprintln!(
            "{}",
            paperscout_proto::tables::ingest_line("in all", &summary.total, summary.seconds)
        );
    }
    Ok(())
}
