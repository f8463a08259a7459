//! How a record of a paper merges with what the store already holds.
//!
//! Both store implementations call [`merge`], so they agree on every rule:
//! - an older arXiv version than the stored one is ignored;
//! - the announcement date is the earliest any source gave (a paper listed again on a later
//!   day, or cross-listed, is still the paper of its first day);
//! - categories are the union, the stored order first;
//! - any other field the record has replaces the stored one; a field it lacks keeps its value.

use paperscout_types::Paper;

use crate::records::Change;

/// Merges `incoming` over `stored`: the change, and the paper to write (`None` when nothing
/// is to be written).
pub fn merge(stored: Option<&Paper>, incoming: &Paper) -> (Change, Option<Paper>) {
    let Some(stored) = stored else {
        let mut new = incoming.clone();
        new.links = new
            .links
            .filter(|links| links.abs.is_some() || links.pdf.is_some());
        return (Change::New, Some(new));
    };
    if let (Some(old), Some(new)) = (stored.version, incoming.version)
        && new < old
    {
        return (Change::Older, None);
    }
    let mut categories = stored.categories.clone();
    for category in &incoming.categories {
        if !categories.contains(category) {
            categories.push(category.clone());
        }
    }
    let merged = Paper {
        id: stored.id.clone(),
        arxiv_id: incoming
            .arxiv_id
            .clone()
            .or_else(|| stored.arxiv_id.clone()),
        version: incoming.version.max(stored.version),
        doi: incoming.doi.clone().or_else(|| stored.doi.clone()),
        title: incoming.title.clone(),
        abstract_text: incoming.abstract_text.clone(),
        authors: if incoming.authors.is_empty() {
            stored.authors.clone()
        } else {
            incoming.authors.clone()
        },
        date: earliest(stored.date.as_deref(), incoming.date.as_deref()),
        categories,
        comment: incoming.comment.clone().or_else(|| stored.comment.clone()),
        links: incoming
            .links
            .clone()
            .filter(|links| links.abs.is_some() || links.pdf.is_some())
            .or_else(|| stored.links.clone()),
    };
    if merged == *stored {
        (Change::Unchanged, None)
    } else {
        let text_changed =
            merged.title != stored.title || merged.abstract_text != stored.abstract_text;
        (Change::Updated { text_changed }, Some(merged))
    }
}

/// The paper as it stands after a write, whose embedding must then be current: the merged
/// paper, or the stored one when nothing changed; none for a record older than the store's.
pub fn after_write<'a>(
    change: Change,
    merged: Option<&'a Paper>,
    stored: Option<&'a Paper>,
) -> Option<&'a Paper> {
    if change == Change::Older {
        None
    } else {
        merged.or(stored)
    }
}

fn earliest(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b).to_owned()),
        (a, b) => a.or(b).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(version: Option<u32>, title: &str, date: &str, categories: &[&str]) -> Paper {
        Paper {
            id: "arXiv:2503.11677".into(),
            arxiv_id: Some("2503.11677".into()),
            version,
            doi: None,
            title: title.into(),
            abstract_text: "An abstract.".into(),
            authors: vec!["Ada".into()],
            date: Some(date.into()),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            comment: None,
            links: None,
        }
    }

    #[test]
    fn a_new_paper_is_written_as_is() {
        let new = paper(Some(1), "T", "2025-03-18", &["cs.CL"]);
        assert_eq!(merge(None, &new), (Change::New, Some(new.clone())));
    }

    #[test]
    fn the_same_record_again_changes_nothing() {
        let stored = paper(Some(1), "T", "2025-03-18", &["cs.CL"]);
        assert_eq!(
            merge(Some(&stored), &stored.clone()),
            (Change::Unchanged, None)
        );
    }

    #[test]
    fn a_listing_on_a_later_day_in_another_category_keeps_the_first_day() {
        let stored = paper(None, "T", "2025-03-18", &["cs.CL"]);
        let cross_list = paper(None, "T", "2025-03-19", &["cs.AI", "cs.CL"]);
        let (change, merged) = merge(Some(&stored), &cross_list);
        assert_eq!(
            change,
            Change::Updated {
                text_changed: false
            }
        );
        let merged = merged.expect("written");
        assert_eq!(merged.date.as_deref(), Some("2025-03-18"));
        assert_eq!(merged.categories, ["cs.CL", "cs.AI"]);
        assert_eq!(merge(Some(&merged), &cross_list), (Change::Unchanged, None));
    }

    #[test]
    fn a_newer_version_replaces_the_text_and_an_older_one_is_ignored() {
        let v1 = paper(Some(1), "Old title", "2025-03-18", &["cs.CL"]);
        let v2 = paper(Some(2), "New title", "2025-03-18", &["cs.CL"]);
        let (change, merged) = merge(Some(&v1), &v2);
        assert_eq!(change, Change::Updated { text_changed: true });
        let merged = merged.expect("written");
        assert_eq!(
            (merged.title.as_str(), merged.version),
            ("New title", Some(2))
        );
        assert_eq!(merge(Some(&merged), &v1), (Change::Older, None));
    }
}
