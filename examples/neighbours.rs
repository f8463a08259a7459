//! Prints the nearest neighbours of a few papers, by exact cosine over `paperscout embed` output.
//!
//! Part of `make run`'s demo until the HNSW index and the daemon's `similar` take over:
//!
//! ```text
//! cargo run --example neighbours -- PAPERS.jsonl EMBEDDINGS.jsonl [QUERIES] [K]
//! ```

#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use paperscout_types::Paper;
use serde::Deserialize;

#[derive(Deserialize)]
struct Row {
    id: String,
    embedding: Vec<f32>,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [papers_path, vectors_path, rest @ ..] = args.as_slice() else {
        bail!("usage: neighbours PAPERS.jsonl EMBEDDINGS.jsonl [QUERIES] [K]");
    };
    let queries: usize = rest.first().map_or(Ok(3), |q| q.parse())?;
    let k: usize = rest.get(1).map_or(Ok(5), |k| k.parse())?;

    let titles: HashMap<String, String> = fs_err::read_to_string(papers_path)?
        .lines()
        .filter_map(|line| serde_json::from_str::<Paper>(line).ok())
        .map(|paper| {
            (
                paper.id,
                paper.title.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    let rows: Vec<Row> = fs_err::read_to_string(vectors_path)?
        .lines()
        .enumerate()
        .map(|(n, line)| serde_json::from_str(line).with_context(|| format!("line {}", n + 1)))
        .collect::<Result<_>>()?;

    // Spread the queries over the collection rather than taking the first few.
    let step = (rows.len() / queries.max(1)).max(1);
    for query in rows.iter().step_by(step).take(queries) {
        let mut scored: Vec<(f32, &Row)> = rows
            .iter()
            .filter(|row| row.id != query.id)
            .map(|row| (dot(&query.embedding, &row.embedding), row))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        println!("\n{}  {}", query.id, title(&titles, &query.id));
        for (score, row) in scored.into_iter().take(k) {
            println!("  {score:.3}  {}  {}", row.id, title(&titles, &row.id));
        }
    }
    Ok(())
}

/// The vectors are unit length, so the dot product is the cosine.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn title<'a>(titles: &'a HashMap<String, String>, id: &str) -> &'a str {
    titles.get(id).map_or("(no title)", String::as_str)
}
