//! What the store's test files share: papers, a model key and a write of a few papers.

use paperscout_store::{ModelKey, PaperWrite, Store, StoreError, WriteSummary};
use paperscout_types::{Paper, PaperLinks};

/// Paper `number` of March 2025 (the second with a DOI), with this version, abstract and day.
pub fn paper(number: u32, version: Option<u32>, abstract_text: &str, date: &str) -> Paper {
    Paper {
        id: format!("arXiv:2503.{number:05}"),
        arxiv_id: Some(format!("2503.{number:05}")),
        version,
        doi: (number == 2).then(|| "10.1000/two".to_owned()),
        title: format!("Paper {number}"),
        abstract_text: abstract_text.to_owned(),
        authors: vec!["Ada Lovelace".to_owned()],
        date: Some(date.to_owned()),
        categories: vec!["cs.CL".to_owned()],
        comment: None,
        links: Some(PaperLinks {
            abs: Some(format!("https://arxiv.org/abs/2503.{number:05}")),
            pdf: None,
        }),
    }
}

/// A two-dimensional model of this name.
pub fn model(name: &str) -> ModelKey {
    ModelKey {
        name: name.to_owned(),
        sha256: format!("{name}-sha"),
        dim: 2,
    }
}

/// Writes papers with their vectors under the model `m`, at `now`.
pub fn write(
    store: &mut dyn Store,
    papers: &[(&Paper, Option<&[f32]>)],
    now: i64,
) -> Result<WriteSummary, StoreError> {
    let writes: Vec<PaperWrite<'_>> = papers
        .iter()
        .map(|(paper, embedding)| PaperWrite {
            paper,
            source: "test",
            embedding: *embedding,
        })
        .collect();
    store.write_papers(&writes, Some(&model("m")), now)
}
