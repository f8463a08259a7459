//! OAI-PMH `ListRecords` responses in arXiv's `arXiv` metadata format
//! (`export.arxiv.org/oai2?verb=ListRecords&metadataPrefix=arXiv`).

use paperscout_types::{ArxivId, Paper, PaperLinks, normalise_doi};

use crate::text::{iso_day, normalise_space};
use crate::xml::Element;

/// Reads a `record`: `None` when its header says `status="deleted"`. The date is `created`
/// (when version 1 appeared).
pub fn record(record: &Element) -> Result<Option<Paper>, String> {
    let header = record.child("header").ok_or("has no <header>")?;
    if header.attribute("status") == Some("deleted") {
        return Ok(None);
    }
    let metadata = record
        .child("metadata")
        .and_then(|metadata| metadata.child("arXiv"))
        .ok_or("has no <metadata><arXiv> (ask the server for metadataPrefix=arXiv)")?;
    let id_text = metadata
        .text_of("id")
        .or_else(|| header.text_of("identifier"))
        .ok_or("has no <id>")?;
    let arxiv = ArxivId::parse(&id_text).ok_or("<id> is not an arXiv id")?;
    let title = metadata.text_of("title").ok_or("has no <title>")?;
    let abstract_text = metadata.text_of("abstract").ok_or("has no <abstract>")?;
    let date = metadata
        .text_of("created")
        .map(|day| iso_day(&day))
        .transpose()?;
    let authors = metadata
        .child("authors")
        .map(|authors| {
            authors
                .children_named("author")
                .map(|author| {
                    [
                        author.text_of("forenames"),
                        author.text_of("keyname"),
                        author.text_of("suffix"),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
                })
                .filter(|name| !name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let categories = metadata
        .text_of("categories")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let base = arxiv.base.clone();
    Ok(Some(Paper {
        id: arxiv.paper_id(),
        arxiv_id: Some(base.clone()),
        version: arxiv.version,
        doi: metadata
            .text_of("doi")
            .and_then(|doi| doi.split_whitespace().find_map(normalise_doi)),
        title,
        abstract_text,
        authors,
        date,
        categories,
        comment: metadata
            .text_of("comments")
            .map(|comment| normalise_space(&comment)),
        links: Some(PaperLinks {
            abs: Some(format!("https://arxiv.org/abs/{base}")),
            pdf: Some(format!("https://arxiv.org/pdf/{base}")),
        }),
    }))
}
