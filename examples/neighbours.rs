//! Prints the nearest neighbours of a few stored papers, through the HNSW index built from the
//! store's embeddings.
//!
//! Part of `make run`'s demo until the daemon's `similar` takes over:
//!
//! ```text
//! cargo run --example neighbours -- DATA_DIR [QUERIES] [K]
//! ```

#![allow(clippy::print_stdout)]

use std::collections::HashSet;

use anyhow::{Context, Result, bail};
use paperscout_index::{Filter, IndexParams, PaperIndex};
use paperscout_store::{ModelKey, SqliteStore, Store};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data_dir, rest @ ..] = args.as_slice() else {
        bail!("usage: neighbours DATA_DIR [QUERIES] [K]");
    };
    let queries: usize = rest.first().map_or(Ok(3), |q| q.parse())?;
    let k: usize = rest.get(1).map_or(Ok(5), |k| k.parse())?;

    let store = SqliteStore::open_read_only(&paperscout_store::file_in(data_dir.as_ref()))?;
    let stats = store.stats()?;
    let stored = stats
        .models
        .first()
        .context("the store holds no embeddings: run `paperscout ingest` without --no-embed")?;
    let model = ModelKey {
        name: stored.name.clone(),
        sha256: stored.sha256.clone(),
        dim: stored.dim,
    };

    let mut index = PaperIndex::new(model.dim, IndexParams::default(), stored.count as usize);
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    store.for_each_embedding(&model, &mut |id, vector| {
        rows.push((id.to_owned(), vector.to_vec()));
    })?;
    let batch: Vec<(&str, &[f32])> = rows
        .iter()
        .map(|(id, v)| (id.as_str(), v.as_slice()))
        .collect();
    index.upsert_batch(&batch)?;

    // Spread the queries over the collection rather than taking the first few.
    let step = (rows.len() / queries.max(1)).max(1);
    for (id, vector) in rows.iter().step_by(step).take(queries) {
        let filter = Filter {
            exclude: HashSet::from([id.as_str()]),
            allow: None,
        };
        println!("\n{id}  {}", title(&store, id)?);
        for hit in index.search(vector, k, &filter)? {
            println!(
                "  {:.3}  {}  {}",
                hit.score,
                hit.id,
                title(&store, &hit.id)?
            );
        }
    }
    Ok(())
}

fn title(store: &SqliteStore, id: &str) -> Result<String> {
    Ok(store
        .paper(id)?
        .map_or_else(|| "(no title)".to_owned(), |stored| stored.paper.title))
}
