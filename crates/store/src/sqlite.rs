//! The store on disk: one SQLite file in WAL mode.
//!
//! Every multi-row write is one transaction, and the file is synced at each commit
//! (`synchronous = FULL`), so a crash at any moment leaves every committed write in place and
//! nothing half-written. Ratings alone commit without the sync (see `add_feedback_many`). Writers take the [`WriterLock`] first; readers need no lock, since
//! WAL lets them read while one writer writes.
//!
//! Each write transaction also counts itself in the `commits` table, and the writer copies the
//! count into `<store>.commits` after each commit. SQLite reads a damaged write-ahead log only
//! up to its first bad frame, silently dropping every commit after it; at open, a count in the
//! file behind the one beside it says so ([`SqliteStore::lost_commits`]).

use std::path::{Path, PathBuf};

use paperscout_types::{ArxivId, Paper, PaperLinks, UserSettings, normalise_doi};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, params};

use crate::error::{Result, StoreError};
use crate::lock::WriterLock;
use crate::merge::{after_write, merge};
use crate::records::{
    Change, Channel, Classification, Delivery, Feedback, FeedbackKind, ModelKey, ModelStats,
    NewMail, PaperWrite, ProfileItem, ProfileSubject, QueuedMail, Recommendation, Stats,
    StoredPaper, StoredRecommendations, Timestamp, User, WriteSummary, text_digest,
};
use crate::schema;
use crate::store::Store;

/// The columns [`read_paper`] expects, in its order.
const PAPER_COLUMNS: &str = "id, arxiv_id, version, doi, title, abstract, authors, categories, \
     date, comment, abs_url, pdf_url, source, first_seen, updated, text_sha";

/// A paperscout store in a SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    path: PathBuf,
    lock: Option<WriterLock>,
    /// Commits the write-ahead log lost, as found at open.
    lost_commits: u64,
}

/// Counts a write transaction in the `commits` table and commits it; returns the count.
fn commit(transaction: Transaction<'_>) -> Result<i64> {
    let count = transaction.query_row(
        "UPDATE commits SET count = count + 1 WHERE id = 1 RETURNING count",
        [],
        |row| row.get(0),
    )?;
    transaction.commit()?;
    Ok(count)
}

impl SqliteStore {
    /// Opens the store for writing, creating it (and its folder) if needed and bringing its
    /// schema up to date. Fails with [`StoreError::InUse`] while another process writes to it.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir)?;
        }
        let lock = WriterLock::acquire(path)?;
        let mut connection = connect(path, OpenFlags::default())?;
        configure(&connection)?;
        let found = schema::version(&connection)?;
        check_not_too_new(path, found)?;
        schema::migrate(&mut connection, found)?;
        let mut store = Self {
            connection,
            path: path.to_path_buf(),
            lock: Some(lock),
            lost_commits: 0,
        };
        store.check_commits()?;
        Ok(store)
    }

    /// The file beside the store that holds its count of commits.
    fn commits_file(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".commits");
        PathBuf::from(name)
    }

    /// Compares the count of commits in the file with the one beside it, says so when the
    /// file's went backwards, and starts the count beside it again from the file's.
    fn check_commits(&mut self) -> Result<()> {
        let counted: i64 =
            self.connection
                .query_row("SELECT count FROM commits WHERE id = 1", [], |row| {
                    row.get(0)
                })?;
        // Unreadable or absent (a store from before the count, a crash while it was written):
        // nothing to compare with.
        let beside = std::fs::read_to_string(self.commits_file())
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok());
        if let Some(beside) = beside
            && beside > counted
        {
            self.lost_commits = (beside - counted).unsigned_abs();
            tracing::error!(
                store = %self.path.display(),
                "the store has {counted} of the {beside} write transactions it committed: its \
                 write-ahead log (paperscout.sqlite3-wal) was damaged, and SQLite dropped the last \
                 {} of them. Papers, ratings or digests recorded in them are gone: ingest the \
                 latest files again, and check the disk",
                self.lost_commits
            );
        }
        self.note_commits(counted);
        Ok(())
    }

    /// Copies the count of commits beside the store. Not synced: after a power cut the copy
    /// may lag behind, which hides a loss rather than inventing one.
    fn note_commits(&self, count: i64) {
        if let Err(err) = std::fs::write(self.commits_file(), format!("{count}\n")) {
            tracing::debug!("could not note the store's commit count: {err}");
        }
    }

    /// How many committed write transactions were missing when the store was opened (0 unless
    /// its write-ahead log was damaged).
    pub fn lost_commits(&self) -> u64 {
        self.lost_commits
    }

    /// Inserts checked ratings in one transaction.
    fn insert_feedback(&mut self, rows: &[(i64, &Feedback)]) -> Result<()> {
        let transaction = self.writable()?.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO feedback (user_id, paper_id, kind, at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (user_id, feedback) in rows {
                insert.execute(params![
                    user_id,
                    feedback.paper_id,
                    feedback.kind.as_str(),
                    feedback.at
                ])?;
            }
        }
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok(())
    }

    /// Opens an existing store for reading only; no lock is taken and nothing is changed.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = connect(path, flags)?;
        let found = schema::version(&connection)?;
        check_not_too_new(path, found)?;
        if found < schema::current_version() {
            return Err(StoreError::Corrupt {
                what: "schema version",
                detail: format!(
                    "version {found} needs an upgrade; run a writing command such as \
                     `paperscout ingest` once"
                ),
            });
        }
        Ok(Self {
            connection,
            path: path.to_path_buf(),
            lock: None,
            lost_commits: 0,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the store's other modules.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    fn writable(&mut self) -> Result<&mut Connection> {
        if self.lock.is_none() {
            return Err(StoreError::ReadOnly);
        }
        Ok(&mut self.connection)
    }

    fn user_id(&self, name: &str) -> Result<i64> {
        user_id(&self.connection, name)
    }
}

/// Opens a connection to the database file at `path`, waiting up to 5 s for a lock another
/// connection holds rather than failing at once.
pub(crate) fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let connection =
        Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(connection)
}

/// The write-ahead log beside the database file at `path`.
pub(crate) fn log_path(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    PathBuf::from(log)
}

fn configure(connection: &Connection) -> Result<()> {
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn check_not_too_new(path: &Path, found: i64) -> Result<()> {
    if found > schema::current_version() {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: schema::current_version(),
        });
    }
    Ok(())
}

fn user_id(connection: &Connection, name: &str) -> Result<i64> {
    connection
        .prepare_cached("SELECT id FROM users WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NoSuchUser(name.to_owned()))
}

/// A text column read whatever its bytes: SQLite stores what it is given, and a damaged file
/// (or another program) can leave bytes that are not UTF-8, which must not stop every read of
/// the table. Returns the text and whether it had to be repaired.
fn lossy_text(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<(String, bool)>> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(index)? {
        ValueRef::Null => None,
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
        }),
        ValueRef::Integer(n) => Some((n.to_string(), true)),
        ValueRef::Real(x) => Some((x.to_string(), true)),
    })
}

/// Reads a paper's row. Text that is not UTF-8 is read with U+FFFD in place of the bad bytes
/// and the paper named in a warning: it is served, and an ingest of it repairs the row.
fn read_paper(row: &Row<'_>) -> rusqlite::Result<(StoredPaper, Vec<u8>)> {
    let mut damaged = false;
    let mut text = |index: usize| -> rusqlite::Result<Option<String>> {
        Ok(lossy_text(row, index)?.map(|(text, repaired)| {
            damaged |= repaired;
            text
        }))
    };
    let required = |text: Option<String>, index: usize| {
        text.ok_or(rusqlite::Error::InvalidColumnType(
            index,
            "NULL".to_owned(),
            rusqlite::types::Type::Null,
        ))
    };
    let id = required(text(0)?, 0)?;
    let arxiv_id = text(1)?;
    let doi = text(3)?;
    let title = required(text(4)?, 4)?;
    let abstract_text = required(text(5)?, 5)?;
    let authors = required(text(6)?, 6)?;
    let categories = required(text(7)?, 7)?;
    let date = text(8)?;
    let comment = text(9)?;
    let abs = text(10)?;
    let pdf = text(11)?;
    let source = required(text(12)?, 12)?;
    if damaged {
        tracing::warn!(
            paper = %id,
            "the store holds text of this paper that is not UTF-8 (a damaged file?): it is read \
             with U+FFFD in place of the bad bytes; ingest the paper again to repair it"
        );
    }
    let json_list = |text: String, index: usize| -> rusqlite::Result<Vec<String>> {
        serde_json::from_str(&text).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                err.into(),
            )
        })
    };
    let paper = Paper {
        id,
        arxiv_id,
        version: row.get(2)?,
        doi,
        title,
        abstract_text,
        authors: json_list(authors, 6)?,
        categories: json_list(categories, 7)?,
        date,
        comment,
        links: (abs.is_some() || pdf.is_some()).then_some(PaperLinks { abs, pdf }),
    };
    let stored = StoredPaper {
        paper,
        source,
        first_seen: row.get(13)?,
        updated: row.get(14)?,
    };
    Ok((stored, row.get(15)?))
}

/// [`read_paper`] for a scan over many rows: a row whose values cannot be read at all (a list
/// column that is not JSON, a missing title) is skipped and named in a warning, so one damaged
/// row does not stop every scan; the store's own failures still stop it.
fn read_paper_or_skip(row: &Row<'_>) -> rusqlite::Result<Option<(StoredPaper, Vec<u8>)>> {
    match read_paper(row) {
        Ok(read) => Ok(Some(read)),
        Err(
            err @ (rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)),
        ) => {
            let id = lossy_text(row, 0)?.map(|(id, _)| id).unwrap_or_default();
            tracing::warn!(
                paper = %id,
                "a damaged row of the store is skipped ({err}); ingest the paper again to \
                 replace it"
            );
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

fn paper_exists(connection: &Connection, id: &str) -> Result<bool> {
    Ok(connection
        .prepare_cached("SELECT 1 FROM papers WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn paper_by_id(connection: &Connection, id: &str) -> Result<Option<(StoredPaper, Vec<u8>)>> {
    Ok(connection
        .prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE id = ?1"))?
        // A row too damaged to read is no paper: an ingest of it writes it afresh.
        .query_row([id], read_paper_or_skip)
        .optional()?
        .flatten())
}

fn model_id(connection: &Connection, model: &ModelKey) -> Result<Option<i64>> {
    Ok(connection
        .prepare_cached("SELECT id FROM models WHERE name = ?1 AND sha256 = ?2")?
        .query_row([&model.name, &model.sha256], |row| row.get(0))
        .optional()?)
}

fn register_model(transaction: &Transaction<'_>, model: &ModelKey) -> Result<i64> {
    transaction
        .prepare_cached("INSERT OR IGNORE INTO models (name, sha256, dim) VALUES (?1, ?2, ?3)")?
        .execute(params![model.name, model.sha256, model.dim as i64])?;
    model_id(transaction, model)?.ok_or_else(|| StoreError::Corrupt {
        what: "model table",
        detail: format!("model {} vanished while being registered", model.name),
    })
}

fn has_current_embedding(
    connection: &Connection,
    paper_id: &str,
    model_id: Option<i64>,
    text_sha: &[u8],
) -> Result<bool> {
    let Some(model_id) = model_id else {
        return Ok(false);
    };
    let stored: Option<Vec<u8>> = connection
        .prepare_cached("SELECT text_sha FROM embeddings WHERE paper_id = ?1 AND model_id = ?2")?
        .query_row(params![paper_id, model_id], |row| row.get(0))
        .optional()?;
    Ok(stored.as_deref() == Some(text_sha))
}

fn put_embedding(
    transaction: &Transaction<'_>,
    paper_id: &str,
    model_id: i64,
    text_sha: &[u8],
    vector: &[f32],
) -> Result<()> {
    transaction
        .prepare_cached(
            "INSERT INTO embeddings (paper_id, model_id, text_sha, vector) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (paper_id, model_id)
             DO UPDATE SET text_sha = excluded.text_sha, vector = excluded.vector",
        )?
        .execute(params![
            paper_id,
            model_id,
            text_sha,
            crate::vector_bytes::encode(vector)
        ])?;
    Ok(())
}

fn write_paper(
    transaction: &Transaction<'_>,
    paper: &Paper,
    source: &str,
    now: Timestamp,
) -> Result<()> {
    let links = paper.links.clone().unwrap_or_default();
    transaction
        .prepare_cached(
            "INSERT INTO papers (id, arxiv_id, version, doi, title, abstract, authors, categories,
                                 date, comment, abs_url, pdf_url, source, text_sha, first_seen,
                                 updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)
             ON CONFLICT (id) DO UPDATE SET
                arxiv_id = excluded.arxiv_id, version = excluded.version, doi = excluded.doi,
                title = excluded.title, abstract = excluded.abstract,
                authors = excluded.authors, categories = excluded.categories,
                date = excluded.date, comment = excluded.comment, abs_url = excluded.abs_url,
                pdf_url = excluded.pdf_url, source = excluded.source,
                text_sha = excluded.text_sha, updated = excluded.updated",
        )?
        .execute(params![
            paper.id,
            paper.arxiv_id,
            paper.version,
            paper.doi,
            paper.title,
            paper.abstract_text,
            serde_json::to_string(&paper.authors).unwrap_or_default(),
            serde_json::to_string(&paper.categories).unwrap_or_default(),
            paper.date,
            paper.comment,
            links.abs,
            links.pdf,
            source,
            text_digest(paper).as_slice(),
            now,
        ])?;
    Ok(())
}

impl Store for SqliteStore {
    fn classify(&self, papers: &[Paper], model: Option<&ModelKey>) -> Result<Vec<Classification>> {
        let model_id = match model {
            Some(model) => model_id(&self.connection, model)?,
            None => None,
        };
        papers
            .iter()
            .map(|incoming| {
                let stored = paper_by_id(&self.connection, &incoming.id)?;
                let (change, merged) = merge(stored.as_ref().map(|(s, _)| &s.paper), incoming);
                let after = after_write(
                    change,
                    merged.as_ref(),
                    stored.as_ref().map(|(s, _)| &s.paper),
                );
                let needs_embedding = match (model, after) {
                    (Some(_), Some(paper)) => !has_current_embedding(
                        &self.connection,
                        &paper.id,
                        model_id,
                        &text_digest(paper),
                    )?,
                    _ => false,
                };
                Ok(Classification {
                    change,
                    needs_embedding,
                })
            })
            .collect()
    }

    fn write_papers(
        &mut self,
        writes: &[PaperWrite<'_>],
        model: Option<&ModelKey>,
        now: Timestamp,
    ) -> Result<WriteSummary> {
        let connection = self.writable()?;
        let transaction = connection.transaction()?;
        let model_id = match model {
            Some(model) => Some(register_model(&transaction, model)?),
            None => None,
        };
        let mut summary = WriteSummary::default();
        for write in writes {
            let incoming = write.paper;
            let stored = paper_by_id(&transaction, &incoming.id)?;
            let (change, merged) = merge(stored.as_ref().map(|(s, _)| &s.paper), incoming);
            summary.count(change);
            if let Some(merged) = &merged {
                write_paper(&transaction, merged, write.source, now)?;
            }
            if let (Some(vector), Some(model), Some(model_id)) = (write.embedding, model, model_id)
                && change != Change::Older
            {
                model.check(&incoming.id, vector)?;
                put_embedding(
                    &transaction,
                    &incoming.id,
                    model_id,
                    &text_digest(incoming),
                    vector,
                )?;
                summary.embedded += 1;
            }
        }
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok(summary)
    }

    fn paper(&self, id: &str) -> Result<Option<StoredPaper>> {
        Ok(paper_by_id(&self.connection, id)?.map(|(paper, _)| paper))
    }

    fn find_paper(&self, key: &str) -> Result<Option<StoredPaper>> {
        if let Some(found) = self.paper(key.trim())? {
            return Ok(Some(found));
        }
        let query = |sql: &str, value: &str| -> Result<Option<StoredPaper>> {
            Ok(self
                .connection
                .prepare_cached(&format!("SELECT {PAPER_COLUMNS} FROM papers WHERE {sql}"))?
                .query_row([value], read_paper)
                .optional()?
                .map(|(paper, _)| paper))
        };
        if let Some(id) = ArxivId::parse(key) {
            return query("arxiv_id = ?1", &id.base);
        }
        if let Some(doi) = normalise_doi(key) {
            return query("doi = ?1 ORDER BY id LIMIT 1", &doi);
        }
        Ok(None)
    }

    fn papers_announced(&self, from: &str, to: &str) -> Result<Vec<StoredPaper>> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {PAPER_COLUMNS} FROM papers WHERE date BETWEEN ?1 AND ?2 ORDER BY date, id"
        ))?;
        let rows = statement.query_map([from, to], read_paper_or_skip)?;
        Ok(rows
            .filter_map(|row| row.map(|read| read.map(|(paper, _)| paper)).transpose())
            .collect::<rusqlite::Result<_>>()?)
    }

    fn missing_embeddings(
        &self,
        model: &ModelKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Paper>> {
        let model_id = model_id(&self.connection, model)?.unwrap_or(-1);
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {PAPER_COLUMNS} FROM papers p
             WHERE p.id > ?1 AND NOT EXISTS (
                 SELECT 1 FROM embeddings e
                 WHERE e.paper_id = p.id AND e.model_id = ?2 AND e.text_sha = p.text_sha)
             ORDER BY p.id LIMIT ?3"
        ))?;
        let rows = statement.query_map(
            params![after.unwrap_or(""), model_id, limit as i64],
            read_paper_or_skip,
        )?;
        Ok(rows
            .filter_map(|row| {
                row.map(|read| read.map(|(stored, _)| stored.paper))
                    .transpose()
            })
            .collect::<rusqlite::Result<_>>()?)
    }

    fn put_embeddings(&mut self, model: &ModelKey, rows: &[(&Paper, &[f32])]) -> Result<usize> {
        for (paper, vector) in rows {
            model.check(&paper.id, vector)?;
        }
        let connection = self.writable()?;
        let transaction = connection.transaction()?;
        let model_id = register_model(&transaction, model)?;
        let mut stored = 0;
        for (paper, vector) in rows {
            if paper_by_id(&transaction, &paper.id)?.is_none() {
                return Err(StoreError::NoSuchPaper(paper.id.clone()));
            }
            put_embedding(
                &transaction,
                &paper.id,
                model_id,
                &text_digest(paper),
                vector,
            )?;
            stored += 1;
        }
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok(stored)
    }

    fn embedding(&self, paper_id: &str, model: &ModelKey) -> Result<Option<Vec<f32>>> {
        let bytes: Option<Vec<u8>> = self
            .connection
            .prepare_cached(
                "SELECT e.vector FROM embeddings e
                 JOIN papers p ON p.id = e.paper_id AND p.text_sha = e.text_sha
                 JOIN models m ON m.id = e.model_id
                 WHERE e.paper_id = ?1 AND m.name = ?2 AND m.sha256 = ?3",
            )?
            .query_row(params![paper_id, model.name, model.sha256], |row| {
                row.get(0)
            })
            .optional()?;
        bytes
            .as_deref()
            .map(crate::vector_bytes::decode)
            .transpose()
    }

    fn for_each_embedding(
        &self,
        model: &ModelKey,
        visit: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<usize> {
        let Some(model_id) = model_id(&self.connection, model)? else {
            return Ok(0);
        };
        let mut statement = self.connection.prepare_cached(
            "SELECT e.paper_id, e.vector FROM embeddings e
             JOIN papers p ON p.id = e.paper_id AND p.text_sha = e.text_sha
             WHERE e.model_id = ?1 ORDER BY e.paper_id",
        )?;
        let mut rows = statement.query([model_id])?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let vector = crate::vector_bytes::decode(
                row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?,
            )?;
            visit(&id, &vector);
            count += 1;
        }
        Ok(count)
    }

    fn stats(&self) -> Result<Stats> {
        let connection = &self.connection;
        let (papers, first_date, last_date) = connection.query_row(
            "SELECT count(*), min(date), max(date) FROM papers",
            [],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get(1)?, row.get(2)?)),
        )?;
        let users = connection
            .query_row("SELECT count(*) FROM users", [], |row| row.get::<_, i64>(0))?
            as u64;
        let mut statement = connection.prepare(
            "SELECT m.name, m.sha256, m.dim, count(p.id) FROM models m
             LEFT JOIN embeddings e ON e.model_id = m.id
             LEFT JOIN papers p ON p.id = e.paper_id AND p.text_sha = e.text_sha
             GROUP BY m.id ORDER BY m.name, m.sha256",
        )?;
        let models = statement
            .query_map([], |row| {
                Ok(ModelStats {
                    name: row.get(0)?,
                    sha256: row.get(1)?,
                    dim: row.get::<_, i64>(2)? as usize,
                    count: row.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let file_size = |path: &Path| std::fs::metadata(path).map_or(0, |meta| meta.len());
        Ok(Stats {
            papers,
            embeddings: models.iter().map(|model| model.count).sum(),
            models,
            users,
            first_date,
            last_date,
            file_bytes: Some(file_size(&self.path) + file_size(&log_path(&self.path))),
        })
    }

    fn add_user(&mut self, name: &str, now: Timestamp) -> Result<User> {
        paperscout_types::check_user_name(name)?;
        let connection = self.writable()?;
        let inserted = connection
            .prepare_cached("INSERT OR IGNORE INTO users (name, created) VALUES (?1, ?2)")?
            .execute(params![name, now])?;
        if inserted == 0 {
            return Err(StoreError::UserExists(name.to_owned()));
        }
        Ok(User {
            id: connection.last_insert_rowid(),
            name: name.to_owned(),
            created: now,
            settings: UserSettings::default(),
        })
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        self.connection
            .prepare_cached("SELECT id, name, created, settings FROM users WHERE name = ?1")?
            .query_row([name], read_user)
            .optional()?
            .map(decode_user)
            .transpose()
    }

    fn users(&self) -> Result<Vec<User>> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, name, created, settings FROM users ORDER BY name")?;
        let rows = statement.query_map([], read_user)?;
        rows.map(|row| decode_user(row?)).collect()
    }

    fn remove_user(&mut self, name: &str) -> Result<bool> {
        let connection = self.writable()?;
        Ok(connection.execute("DELETE FROM users WHERE name = ?1", [name])? > 0)
    }

    fn add_profile_item(&mut self, user: &str, item: &ProfileItem) -> Result<()> {
        let user_id = self.user_id(user)?;
        let (paper_id, interest) = match &item.subject {
            ProfileSubject::Paper(id) => {
                if self.paper(id)?.is_none() {
                    return Err(StoreError::NoSuchPaper(id.clone()));
                }
                (Some(id.as_str()), None)
            }
            ProfileSubject::Interest(text) => (None, Some(text.as_str())),
        };
        self.writable()?.execute(
            "INSERT INTO profile_items (user_id, paper_id, interest, weight, added)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                user_id,
                paper_id,
                interest,
                f64::from(item.weight),
                item.added
            ],
        )?;
        Ok(())
    }

    fn profile(&self, user: &str) -> Result<Vec<ProfileItem>> {
        let user_id = self.user_id(user)?;
        let mut statement = self.connection.prepare_cached(
            "SELECT paper_id, interest, weight, added FROM profile_items
             WHERE user_id = ?1 ORDER BY added, id",
        )?;
        let rows = statement.query_map([user_id], |row| {
            let paper: Option<String> = row.get(0)?;
            let interest: Option<String> = row.get(1)?;
            let subject = match paper {
                Some(id) => ProfileSubject::Paper(id),
                None => ProfileSubject::Interest(interest.unwrap_or_default()),
            };
            Ok(ProfileItem {
                subject,
                weight: row.get::<_, f64>(2)? as f32,
                added: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn add_feedback(&mut self, user: &str, feedback: &Feedback) -> Result<()> {
        let user_id = self.user_id(user)?;
        if self.paper(&feedback.paper_id)?.is_none() {
            return Err(StoreError::NoSuchPaper(feedback.paper_id.clone()));
        }
        self.writable()?.execute(
            "INSERT INTO feedback (user_id, paper_id, kind, at) VALUES (?1, ?2, ?3, ?4)",
            params![
                user_id,
                feedback.paper_id,
                feedback.kind.as_str(),
                feedback.at
            ],
        )?;
        Ok(())
    }

    /// Ratings are the one write committed without waiting for the disk (WAL with
    /// `synchronous = NORMAL` for this transaction): a person waits on each, and a sync is most
    /// of its cost. A crash of the process loses none of them (the log is in the kernel's
    /// cache); a power cut may lose those since the last synced commit or checkpoint, never
    /// the store's consistency.
    fn add_feedback_many(&mut self, events: &[(&str, Feedback)]) -> Result<()> {
        let mut rows = Vec::with_capacity(events.len());
        for (user, feedback) in events {
            let user_id = self.user_id(user)?;
            if !paper_exists(&self.connection, &feedback.paper_id)? {
                return Err(StoreError::NoSuchPaper(feedback.paper_id.clone()));
            }
            rows.push((user_id, feedback));
        }
        self.writable()?
            .pragma_update(None, "synchronous", "NORMAL")?;
        let written = self.insert_feedback(&rows);
        self.connection.pragma_update(None, "synchronous", "FULL")?;
        written
    }

    fn feedback(&self, user: &str) -> Result<Vec<Feedback>> {
        let user_id = self.user_id(user)?;
        let mut statement = self.connection.prepare_cached(
            "SELECT paper_id, kind, at FROM feedback WHERE user_id = ?1 ORDER BY at, id",
        )?;
        let rows = statement.query_map([user_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get(2)?,
            ))
        })?;
        rows.map(|row| {
            let (paper_id, kind, at) = row?;
            let kind: FeedbackKind = kind.parse().map_err(|detail| StoreError::Corrupt {
                what: "feedback kind",
                detail,
            })?;
            Ok(Feedback { paper_id, kind, at })
        })
        .collect()
    }

    fn latest_feedback(&self, user: &str, paper_id: &str) -> Result<Option<FeedbackKind>> {
        let user_id = self.user_id(user)?;
        let kind: Option<String> = self
            .connection
            .prepare_cached(
                "SELECT kind FROM feedback WHERE user_id = ?1 AND paper_id = ?2 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![user_id, paper_id], |row| row.get(0))
            .optional()?;
        kind.map(|kind| {
            kind.parse().map_err(|detail| StoreError::Corrupt {
                what: "feedback kind",
                detail,
            })
        })
        .transpose()
    }

    fn remove_profile_paper(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        let user_id = self.user_id(user)?;
        let removed = self.writable()?.execute(
            "DELETE FROM profile_items WHERE user_id = ?1 AND paper_id = ?2",
            params![user_id, paper_id],
        )?;
        Ok(removed)
    }

    fn remove_feedback(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        let user_id = self.user_id(user)?;
        let removed = self.writable()?.execute(
            "DELETE FROM feedback WHERE user_id = ?1 AND paper_id = ?2",
            params![user_id, paper_id],
        )?;
        Ok(removed)
    }

    fn record_sent(&mut self, user: &str, paper_ids: &[&str], at: Timestamp) -> Result<usize> {
        let user_id = self.user_id(user)?;
        let transaction = self.writable()?.transaction()?;
        let recorded = insert_sent(&transaction, user_id, paper_ids, at)?;
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok(recorded)
    }

    fn record_sent_with_mail(
        &mut self,
        user: &str,
        paper_ids: &[&str],
        at: Timestamp,
        mail: &NewMail<'_>,
    ) -> Result<(usize, i64)> {
        let user_id = self.user_id(user)?;
        let transaction = self.writable()?.transaction()?;
        let recorded = insert_sent(&transaction, user_id, paper_ids, at)?;
        let id = insert_mail(&transaction, user_id, mail, at)?;
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok((recorded, id))
    }

    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(usize, Vec<i64>)> {
        let user_id = self.user_id(delivery.user)?;
        let transaction = self.writable()?.transaction()?;
        let fresh = transaction
            .prepare_cached(
                "INSERT OR IGNORE INTO deliveries (user_id, day, at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![user_id, delivery.day, delivery.at])?;
        if fresh == 0 {
            return Err(StoreError::AlreadyDelivered {
                user: delivery.user.to_owned(),
                day: delivery.day.to_owned(),
            });
        }
        let recorded = insert_sent(&transaction, user_id, delivery.paper_ids, delivery.at)?;
        let mail = delivery
            .messages
            .iter()
            .map(|mail| insert_mail(&transaction, user_id, mail, delivery.at))
            .collect::<Result<Vec<_>>>()?;
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok((recorded, mail))
    }

    fn last_delivery(&self, user: &str) -> Result<Option<String>> {
        let user_id = self.user_id(user)?;
        Ok(self
            .connection
            .prepare_cached("SELECT max(day) FROM deliveries WHERE user_id = ?1")?
            .query_row([user_id], |row| row.get(0))?)
    }

    fn delivered_on(&self, user: &str, day: &str) -> Result<bool> {
        let user_id = self.user_id(user)?;
        Ok(self
            .connection
            .prepare_cached("SELECT 1 FROM deliveries WHERE user_id = ?1 AND day = ?2")?
            .exists(params![user_id, day])?)
    }

    fn sent(&self, user: &str) -> Result<Vec<String>> {
        let user_id = self.user_id(user)?;
        let mut statement = self.connection.prepare_cached(
            "SELECT paper_id FROM digests_sent WHERE user_id = ?1 ORDER BY paper_id",
        )?;
        let rows = statement.query_map([user_id], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn set_user_settings(&mut self, user: &str, settings: &UserSettings) -> Result<()> {
        let user_id = self.user_id(user)?;
        let json = serde_json::to_string(settings).map_err(|err| StoreError::Corrupt {
            what: "user settings",
            detail: err.to_string(),
        })?;
        self.writable()?.execute(
            "UPDATE users SET settings = ?2 WHERE id = ?1",
            params![user_id, json],
        )?;
        Ok(())
    }

    fn undelivered_mail(&self) -> Result<Vec<QueuedMail>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT m.id, u.name, m.day, m.recipient, m.message, m.queued, m.attempts,
                    m.last_error, m.channel, m.last_attempt
             FROM mail_outbox m JOIN users u ON u.id = m.user_id
             WHERE m.delivered IS NULL ORDER BY m.queued, m.id",
        )?;
        let rows = statement.query_map([], |row| {
            let channel: String = row.get(8)?;
            let Some(channel) = Channel::parse(&channel) else {
                return Ok(None);
            };
            Ok(Some(QueuedMail {
                id: row.get(0)?,
                channel,
                user: row.get(1)?,
                day: row.get(2)?,
                recipient: row.get(3)?,
                message: row.get(4)?,
                queued: row.get(5)?,
                attempts: row.get(6)?,
                last_error: row.get(7)?,
                last_attempt: row.get(9)?,
            }))
        })?;
        // A message of a channel this paperscout does not know waits for one that does.
        Ok(rows
            .filter_map(|row| row.transpose())
            .collect::<rusqlite::Result<_>>()?)
    }

    fn mail_delivered(&mut self, id: i64, at: Timestamp) -> Result<()> {
        self.writable()?.execute(
            "UPDATE mail_outbox SET delivered = ?2, attempts = attempts + 1, last_error = NULL
             WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    fn mail_failed(&mut self, id: i64, error: &str, at: Timestamp) -> Result<()> {
        self.writable()?.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?2, last_attempt = ?3
             WHERE id = ?1",
            params![id, error, at],
        )?;
        Ok(())
    }

    fn set_recommendations(&mut self, users: &[(&str, &StoredRecommendations)]) -> Result<()> {
        let mut ids = Vec::with_capacity(users.len());
        for (user, _) in users {
            ids.push(self.user_id(user)?);
        }
        let transaction = self.writable()?.transaction()?;
        for (user_id, (_, stored)) in ids.into_iter().zip(users) {
            transaction
                .prepare_cached("DELETE FROM recommendations WHERE user_id = ?1")?
                .execute([user_id])?;
            for (rank, paper) in stored.papers.iter().enumerate() {
                if paper_by_id(&transaction, &paper.paper_id)?.is_none() {
                    return Err(StoreError::NoSuchPaper(paper.paper_id.clone()));
                }
                transaction
                    .prepare_cached(
                        "INSERT INTO recommendations
                         (user_id, rank, paper_id, score, because, method, computed)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        user_id,
                        rank as i64,
                        paper.paper_id,
                        f64::from(paper.score),
                        paper.because,
                        stored.method,
                        stored.computed
                    ])?;
            }
        }
        let commits = commit(transaction)?;
        self.note_commits(commits);
        Ok(())
    }

    fn recommendations(&self, user: &str) -> Result<Option<StoredRecommendations>> {
        let user_id = self.user_id(user)?;
        self.stored_recommendations(user_id)
    }
}

impl SqliteStore {
    fn stored_recommendations(&self, user_id: i64) -> Result<Option<StoredRecommendations>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT paper_id, score, because, method, computed FROM recommendations
             WHERE user_id = ?1 ORDER BY rank",
        )?;
        let rows = statement.query_map([user_id], |row| {
            Ok((
                Recommendation {
                    paper_id: row.get(0)?,
                    score: row.get::<_, f64>(1)? as f32,
                    because: row.get(2)?,
                },
                row.get::<_, String>(3)?,
                row.get::<_, Timestamp>(4)?,
            ))
        })?;
        let mut stored: Option<StoredRecommendations> = None;
        for row in rows {
            let (paper, method, computed) = row?;
            stored
                .get_or_insert_with(|| StoredRecommendations {
                    method,
                    computed,
                    papers: Vec::new(),
                })
                .papers
                .push(paper);
        }
        Ok(stored)
    }
}

type UserRow = (i64, String, Timestamp, String);

fn read_user(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decode_user((id, name, created, settings): UserRow) -> Result<User> {
    let settings = serde_json::from_str(&settings).map_err(|err| StoreError::Corrupt {
        what: "user settings",
        detail: format!("user {name}: {err}"),
    })?;
    Ok(User {
        id,
        name,
        created,
        settings,
    })
}

/// Records papers as sent inside a transaction; returns how many were new.
/// Queues a digest's e-mail in the outbox table; returns its number.
fn insert_mail(
    transaction: &Transaction<'_>,
    user_id: i64,
    mail: &NewMail<'_>,
    at: Timestamp,
) -> Result<i64> {
    transaction.execute(
        "INSERT INTO mail_outbox (user_id, day, recipient, message, queued, channel)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            user_id,
            mail.day,
            mail.recipient,
            mail.message,
            at,
            mail.channel.as_str()
        ],
    )?;
    Ok(transaction.last_insert_rowid())
}

fn insert_sent(
    transaction: &Transaction<'_>,
    user_id: i64,
    paper_ids: &[&str],
    at: Timestamp,
) -> Result<usize> {
    let mut recorded = 0;
    for paper_id in paper_ids {
        if paper_by_id(transaction, paper_id)?.is_none() {
            return Err(StoreError::NoSuchPaper((*paper_id).to_owned()));
        }
        recorded += transaction
            .prepare_cached(
                "INSERT OR IGNORE INTO digests_sent (user_id, paper_id, sent)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![user_id, paper_id, at])?;
    }
    Ok(recorded)
}
