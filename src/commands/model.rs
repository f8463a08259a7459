//! `paperscout model info`: what model paperscout runs, and where
//! ([`paperscout_app::model::ModelReport`]).

use std::io::Write;

use anyhow::Result;
use paperscout_app::Settings;
use paperscout_app::model::ModelReport;

/// Runs the command.
pub fn info(settings: &Settings, json: bool) -> Result<()> {
    let report = ModelReport::of(settings)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(report.text().as_bytes())?;
    }
    Ok(())
}
