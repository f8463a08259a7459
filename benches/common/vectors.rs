//! What the benches that serve the shared corpus from a store share: where the corpus and the
//! peer's vectors are, and those vectors put in the store under paperscout's model key.

/// `../shared/data/arxiv-cs/papers.jsonl.gz` and the peer's vectors of it, or `None` after a
/// loud message where either is missing.
pub fn corpus_files() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/arxiv-cs");
    let papers = shared.join("papers.jsonl.gz");
    let vectors = shared.join("embeddings/all-MiniLM-L6-v2.f16");
    if !papers.is_file() || !vectors.is_file() {
        eprintln!("!!!!! the shared corpus is missing beside the repository: no benchmark !!!!!");
        return None;
    }
    Some((papers, vectors))
}

/// Stores the peer's vectors (`rows[i]` of `ids[i]`) under `key`, 2,000 papers a transaction,
/// so that no benchmark spends an hour embedding.
pub fn store_peer_vectors(
    store: &mut dyn paperscout_store::Store,
    key: &paperscout_store::ModelKey,
    ids: &[String],
    rows: &[Vec<f32>],
) {
    for (chunk_ids, chunk_rows) in ids.chunks(2000).zip(rows.chunks(2000)) {
        let papers: Vec<_> = chunk_ids
            .iter()
            .map(|id| store.paper(id).unwrap().unwrap().paper)
            .collect();
        let batch: Vec<(&paperscout_types::Paper, &[f32])> = papers
            .iter()
            .zip(chunk_rows)
            .map(|(paper, row)| (paper, row.as_slice()))
            .collect();
        store.put_embeddings(key, &batch).unwrap();
    }
}
