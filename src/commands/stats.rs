//! `paperscout stats`: what the store holds.

use std::io::Write;

use anyhow::Result;
use paperscout_store::{SqliteStore, Store};
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
    let path = paperscout_store::file_in(&settings.data_dir);
    let (stats, index) = if paperscout_daemon::running(settings) {
        let answer = paperscout_proto::Client::new(&settings.socket)
            .call(paperscout_proto::StatsRequest {})?;
        (answer.store, Some(answer.index))
    } else {
        (SqliteStore::open_read_only(&path)?.stats()?, None)
    };
    let mut out = std::io::stdout().lock();
    if json {
        let report = Report {
            path: path.display().to_string(),
            stats,
            index,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    let dates = match (&stats.first_date, &stats.last_date) {
        (Some(first), Some(last)) => format!("{first} … {last}"),
        _ => "none".to_owned(),
    };
    writeln!(out, "{:<12} {}", "store", path.display())?;
    if let Some(bytes) = stats.file_bytes {
        writeln!(
            out,
            "{:<12} {:.1} MiB",
            "size",
            bytes as f64 / (1024.0 * 1024.0)
        )?;
    }
    writeln!(out, "{:<12} {}", "papers", stats.papers)?;
    writeln!(out, "{:<12} {dates}", "announced")?;
    writeln!(out, "{:<12} {}", "users", stats.users)?;
    writeln!(out, "{:<12} {}", "embeddings", stats.embeddings)?;
    if let Some(index) = &index {
        writeln!(
            out,
            "{:<12} {} papers in the running daemon's index ({} points)",
            "index", index.papers, index.points
        )?;
    }
    for model in &stats.models {
        let share = 100.0 * model.count as f64 / (stats.papers.max(1)) as f64;
        writeln!(
            out,
            "  {} ({}-d, sha256 {}…): {} ({share:.1}% of papers)",
            model.name,
            model.dim,
            model.sha256.get(..12).unwrap_or(&model.sha256),
            model.count
        )?;
    }
    Ok(())
}
