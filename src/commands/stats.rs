//! `paperscout stats`: what the store holds.

use std::io::Write;

use anyhow::Result;
use paperscout_store::Store;
use serde::Serialize;

use paperscout_app::Settings;

#[derive(Serialize)]
struct Report {
    path: String,
    #[serde(flatten)]
    stats: paperscout_store::Stats,
    /// The running daemon's index, when one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<paperscout_proto::IndexStats>,
}

/// Runs the command: the running daemon's view when one runs, else the store's.
pub fn run(settings: &Settings, json: bool) -> Result<()> {
    let place = settings.store.describe();
    let (stats, index) = if paperscout_daemon::running(settings) {
        let answer = paperscout_proto::Client::new(&settings.socket)
            .call(paperscout_proto::StatsRequest {})?;
        (answer.store, Some(answer.index))
    } else {
        (settings.store.open_read_only()?.stats()?, None)
    };
    let mut out = std::io::stdout().lock();
    if json {
        let report = Report {
            path: place.clone(),
            stats,
            index,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    let text = paperscout_proto::tables::stats_text(&place, &stats, index.as_ref());
    out.write_all(text.as_bytes())?;
    Ok(())
}
