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
pub mod sources;
pub mod stats;
pub mod store;
pub mod user;

/// Prints an answer on standard output: as JSON with `json`, else as `text` makes it.
pub fn print<T: serde::Serialize>(
    json: bool,
    answer: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    let out = if json {
        serde_json::to_string_pretty(answer)? + "\n"
    } else {
        text(answer)
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}
