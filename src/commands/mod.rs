//! One module per command.

pub mod digest;
pub mod embed;
pub mod eval;
pub mod index;
pub mod ingest;
pub mod mail;
pub mod model;
pub mod query;
pub mod remote;
pub mod rerank;
pub mod serve;
pub mod stats;
pub mod user;

/// The paper keys of a `--papers` file: one a line, blank lines and `#` comments skipped.
pub fn read_keys(file: Option<&std::path::Path>) -> anyhow::Result<Vec<String>> {
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    Ok(fs_err::read_to_string(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}
