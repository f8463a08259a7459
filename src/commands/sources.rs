//! `paperscout sources [add|remove]`: the sources fetched by name, with what their fetches
//! did (as the daemon last saved it), and changes to their lists in the config file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;
use paperscout_app::Settings;
use paperscout_app::sources::{self, Source, SourceRow};

use crate::cli::{SourceEntry, SourcesCommand};

/// Runs the command; `config` is `--config`.
pub fn run(
    command: Option<&SourcesCommand>,
    json: bool,
    settings: &Settings,
    config: Option<&Path>,
    quiet: bool,
) -> Result<()> {
    let (entry, add) = match command {
        None => {
            let states = sources::saved_states(&settings.data_dir);
            let rows = sources::rows(&settings.schedule.sources, &states, Utc::now());
            return super::print(json, &rows, |rows| lines(rows));
        }
        Some(SourcesCommand::Add(entry)) => (entry, true),
        Some(SourcesCommand::Remove(entry)) => (entry, false),
    };
    let source = source_of(entry);
    let path = paperscout_app::settings::config_path(config)
        .context("no config file: give --config FILE (or set HOME)")?;
    let changed = sources::edit_config(&path, source, &entry.entry, add)?;
    if !quiet {
        let done = match (changed, add) {
            (false, _) => "was already there: nothing changed",
            (true, true) => "added",
            (true, false) => "removed",
        };
        eprintln!(
            "{} [sources] {}: {done} ({})",
            entry.entry.trim(),
            source.name(),
            path.display()
        );
    }
    if changed && paperscout_daemon::running(settings) {
        let pid = paperscout_daemon::detach::reload(settings)?;
        if !quiet {
            eprintln!("the daemon (pid {pid}) reads it again now");
        }
    }
    Ok(())
}

fn source_of(entry: &SourceEntry) -> Source {
    if entry.biorxiv {
        Source::Biorxiv
    } else if entry.medrxiv {
        Source::Medrxiv
    } else {
        Source::Arxiv
    }
}

/// A time as `paperscout sources` shows it.
fn when(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

fn lines(rows: &[SourceRow]) -> String {
    if rows.is_empty() {
        return "no sources: add one with `paperscout sources add cs.CL` (or set [sources] in the config file)\n"
            .to_owned();
    }
    let mut out = String::new();
    for row in rows {
        let state = &row.state;
        let _ = writeln!(
            out,
            "{:<8} {}\n         last fetch {} ({} papers) · {} papers in all · next {}",
            row.source,
            row.what.join(", "),
            when(state.last_success),
            state.last_count,
            state.fetched,
            when(row.next_fetch)
        );
        if let Some(error) = &state.last_error {
            let _ = writeln!(
                out,
                "         failing ({} in a row, last at {}): {error}",
                state.failures,
                when(state.last_attempt)
            );
        }
    }
    out
}
