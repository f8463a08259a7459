//! arXiv's RSS listings: RSS 2.0 (`rss.arxiv.org/rss/cs.CL` since 2024) and the older RSS 1.0
//! (RDF) listings, one `item` per announced paper.

use paperscout_types::{ArxivId, Paper, PaperLinks};

use crate::text::{day_of_rfc2822, normalise_space, split_authors};
use crate::xml::Element;

/// Reads an `item`.
///
/// RSS 2.0 items carry the id and version at the head of the description
/// (`arXiv:2503.11677v1 Announce Type: new Abstract: ...`), the announcement day in `pubDate`
/// and the authors in `dc:creator`. RSS 1.0 items carry them in the title
/// (`Title. (arXiv:2503.11677v1 [cs.CL])`) and the abstract as HTML.
pub fn paper(item: &Element) -> Result<Paper, String> {
    let raw_title = item.text_of("title").ok_or("has no <title>")?;
    let link = item.text_of("link");
    let description = item
        .text_of("description")
        .ok_or("has no <description> (the abstract)")?;

    // Every place an item may name its arXiv id, most specific first.
    let versioned = description
        .split_whitespace()
        .next()
        .and_then(ArxivId::parse)
        .filter(|id| id.version.is_some())
        .or_else(|| item.text_of("guid").and_then(|guid| ArxivId::parse(&guid)))
        .or_else(|| title_suffix_id(&raw_title));
    let arxiv = versioned
        .or_else(|| link.as_deref().and_then(ArxivId::parse))
        .or_else(|| item.attribute("about").and_then(ArxivId::parse))
        .ok_or("names no arXiv id in <link>, <guid>, <title> or <description>")?;

    let abstract_text = match description.split_once("Abstract:") {
        Some((_, rest)) => normalise_space(rest),
        None => normalise_space(&strip_tags(&description)),
    };
    if abstract_text.is_empty() {
        return Err("has an empty abstract".to_owned());
    }
    let title = match raw_title.rfind(" (arXiv:") {
        Some(at) => raw_title[..at].trim_end_matches('.').trim().to_owned(),
        None => raw_title,
    };
    let date = item
        .text_of("pubDate")
        .map(|day| day_of_rfc2822(&day))
        .transpose()?;
    let authors = item
        .text_of("creator")
        .map(|names| split_authors(&strip_tags(&names)))
        .unwrap_or_default();
    let categories = item
        .children_named("category")
        .map(|category| normalise_space(&category.text))
        .filter(|category| !category.is_empty())
        .collect();
    let base = arxiv.base.clone();
    Ok(Paper {
        id: arxiv.paper_id(),
        arxiv_id: Some(base.clone()),
        version: arxiv.version,
        doi: None,
        title,
        abstract_text,
        authors,
        date,
        categories,
        comment: None,
        links: Some(PaperLinks {
            abs: link.or_else(|| Some(format!("https://arxiv.org/abs/{base}"))),
            pdf: Some(format!("https://arxiv.org/pdf/{base}")),
        }),
    })
}

/// `Title. (arXiv:2503.11677v1 [cs.CL])` → the id.
fn title_suffix_id(title: &str) -> Option<ArxivId> {
    let start = title.rfind("(arXiv:")? + 1;
    let rest = &title[start..];
    let end = rest.find([' ', ')'])?;
    ArxivId::parse(&rest[..end])
}

/// Drops HTML tags (`<p>`, `<a href=...>`) from RSS 1.0 descriptions and creator lists.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for character in html.chars() {
        match character {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(character),
            _ => {}
        }
    }
    out
}
