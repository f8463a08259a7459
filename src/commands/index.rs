//! `paperscout index check|rebuild`: the HNSW index of the store's embeddings
//! ([`paperscout_app::index_check`]).

use anyhow::Result;
use paperscout_app::Settings;

use crate::cli::IndexCommand;

/// Runs the command.
pub fn run(command: &IndexCommand, settings: &Settings, quiet: bool) -> Result<()> {
    let store = settings.store.open()?;
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
            super::print(*json, &check, |check| check.text())?;
        }
    }
    Ok(())
}
