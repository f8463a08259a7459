//! `paperscout model info`: what model paperscout runs, and where.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use paperscout_app::Settings;

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    info: &'a paperscout_embed::ModelInfo,
    /// sha256 of model.safetensors: identifies the weights exactly.
    sha256: String,
    /// Whether the files were checked against the committed manifest.
    verified: bool,
}

/// Runs the command.
pub fn info(settings: &Settings, json: bool) -> Result<()> {
    let (embedder, located) = paperscout_app::model::load(settings)?;
    let report = Report {
        info: embedder.info(),
        sha256: embedder.weights_sha256()?,
        verified: located.is_default,
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    let info = report.info;
    let rows = [
        ("model", info.name.clone()),
        ("path", info.path.display().to_string()),
        ("dimension", info.dim.to_string()),
        ("pooling", format!("{:?}", info.pooling).to_lowercase()),
        ("max length", format!("{} tokens", info.max_seq_length)),
        ("layers", info.layers.to_string()),
        ("device", info.device.clone()),
        ("engine", format!("{:?}", info.engine).to_lowercase()),
        ("threads", info.threads.to_string()),
        ("batch size", info.batch_size.to_string()),
        ("sha256", report.sha256.clone()),
        (
            "verified",
            if report.verified {
                "yes, against models/all-MiniLM-L6-v2.sha256"
            } else {
                "no (not the default model)"
            }
            .to_owned(),
        ),
    ];
    for (key, value) in rows {
        writeln!(out, "{key:<11} {value}")?;
    }
    Ok(())
}
