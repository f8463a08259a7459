//! arXiv API responses (Atom 1.0 with arXiv's extensions): one `entry` per paper.

use paperscout_types::{ArxivId, Paper, PaperLinks, normalise_doi};

use crate::text::{day_of_rfc3339, normalise_space};
use crate::xml::Element;

/// Reads an `entry`. The date is the day of `published` (when version 1 appeared).
pub fn paper(entry: &Element) -> Result<Paper, String> {
    let id_text = entry.text_of("id").ok_or("has no <id>")?;
    let title = entry.text_of("title").ok_or("has no <title>")?;
    let summary = entry.text_of("summary");
    // The API reports a bad query as an entry titled "Error" with an errors# id.
    if id_text.contains("/api/errors") {
        return Err(format!(
            "the arXiv API reported an error: {}",
            summary.unwrap_or(title)
        ));
    }
    let arxiv = ArxivId::parse(&id_text).ok_or("<id> is not an arXiv id")?;
    let abstract_text = summary.ok_or("has no <summary> (the abstract)")?;
    let date = entry
        .text_of("published")
        .map(|published| day_of_rfc3339(&published))
        .transpose()?;

    let mut categories: Vec<String> = Vec::new();
    let terms = entry
        .children_named("primary_category")
        .chain(entry.children_named("category"))
        .filter_map(|category| category.attribute("term"));
    for term in terms {
        if !categories.iter().any(|known| known == term) {
            categories.push(term.to_owned());
        }
    }
    let mut links = PaperLinks::default();
    for link in entry.children_named("link") {
        let href = link.attribute("href").map(str::to_owned);
        match (link.attribute("title"), link.attribute("rel")) {
            (Some("pdf"), _) => links.pdf = href,
            (_, Some("alternate")) => links.abs = href,
            _ => {}
        }
    }
    Ok(Paper {
        id: arxiv.paper_id(),
        arxiv_id: Some(arxiv.base.clone()),
        version: arxiv.version,
        doi: entry.text_of("doi").and_then(|doi| normalise_doi(&doi)),
        title,
        abstract_text,
        authors: entry
            .children_named("author")
            .filter_map(|author| author.text_of("name"))
            .collect(),
        date,
        categories,
        comment: entry
            .text_of("comment")
            .map(|comment| normalise_space(&comment)),
        links: Some(links),
    })
}
