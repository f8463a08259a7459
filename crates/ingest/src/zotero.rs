//! A Zotero library read from its own database, `zotero.sqlite`, as entries like a BibTeX
//! export's: each regular item (not an attachment, note or annotation, not in the trash) with
//! its title, abstract, DOI, arXiv id (from its archive id, URL, DOI or "Extra" field) and
//! authors, optionally only those of one collection.
//!
//! Zotero keeps its database locked while it runs, so the file (with its write-ahead log,
//! when there is one) is copied first and the copy read: a consistent snapshot of the last
//! state Zotero wrote, never a wait on Zotero.

use std::collections::HashMap;
use std::path::Path;

use paperscout_types::{ArxivId, normalise_doi};
use rusqlite::{Connection, OpenFlags, params};

use crate::bibtex::BibEntry;
use crate::error::{IngestError, Result};

/// Whether `path` is an SQLite database (a Zotero library) rather than a text file.
pub fn is_database(path: &Path) -> bool {
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header))
        .is_ok_and(|()| &header == b"SQLite format 3\0")
}

/// The library's items, or only those of the collection named `collection`.
pub fn read_library(path: &Path, collection: Option<&str>) -> Result<Vec<BibEntry>> {
    let fail = |message: String| IngestError::Zotero {
        source_name: path.display().to_string(),
        message,
    };
    let copy = tempfile::tempdir().map_err(|err| fail(format!("no room for a copy ({err})")))?;
    let snapshot = copy.path().join("zotero.sqlite");
    std::fs::copy(path, &snapshot).map_err(|err| fail(err.to_string()))?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).is_file() {
        std::fs::copy(&wal, copy.path().join("zotero.sqlite-wal"))
            .map_err(|err| fail(err.to_string()))?;
    }
    let db = Connection::open_with_flags(&snapshot, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|err| fail(err.to_string()))?;
    read(&db, collection).map_err(|err| match err {
        Missing(name) => fail(format!("it has no collection named {name:?}")),
        Sql(err) => fail(format!("not a Zotero database ({err})")),
    })
}

enum ReadError {
    Missing(String),
    Sql(rusqlite::Error),
}
use ReadError::{Missing, Sql};

impl From<rusqlite::Error> for ReadError {
    fn from(err: rusqlite::Error) -> Self {
        Sql(err)
    }
}

fn read(
    db: &Connection,
    collection: Option<&str>,
) -> std::result::Result<Vec<BibEntry>, ReadError> {
    let collection_id: Option<i64> = match collection {
        Some(name) => Some(
            db.query_row(
                "SELECT collectionID FROM collections WHERE collectionName = ?1",
                params![name],
                |row| row.get(0),
            )
            .map_err(|_| Missing(name.to_owned()))?,
        ),
        None => None,
    };
    let mut items = db.prepare(
        "SELECT items.itemID, items.key FROM items
         JOIN itemTypes USING (itemTypeID)
         WHERE itemTypes.typeName NOT IN ('attachment', 'note', 'annotation')
           AND items.itemID NOT IN (SELECT itemID FROM deletedItems)
           AND (?1 IS NULL OR items.itemID IN
                (SELECT itemID FROM collectionItems WHERE collectionID = ?1))
         ORDER BY items.itemID",
    )?;
    let mut entries: Vec<BibEntry> = Vec::new();
    let mut place: HashMap<i64, usize> = HashMap::new();
    let rows = items.query_map(params![collection_id], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (id, key) = row?;
        place.insert(id, entries.len());
        entries.push(BibEntry {
            key,
            line: 0,
            arxiv: None,
            doi: None,
            title: None,
            abstract_text: None,
            authors: Vec::new(),
        });
    }
    let mut fields = db.prepare(
        "SELECT itemData.itemID, fields.fieldName, itemDataValues.value FROM itemData
         JOIN fields USING (fieldID) JOIN itemDataValues USING (valueID)
         WHERE fields.fieldName IN ('title', 'abstractNote', 'DOI', 'url', 'extra', 'archiveID')",
    )?;
    let rows = fields.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (id, field, value) = row?;
        let Some(entry) = place.get(&id).map(|&at| &mut entries[at]) else {
            continue;
        };
        match field.as_str() {
            "title" => entry.title = Some(value),
            "abstractNote" => entry.abstract_text = Some(value),
            "DOI" => {
                entry.arxiv = entry.arxiv.take().or_else(|| arxiv_of_doi(&value));
                entry.doi = normalise_doi(&value);
            }
            // "Extra" holds one "Key: value" a line; Zotero's arXiv imports write "arXiv: ID".
            "extra" => {
                let found = value.lines().find_map(|line| match line.split_once(':') {
                    Some((key, id)) if key.trim().eq_ignore_ascii_case("arxiv") => {
                        ArxivId::parse(id.trim())
                    }
                    _ => None,
                });
                entry.arxiv = entry.arxiv.take().or(found);
            }
            _ => entry.arxiv = entry.arxiv.take().or_else(|| ArxivId::parse(&value)),
        }
    }
    let mut creators = db.prepare(
        "SELECT itemCreators.itemID, creators.firstName, creators.lastName FROM itemCreators
         JOIN creators USING (creatorID) ORDER BY itemCreators.itemID, itemCreators.orderIndex",
    )?;
    let rows = creators.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    for row in rows {
        let (id, first, last) = row?;
        if let Some(&at) = place.get(&id) {
            let name = [first.unwrap_or_default(), last.unwrap_or_default()].join(" ");
            entries[at].authors.push(name.trim().to_owned());
        }
    }
    Ok(entries)
}

/// The arXiv id of an arXiv DOI (`10.48550/arXiv.2503.11677`).
fn arxiv_of_doi(doi: &str) -> Option<ArxivId> {
    let lowered = doi.to_ascii_lowercase();
    let at = lowered.find("10.48550/arxiv.")?;
    ArxivId::parse(&doi[at + "10.48550/arxiv.".len()..])
}

/// A Zotero database for tests, made in Zotero's own table layout.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::path::Path;

    use rusqlite::{Connection, params};

    /// A database in Zotero's own layout (the tables and columns paperscout reads, as
    /// Zotero 7 defines them), with three papers, a note and a trashed paper; the first
    /// papers of `in_thesis` (item ids 1 to 3) are in the collection "Thesis".
    pub fn zotero_library(path: &Path, in_thesis: &[i64]) {
        let db = Connection::open(path).expect("a database");
        db.execute_batch(
            "CREATE TABLE itemTypes (itemTypeID INTEGER PRIMARY KEY, typeName TEXT, templateItemTypeID INT, display INT DEFAULT 1);
             CREATE TABLE items (itemID INTEGER PRIMARY KEY, itemTypeID INT NOT NULL, dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT NOT NULL, key TEXT NOT NULL, version INT NOT NULL DEFAULT 0, synced INT NOT NULL DEFAULT 0, UNIQUE (libraryID, key));
             CREATE TABLE fields (fieldID INTEGER PRIMARY KEY, fieldName TEXT, fieldFormatID INT);
             CREATE TABLE itemDataValues (valueID INTEGER PRIMARY KEY, value UNIQUE);
             CREATE TABLE itemData (itemID INT, fieldID INT, valueID, PRIMARY KEY (itemID, fieldID));
             CREATE TABLE creators (creatorID INTEGER PRIMARY KEY, firstName TEXT, lastName TEXT, fieldMode INT, UNIQUE (lastName, firstName, fieldMode));
             CREATE TABLE itemCreators (itemID INT NOT NULL, creatorID INT NOT NULL, creatorTypeID INT NOT NULL DEFAULT 1, orderIndex INT NOT NULL DEFAULT 0, PRIMARY KEY (itemID, creatorID, creatorTypeID, orderIndex));
             CREATE TABLE collections (collectionID INTEGER PRIMARY KEY, collectionName TEXT NOT NULL, parentCollectionID INT DEFAULT NULL, clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, libraryID INT NOT NULL, key TEXT NOT NULL, version INT NOT NULL DEFAULT 0, synced INT NOT NULL DEFAULT 0);
             CREATE TABLE collectionItems (collectionID INT NOT NULL, itemID INT NOT NULL, orderIndex INT NOT NULL DEFAULT 0, PRIMARY KEY (collectionID, itemID));
             CREATE TABLE deletedItems (itemID INTEGER PRIMARY KEY, dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL);
             INSERT INTO itemTypes VALUES (1, 'note', NULL, 1), (2, 'journalArticle', NULL, 1), (3, 'preprint', NULL, 1), (4, 'attachment', NULL, 1);
             INSERT INTO fields VALUES (1, 'title', NULL), (2, 'abstractNote', NULL), (3, 'DOI', NULL), (4, 'url', NULL), (5, 'extra', NULL), (6, 'archiveID', NULL), (7, 'date', NULL);
             INSERT INTO items (itemID, itemTypeID, libraryID, key) VALUES
               (1, 3, 1, 'AAAA1111'), (2, 2, 1, 'BBBB2222'), (3, 2, 1, 'CCCC3333'), (4, 1, 1, 'NOTE0001'), (5, 3, 1, 'TRASH001');
             INSERT INTO itemDataValues VALUES
               (1, 'Graph networks for molecules'), (2, 'arXiv:2503.10001'), (3, 'A journal paper'), (4, '10.1000/J.1'),
               (5, 'Speech, streamed'), (6, 'arXiv: 2503.10005'), (7, 'In the trash'), (8, 'https://arxiv.org/abs/2503.10006'),
               (9, 'We pass messages.');
             INSERT INTO itemData VALUES (1, 1, 1), (1, 6, 2), (1, 2, 9), (2, 1, 3), (2, 3, 4), (3, 1, 5), (3, 5, 6), (5, 1, 7), (5, 4, 8);
             INSERT INTO creators VALUES (1, 'Ada', 'Lovelace', 0), (2, 'Alan', 'Turing', 0);
             INSERT INTO itemCreators VALUES (1, 2, 1, 1), (1, 1, 1, 0);
             INSERT INTO collections (collectionID, collectionName, libraryID, key) VALUES (1, 'Thesis', 1, 'COLL0001');
             INSERT INTO deletedItems (itemID) VALUES (5);",
        )
        .expect("Zotero's tables");
        for (order, item) in in_thesis.iter().enumerate() {
            db.execute(
                "INSERT INTO collectionItems VALUES (1, ?1, ?2)",
                params![item, order as i64],
            )
            .expect("in the collection");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_read_with_their_ids_authors_and_collections() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("zotero.sqlite");
        testing::zotero_library(&path, &[1, 2]);
        assert!(is_database(&path));
        let all = read_library(&path, None).expect("read");
        let keys: Vec<&str> = all.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["AAAA1111", "BBBB2222", "CCCC3333"],
            "no note, nothing trashed"
        );
        assert_eq!(
            all[0].arxiv.as_ref().map(|a| a.base.as_str()),
            Some("2503.10001")
        );
        assert_eq!(all[0].authors, ["Ada Lovelace", "Alan Turing"]);
        assert_eq!(all[0].abstract_text.as_deref(), Some("We pass messages."));
        assert_eq!(all[1].doi.as_deref(), Some("10.1000/j.1"));
        assert_eq!(
            all[2].arxiv.as_ref().map(|a| a.base.as_str()),
            Some("2503.10005")
        );
        let thesis = read_library(&path, Some("Thesis")).expect("read");
        assert_eq!(thesis.len(), 2);
        let err = read_library(&path, Some("Nothing")).expect_err("no such collection");
        assert!(
            err.to_string().contains("no collection named \"Nothing\""),
            "{err}"
        );
        let text = dir.path().join("library.bib");
        std::fs::write(&text, "@article{x, title = {T}}").expect("written");
        assert!(!is_database(&text));
        assert!(read_library(&text, None).is_err());
    }
}
