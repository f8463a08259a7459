//! `paperscout store copy --to URL`: the data dir's SQLite store into an empty PostgreSQL
//! database ([`paperscout_store::copy_sqlite_to_postgres`]).

use std::time::Instant;

use anyhow::{Result, bail};
use paperscout_app::Settings;
use paperscout_app::stores::StoreLocation;
use paperscout_store::{PostgresStore, SqliteStore};
use serde::Serialize;

use crate::cli::StoreCommand;

#[derive(Serialize)]
struct Copied {
    from: String,
    to: String,
    tables: Vec<paperscout_store::CopiedTable>,
    seconds: f64,
}

/// Runs the command.
pub fn run(command: &StoreCommand, settings: &Settings, quiet: bool) -> Result<()> {
    match command {
        StoreCommand::Copy { to, json } => copy(to, settings, *json, quiet),
    }
}

fn copy(to: &str, settings: &Settings, json: bool, quiet: bool) -> Result<()> {
    let from = paperscout_store::file_in(&settings.data_dir);
    if !from.is_file() {
        bail!(
            "there is no SQLite store at {} to copy: point --data-dir at the folder that holds \
             paperscout.sqlite3",
            from.display()
        );
    }
    let StoreLocation::Postgres(url) = StoreLocation::from_url(to)? else {
        bail!("--to must be a PostgreSQL URL (postgres://USER@HOST/DATABASE)");
    };
    // The writer lock: nothing writes to the file while it is read.
    let source = SqliteStore::open(&from)?;
    let target = PostgresStore::open(&url)?;
    let started = Instant::now();
    let bar = crate::progress::items(0, "rows", quiet);
    let mut current = String::new();
    let tables =
        paperscout_store::copy_sqlite_to_postgres(&source, &target, &mut |table, rows| {
            if current != table {
                current = table.to_owned();
                bar.set_message(table.to_owned());
            }
            bar.set_position(rows);
        })?;
    bar.finish_and_clear();
    let report = Copied {
        from: from.display().to_string(),
        to: target.place().to_owned(),
        tables,
        seconds: started.elapsed().as_secs_f64(),
    };
    super::print(json, &report, |report| {
        let mut text = format!(
            "copied {} into {} in {:.1} s; each table's rows counted on both sides:\n",
            report.from, report.to, report.seconds
        );
        for table in &report.tables {
            text.push_str(&format!("  {:<16} {:>10}\n", table.table, table.rows));
        }
        text.push_str(
            "Give every paperscout this database: [store] url in the config file, --store-url \
             or PAPERSCOUT_STORE_URL.\n",
        );
        text
    })?;
    Ok(())
}
