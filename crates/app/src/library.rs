//! A reference manager's library (BibTeX or BibLaTeX: a Zotero, Mendeley or JabRef export)
//! added to a user's profile: entries matched to stored papers by arXiv id or DOI, the others
//! with a title stored as external papers (no announcement day, so never a digest candidate).
//! Added once ([`add_library`]), or followed ([`sync_follows`]): a BibTeX file or a Zotero
//! database (optionally one collection of it), read again whenever the file changes, its new
//! papers joining the profile and the ones that left it leaving.

use std::collections::HashSet;
use std::path::Path;

use paperscout_ingest::bibtex::{BadEntry, BibEntry};
use paperscout_ingest::zotero;
use paperscout_store::{PaperWrite, ProfileItem, ProfileSubject, Store, Timestamp};
use paperscout_types::{Follow, Paper, doi_paper_id};

use crate::error::Result;
use crate::users::require_user;

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

/// The library `text`'s entries as stored paper ids, in order: each matched to a stored paper
/// by arXiv id or DOI, else (with a title) stored as an external paper under `source`. Entries
/// left out are named, with their line, in `skipped`; `external` counts the papers stored.
fn resolve(
    store: &mut dyn Store,
    name: &str,
    (entries, bad): (Vec<BibEntry>, Vec<BadEntry>),
    now: Timestamp,
) -> Result<(Vec<String>, LibraryAdded)> {
    let mut outcome = LibraryAdded {
        skipped: bad
            .iter()
            .map(|entry| format!("{name} line {}: {}", entry.line, entry.reason))
            .collect(),
        ..LibraryAdded::default()
    };
    let source = format!("bibtex:{name}");
    let mut ids = Vec::new();
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
        ids.push(id);
    }
    Ok((ids, outcome))
}

fn add_paper(store: &mut dyn Store, user: &str, id: String, now: Timestamp) -> Result<()> {
    let item = ProfileItem {
        subject: ProfileSubject::Paper(id),
        weight: 1.0,
        added: now,
    };
    Ok(store.add_profile_item(user, &item)?)
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
    let library = paperscout_ingest::bibtex::parse_library(text);
    let (ids, mut outcome) = resolve(store, name, library, now)?;
    for id in ids {
        add_paper(store, user, id, now)?;
        outcome.added += 1;
    }
    Ok(outcome)
}

/// What keeping a followed library in step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Papers that joined the profile.
    pub added: Vec<String>,
    /// Papers that left it, having left the library.
    pub removed: Vec<String>,
    /// Entries left out, each with its line and why.
    pub skipped: Vec<String>,
}

/// The state of a file, to tell whether it changed since it was read: its length and its
/// modification time. None when it cannot be read.
pub fn file_state(path: &Path) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    let modified = metadata
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!("{}:{}", metadata.len(), modified.as_nanos()))
}

/// Brings `user`'s profile in step with the library `follow` names, when the file changed
/// since it was last read: its papers join the profile, and papers it put there that left
/// it leave the profile too. A paper the user added by hand is never taken away. `follow`
/// records what was read. Returns none when the file is as it was.
pub fn sync_follow(
    store: &mut dyn Store,
    user: &str,
    follow: &mut Follow,
    now: Timestamp,
) -> Result<Option<Synced>> {
    let path = Path::new(&follow.path);
    let state = file_state(path);
    if state.is_some() && state == follow.seen {
        return Ok(None);
    }
    let name = path
        .file_name()
        .map_or_else(|| follow.path.clone(), |n| n.to_string_lossy().into_owned());
    let library = if zotero::is_database(path) {
        let entries = zotero::read_library(path, follow.collection.as_deref())?;
        (entries, Vec::new())
    } else {
        paperscout_ingest::bibtex::parse_library(&fs_err::read_to_string(path)?)
    };
    let (ids, outcome) = resolve(store, &name, library, now)?;
    let wanted: HashSet<&String> = ids.iter().collect();
    let in_profile: HashSet<String> = store
        .profile(user)?
        .into_iter()
        .filter_map(|item| match item.subject {
            ProfileSubject::Paper(id) => Some(id),
            ProfileSubject::Interest(_) => None,
        })
        .collect();
    let mut synced = Synced {
        skipped: outcome.skipped,
        ..Synced::default()
    };
    for id in follow.papers.iter().filter(|id| !wanted.contains(id)) {
        store.remove_profile_paper(user, id)?;
        synced.removed.push(id.clone());
    }
    let mut kept: Vec<String> = follow
        .papers
        .iter()
        .filter(|id| wanted.contains(id))
        .cloned()
        .collect();
    for id in ids.iter().filter(|id| !in_profile.contains(*id)) {
        if kept.contains(id) {
            continue;
        }
        add_paper(store, user, id.clone(), now)?;
        synced.added.push(id.clone());
        kept.push(id.clone());
    }
    follow.papers = kept;
    follow.seen = state;
    Ok(Some(synced))
}

/// Keeps every library `user` follows in step (see [`sync_follow`]) and saves what was read
/// with the user's settings. A library that cannot be read is reported and tried again next
/// time; the others go on. Returns each followed file that changed, with what it did.
pub fn sync_follows(
    store: &mut dyn Store,
    user: &str,
    now: Timestamp,
) -> Result<Vec<(String, Result<Synced>)>> {
    let mut settings = require_user(&*store, user)?.settings;
    let mut changes = Vec::new();
    for follow in &mut settings.follows {
        match sync_follow(store, user, follow, now) {
            Ok(None) => {}
            Ok(Some(synced)) => changes.push((follow.path.clone(), Ok(synced))),
            Err(err) => changes.push((follow.path.clone(), Err(err))),
        }
    }
    if changes.iter().any(|(_, outcome)| outcome.is_ok()) {
        store.set_user_settings(user, &settings)?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    /// Syncs the libraries ada follows.
    fn sync(store: &mut dyn Store, now: Timestamp) -> Vec<(String, Result<Synced>)> {
        sync_follows(store, "ada", now).expect("synced")
    }

    #[test]
    fn a_followed_zotero_collection_is_kept_in_step() {
        let mut store = testing::store();
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("zotero.sqlite");
        zotero::testing::zotero_library(&file, &[1, 2]);
        let change = crate::users::SettingsChange {
            follow: Some(file.display().to_string()),
            collection: Some("Thesis".to_owned()),
            ..Default::default()
        };
        crate::users::change_settings(&mut store, "ada", &change).expect("followed");
        let first = sync(&mut store, 10);
        let synced = first[0].1.as_ref().expect("read");
        // Item 1 is the stored arXiv paper; item 2 a journal paper kept as external.
        assert_eq!(synced.added, ["arXiv:2503.10001", "doi:10.1000/j.1"]);
        // Zotero moves item 2 out of the collection and item 3 (arXiv:2503.10005) in.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let next = dir.path().join("next.sqlite");
        zotero::testing::zotero_library(&next, &[1, 3]);
        fs_err::rename(&next, &file).expect("replaced");
        let second = sync(&mut store, 11);
        let synced = second[0].1.as_ref().expect("read");
        assert_eq!(synced.added, ["arXiv:2503.10005"]);
        assert_eq!(synced.removed, ["doi:10.1000/j.1"]);
    }

    #[test]
    fn a_followed_library_brings_its_papers_and_takes_away_those_that_left() {
        let mut store = testing::store();
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("ada.bib");
        let write = |text: &str| fs_err::write(&file, text).expect("written");
        write(
            "@article{a, title = {Graph networks}, eprint = {2503.10001}, archivePrefix = {arXiv}}\n\
             @article{b, title = {Diffusion}, eprint = {2503.10004}, archivePrefix = {arXiv}}\n",
        );
        let change = crate::users::SettingsChange {
            follow: Some(file.display().to_string()),
            ..Default::default()
        };
        crate::users::change_settings(&mut store, "ada", &change).expect("followed");
        let first = sync(&mut store, 10);
        assert_eq!(first.len(), 1);
        let added = &first[0].1.as_ref().expect("read").added;
        assert_eq!(added, &["arXiv:2503.10001", "arXiv:2503.10004"]);
        assert!(
            sync(&mut store, 11).is_empty(),
            "an unchanged file is not read again"
        );

        // The user adds a paper by hand that the library also holds, then the library
        // loses both of its papers and gains another.
        add_paper(&mut store, "ada", "arXiv:2503.10006".to_owned(), 12).expect("by hand");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(
            "@article{c, title = {Speech}, eprint = {2503.10005}, archivePrefix = {arXiv}}\n\
             @article{d, title = {Robots}, eprint = {2503.10006}, archivePrefix = {arXiv}}\n",
        );
        let second = sync(&mut store, 13);
        let synced = second[0].1.as_ref().expect("read");
        assert_eq!(
            synced.added,
            ["arXiv:2503.10005"],
            "the hand-added one is there already"
        );
        assert_eq!(synced.removed, ["arXiv:2503.10001", "arXiv:2503.10004"]);
        let papers: Vec<String> = store
            .profile("ada")
            .expect("profile")
            .into_iter()
            .filter_map(|item| match item.subject {
                ProfileSubject::Paper(id) => Some(id),
                ProfileSubject::Interest(_) => None,
            })
            .collect();
        assert_eq!(
            papers,
            ["arXiv:2503.00001", "arXiv:2503.10006", "arXiv:2503.10005"],
            "the first profile paper and the hand-added one stay"
        );
        // The library no longer claims the hand-added paper, so emptying it leaves that one.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write("");
        let third = sync(&mut store, 14);
        assert_eq!(
            third[0].1.as_ref().expect("read").removed,
            ["arXiv:2503.10005"]
        );

        // A file that cannot be read is reported, and the others would go on.
        fs_err::remove_file(&file).expect("removed");
        let gone = sync(&mut store, 15);
        assert!(gone[0].1.is_err());
    }

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
