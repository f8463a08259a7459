//! `paperscout index check|rebuild`: the HNSW index of the store's embeddings
//! ([`paperscout_app::index_check`]).

use std::io::Write;

use anyhow::Result;
use paperscout_app::Settings;
use paperscout_store::SqliteStore;

use crate::cli::IndexCommand;

/// Runs the command.
pub fn run(command: &IndexCommand, settings: &Settings, quiet: bool) -> Result<()> {
    let store = SqliteStore::open(&paperscout_store::file_in(&settings.data_dir))?;
    match command {
        IndexCommand::Rebuild => {
            let rebuilt = paperscout_app::index_check::rebuild(settings, &store)?;
            if !quiet {
                eprintln!(
                    "indexed {} papers in {:.1} s into {}",
                    rebuilt.papers,
                    rebuilt.seconds,
                    rebuilt.dir.display()
                );
            }
        }
        IndexCommand::Check {
            queries,
            k,
            ef,
            json,
        } => {
            let check = paperscout_app::index_check::check(settings, &store, *queries, *k, *ef)?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &check)?;
                writeln!(out)?;
                return Ok(());
            }
            writeln!(
                out,
                "index of {} papers (opened in {:.1} s)",
                check.papers, check.open_seconds
            )?;
            writeln!(
                out,
                "recall@{} over {} stored papers as queries, ef {}: {:.4}",
                check.k, check.queries, check.ef_search, check.recall
            )?;
            if let Some(c) = &check.calibration {
                writeln!(
                    out,
                    "calibrated ef {} (recall@{} {:.4} on {} papers, aiming at {}, when it held {} papers)",
                    c.ef, c.k, c.recall, c.queries, c.target, c.papers
                )?;
            }
            writeln!(
                out,
                "queries/s: hnsw {:.0}, exact {:.0}",
                check.hnsw_queries_per_second, check.exact_queries_per_second
            )?;
        }
    }
    Ok(())
}
