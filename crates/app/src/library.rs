//! A reference manager's library (BibTeX or BibLaTeX: a Zotero, Mendeley or JabRef export)
//! added to a user's profile: entries matched to stored papers by arXiv id or DOI, the others
//! with a title stored as external papers (no announcement day, so never a digest candidate).

use paperscout_store::{PaperWrite, ProfileItem, ProfileSubject, Store, Timestamp};
use paperscout_types::{Paper, doi_paper_id};

use crate::error::Result;

/// What adding a library did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryAdded {
    /// Profile items added.
    pub added: usize,
    /// Of those, entries not in the store, stored as external papers.
    pub external: usize,
    /// Entries left out, each with its line and why.
    pub skipped: Vec<String>,
}

/// Adds the library `text` (named `name` in messages and as the papers' source) to `user`'s
/// profile.
pub fn add_library(
    store: &mut dyn Store,
    user: &str,
    name: &str,
    text: &str,
    now: Timestamp,
) -> Result<LibraryAdded> {
    let (entries, bad) = paperscout_ingest::bibtex::parse_library(text);
    let mut outcome = LibraryAdded {
        skipped: bad
            .iter()
            .map(|entry| format!("{name} line {}: {}", entry.line, entry.reason))
            .collect(),
        ..LibraryAdded::default()
    };
    let source = format!("bibtex:{name}");
    for entry in entries {
        let keys = entry
            .arxiv
            .iter()
            .map(|id| id.paper_id())
            .chain(entry.doi.clone());
        let mut found = None;
        for key in keys {
            if let Some(stored) = store.find_paper(&key)? {
                found = Some(stored.paper.id);
                break;
            }
        }
        let id = match (found, &entry.title) {
            (Some(id), _) => id,
            (None, Some(title)) => {
                let id = match (&entry.arxiv, &entry.doi) {
                    (Some(arxiv), _) => arxiv.paper_id(),
                    (None, Some(doi)) => doi_paper_id(doi),
                    (None, None) => format!("bib:{}", entry.key),
                };
                let paper = Paper {
                    id: id.clone(),
                    arxiv_id: entry.arxiv.as_ref().map(|a| a.base.clone()),
                    version: None,
                    doi: entry.doi.clone(),
                    title: title.clone(),
                    abstract_text: entry.abstract_text.clone().unwrap_or_default(),
                    authors: entry.authors.clone(),
                    date: None,
                    categories: Vec::new(),
                    comment: None,
                    links: None,
                };
                let write = PaperWrite {
                    paper: &paper,
                    source: &source,
                    embedding: None,
                };
                store.write_papers(&[write], None, now)?;
                outcome.external += 1;
                id
            }
            (None, None) => {
                outcome.skipped.push(format!(
                    "{name} line {}: {} has no title and is not in the store",
                    entry.line, entry.key
                ));
                continue;
            }
        };
        let item = ProfileItem {
            subject: ProfileSubject::Paper(id),
            weight: 1.0,
            added: now,
        };
        store.add_profile_item(user, &item)?;
        outcome.added += 1;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn stored_papers_are_matched_others_kept_as_external_and_untitled_ones_skipped() {
        let mut store = testing::store();
        let library = r"
@article{stored, title = {Graph networks}, eprint = {2503.10001}, archivePrefix = {arXiv}}
@article{elsewhere, title = {A Journal Paper}, doi = {10.1000/J.1}, author = {Lovelace, Ada}}
@misc{untitled, doi = {10.1000/none}}
";
        let added = add_library(&mut store, "ada", "ada.bib", library, 5).expect("added");
        assert_eq!((added.added, added.external), (2, 1), "{added:?}");
        assert_eq!(added.skipped.len(), 1, "{added:?}");
        assert!(
            added.skipped[0].contains("untitled has no title"),
            "{added:?}"
        );
        let profile = store.profile("ada").expect("profile");
        let ids: Vec<&ProfileSubject> = profile.iter().map(|item| &item.subject).collect();
        assert!(ids.contains(&&ProfileSubject::Paper("arXiv:2503.10001".to_owned())));
        assert!(ids.contains(&&ProfileSubject::Paper("doi:10.1000/j.1".to_owned())));
        let external = store
            .paper("doi:10.1000/j.1")
            .expect("read")
            .expect("stored");
        assert_eq!(external.paper.date, None, "never a digest candidate");
    }
}
