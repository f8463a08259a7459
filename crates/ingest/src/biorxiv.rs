//! bioRxiv and medRxiv through their public JSON API: `details/{server}/{from}/{to}/{cursor}`
//! (with `?category=` for one subject collection), a page of up to 100 preprints at a time,
//! followed by its cursor to the end of the interval.
//!
//! A preprint is keyed by its DOI (`doi:10.1101/…`), with its version as on arXiv: a newer
//! version replaces the text, an older one is ignored. Its category is the server and the
//! subject collection (`biorxiv.neuroscience`), so a user's rule `biorxiv` takes a whole server
//! and `biorxiv.neuroscience` one collection, as `cs` and `cs.LG` do on arXiv.

use paperscout_types::{Paper, PaperLinks, doi_paper_id, normalise_doi};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{IngestError, Result};
use crate::text::normalise_space;

/// The servers the API serves.
pub const SERVERS: [&str; 2] = ["biorxiv", "medrxiv"];

/// Pages one fetch follows at most (10,000 preprints: more than a month of bioRxiv).
const MAX_PAGES: usize = 100;

/// The longest page accepted.
const MAX_PAGE_BYTES: u64 = 16 << 20;

/// One page of the API's answer.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    collection: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    cursor: Option<Value>,
    #[serde(default)]
    count: Option<Value>,
    #[serde(default)]
    total: Option<Value>,
}

/// A number the API writes as a number or as a string.
fn number(value: Option<&Value>) -> Option<usize> {
    match value? {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// What one page held: its papers, the records that could not be read (with why), and where
/// the next page starts, if there is one.
#[derive(Debug, Default)]
pub struct PageRead {
    /// The preprints read.
    pub papers: Vec<Paper>,
    /// Records skipped, each with its place on the page and the reason.
    pub bad: Vec<String>,
    /// The cursor of the next page.
    pub next: Option<usize>,
}

/// Reads one page of the API's answer.
pub fn parse_page(text: &str) -> std::result::Result<PageRead, String> {
    let page: Page = serde_json::from_str(text)
        .map_err(|err| format!("the answer is not the API's JSON ({err})"))?;
    let mut read = PageRead::default();
    for (n, record) in page.collection.iter().enumerate() {
        match preprint(record) {
            Ok(paper) => read.papers.push(paper),
            Err(why) => read
                .bad
                .push(format!("record {} of the page: {why}", n + 1)),
        }
    }
    if let Some(message) = page.messages.first() {
        let status = message.status.as_deref().unwrap_or("ok");
        if status != "ok" && !page.collection.is_empty() {
            return Err(format!("the API says {status:?}"));
        }
        let cursor = number(message.cursor.as_ref()).unwrap_or(0);
        let count = number(message.count.as_ref()).unwrap_or(page.collection.len());
        let total = number(message.total.as_ref()).unwrap_or(0);
        read.next = (count > 0 && cursor + count < total).then_some(cursor + count);
    }
    Ok(read)
}

/// One preprint of a page.
fn preprint(record: &Value) -> std::result::Result<Paper, String> {
    let text = |field: &str| record.get(field).and_then(Value::as_str).map(str::trim);
    let doi = text("doi")
        .and_then(normalise_doi)
        .ok_or("has no DOI such as 10.1101/2025.03.14.643210")?;
    let title = normalise_space(text("title").unwrap_or_default());
    if title.is_empty() {
        return Err("has no title".into());
    }
    let version = match record.get("version") {
        Some(value) => number(Some(value)).and_then(|v| u32::try_from(v).ok()),
        None => None,
    };
    let server = text("server")
        .unwrap_or("biorxiv")
        .to_ascii_lowercase()
        .replace(' ', "");
    let categories = text("category")
        .filter(|c| !c.is_empty())
        .map(|c| vec![format!("{server}.{}", subject(c))])
        .unwrap_or_default();
    let site = if server == "medrxiv" {
        "https://www.medrxiv.org"
    } else {
        "https://www.biorxiv.org"
    };
    let version_suffix = version.map(|v| format!("v{v}")).unwrap_or_default();
    Ok(Paper {
        id: doi_paper_id(&doi),
        arxiv_id: None,
        version,
        doi: Some(doi.clone()),
        title,
        abstract_text: normalise_space(text("abstract").unwrap_or_default()),
        authors: text("authors").map(authors).unwrap_or_default(),
        date: text("date").filter(|d| d.len() == 10).map(str::to_owned),
        categories,
        comment: None,
        links: Some(PaperLinks {
            abs: Some(format!("{site}/content/{doi}{version_suffix}")),
            pdf: Some(format!("{site}/content/{doi}{version_suffix}.full.pdf")),
        }),
    })
}

/// A subject collection as a category: lower case, words joined by `_` (`cell_biology`), as
/// the API's `category` parameter spells it.
pub fn subject(name: &str) -> String {
    name.trim()
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
}

/// The API's authors (`Smith, J.; Doe, A. B.`) as names (`J. Smith`).
fn authors(text: &str) -> Vec<String> {
    text.split(';')
        .map(normalise_space)
        .filter(|name| !name.is_empty())
        .map(|name| match name.split_once(", ") {
            Some((surname, given)) if !given.is_empty() => format!("{given} {surname}"),
            _ => name,
        })
        .collect()
}

/// What a fetch of an interval brought.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Every preprint of the interval (and collection).
    pub papers: Vec<Paper>,
    /// Records skipped, with why.
    pub bad: Vec<String>,
    /// Pages read.
    pub pages: usize,
}

/// Fetches every preprint `server` posted from `from` to `to` (`YYYY-MM-DD`, both included),
/// of one subject collection or all, page after page, politely (see [`crate::polite`]).
pub fn fetch(
    api: &str,
    server: &str,
    from: &str,
    to: &str,
    collection: Option<&str>,
) -> Result<Fetched> {
    let base = api.trim_end_matches('/');
    let query = collection
        .map(|c| format!("?category={}", subject(c)))
        .unwrap_or_default();
    let mut fetched = Fetched::default();
    let mut cursor = 0;
    loop {
        let url = format!("{base}/details/{server}/{from}/{to}/{cursor}{query}");
        let text = crate::input::fetch_text(&url, MAX_PAGE_BYTES)?;
        let page = parse_page(&text).map_err(|message| IngestError::Fetch {
            url: url.clone(),
            message,
        })?;
        fetched.pages += 1;
        fetched.papers.extend(page.papers);
        fetched.bad.extend(page.bad);
        match page.next {
            Some(next) if next > cursor && fetched.pages < MAX_PAGES => cursor = next,
            _ => return Ok(fetched),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"messages": [{"status": "ok", "interval": "2026-03-02:2026-03-03",
        "cursor": "0", "count": 2, "count_new_papers": "1", "total": "3"}],
      "collection": [
        {"doi": "10.1101/2026.03.01.000001", "title": "Place  cells\n remap", "authors":
         "Okeefe, J.; Moser, M.-B.", "author_corresponding": "J. Okeefe", "date": "2026-03-02",
         "version": "2", "type": "new results", "license": "cc_by", "category": "Cell Biology",
         "abstract": "We record place cells.", "published": "NA", "server": "bioRxiv"},
        {"doi": "", "title": "No DOI", "server": "bioRxiv"}
      ]}"#;

    #[test]
    fn a_page_reads_into_papers_keyed_by_doi_with_versions_and_collections() {
        let page = parse_page(PAGE).expect("a page");
        assert_eq!(page.papers.len(), 1);
        assert_eq!(page.bad.len(), 1, "{:?}", page.bad);
        assert!(page.bad[0].contains("record 2") && page.bad[0].contains("DOI"));
        assert_eq!(page.next, Some(2));
        let paper = &page.papers[0];
        assert_eq!(paper.id, "doi:10.1101/2026.03.01.000001");
        assert_eq!(paper.version, Some(2));
        assert_eq!(paper.title, "Place cells remap");
        assert_eq!(paper.authors, ["J. Okeefe", "M.-B. Moser"]);
        assert_eq!(paper.categories, ["biorxiv.cell_biology"]);
        assert_eq!(paper.date.as_deref(), Some("2026-03-02"));
        assert_eq!(
            paper.links.as_ref().and_then(|l| l.abs.as_deref()),
            Some("https://www.biorxiv.org/content/10.1101/2026.03.01.000001v2")
        );
    }

    #[test]
    fn the_last_page_and_an_empty_interval_end_the_fetch() {
        let last = r#"{"messages": [{"status": "ok", "cursor": 100, "count": 5, "total": 105}],
            "collection": []}"#;
        assert_eq!(parse_page(last).expect("a page").next, None);
        let none = r#"{"messages": [{"status": "no posts found"}], "collection": []}"#;
        let page = parse_page(none).expect("a page");
        assert!(page.papers.is_empty() && page.next.is_none());
        assert!(parse_page("<html>busy</html>").is_err());
    }
}
