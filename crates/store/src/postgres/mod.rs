//! The store on PostgreSQL: one database that many paperscout processes share.
//!
//! Every method keeps the [`Store`] promises the SQLite file keeps, with the same errors: each
//! write is one transaction, so a crash of the process, or of the database, leaves every
//! committed write in place and nothing half-written. Where several processes write at once,
//! PostgreSQL's locks decide: a paper's merge holds an advisory lock for its transaction (two
//! daemons ingesting the same listing merge one after the other, not over each other), and a
//! day's digest is recorded once by the primary key of `deliveries`.
//!
//! A store holds one connection and prepares each statement once on it. When the connection
//! fails (the server restarted, the network went away) the request fails with
//! [`StoreError::Unavailable`] and the next request connects afresh.

mod cluster;
mod copy;
pub mod schema;
mod shards;
mod tls;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use paperscout_types::{ArxivId, Paper, PaperLinks, UserSettings, normalise_doi};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement};

pub use cluster::{
    ChangeBatch, ChangeListener, DaemonBeat, DaemonRow, EmbeddingChange, Leadership, PaperBatch,
    host_name,
};
pub use copy::{CopiedTable, copy_sqlite_to_postgres};
pub use shards::{RerankProgress, ShardLease};

use crate::error::{Result, StoreError};
use crate::merge::{after_write, merge};
use crate::records::{
    Change, Channel, Classification, Delivery, Feedback, FeedbackKind, ModelKey, ModelStats,
    NewMail, PaperWrite, ProfileItem, ProfileSubject, QueuedMail, Recommendation, Stats,
    StoredPaper, StoredRecommendations, Timestamp, User, UserState, WriteSummary, text_digest,
};
use crate::store::Store;

/// The columns [`read_paper`] expects, in its order. Their names are the papers table's own,
/// so the list may stand unqualified beside a join with the embeddings table.
macro_rules! paper_columns {
    () => {
        "id, arxiv_id, version, doi, title, abstract, authors, categories, date, comment, \
         abs_url, pdf_url, source, first_seen, updated"
    };
}
pub(crate) use paper_columns;

/// The advisory lock every transaction that writes papers or embeddings holds, from before it
/// takes its first `seq` to its commit. Merges are read, then written, and two processes merging the same
/// paper at once must not both read the old row; and with one such writer at a time, `seq`
/// order is commit order, so a follower that has read up to some `seq` never later finds a
/// smaller one committed.
const PAPER_WRITE_LOCK: i64 = 0x7061_7065_7273_0002;

/// Whether `text` is a PostgreSQL URL (`postgres://` or `postgresql://`).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The URL with its password replaced by `***`, fit for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = match credentials.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => credentials.to_owned(),
    };
    let tail = redact_query_password(tail);
    format!("{scheme}://{user}@{host}{tail}")
}

/// Hides a `password=` parameter of a URL's query.
fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// One connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// A client (or a transaction on it) with the connection's prepared statements: each query is
/// parsed and planned by the server once per connection, not once per call.
struct Db<'a, C> {
    client: &'a mut C,
    statements: &'a mut HashMap<&'static str, Statement>,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl<C: GenericClient> Db<'_, C> {
    fn prepared(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &'static str, params: &Params<'_>) -> Result<Vec<Row>> {
        let statement = self.prepared(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    fn query_opt(&mut self, sql: &'static str, params: &Params<'_>) -> Result<Option<Row>> {
        let statement = self.prepared(sql)?;
        Ok(self.client.query_opt(&statement, params)?)
    }

    fn query_one(&mut self, sql: &'static str, params: &Params<'_>) -> Result<Row> {
        let statement = self.prepared(sql)?;
        Ok(self.client.query_one(&statement, params)?)
    }

    fn execute(&mut self, sql: &'static str, params: &Params<'_>) -> Result<u64> {
        let statement = self.prepared(sql)?;
        Ok(self.client.execute(&statement, params)?)
    }

    fn user_id(&mut self, name: &str) -> Result<i64> {
        self.query_opt("SELECT id FROM users WHERE name = $1", &[&name])?
            .map(|row| row.try_get(0))
            .transpose()?
            .ok_or_else(|| StoreError::NoSuchUser(name.to_owned()))
    }

    fn paper_exists(&mut self, id: &str) -> Result<bool> {
        Ok(self
            .query_opt("SELECT 1 FROM papers WHERE id = $1", &[&id])?
            .is_some())
    }

    fn paper_by_id(&mut self, id: &str) -> Result<Option<StoredPaper>> {
        let row = self.query_opt(
            concat!("SELECT ", paper_columns!(), " FROM papers WHERE id = $1"),
            &[&id],
        )?;
        // A row too damaged to read is no paper: an ingest of it writes it afresh.
        Ok(row.as_ref().map(read_paper_or_skip).transpose()?.flatten())
    }

    fn model_id(&mut self, model: &ModelKey) -> Result<Option<i64>> {
        self.query_opt(
            "SELECT id FROM models WHERE name = $1 AND sha256 = $2",
            &[&model.name, &model.sha256],
        )?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(StoreError::from)
    }

    fn register_model(&mut self, model: &ModelKey) -> Result<i64> {
        let dim = model.dim as i64;
        self.execute(
            "INSERT INTO models (name, sha256, dim) VALUES ($1, $2, $3)
             ON CONFLICT (name, sha256) DO NOTHING",
            &[&model.name, &model.sha256, &dim],
        )?;
        self.model_id(model)?.ok_or_else(|| StoreError::Corrupt {
            what: "model table",
            detail: format!("model {} vanished while being registered", model.name),
        })
    }

    /// The stored papers among `ids`, by id, in one query.
    fn papers_by_ids(&mut self, ids: &[&str]) -> Result<HashMap<String, StoredPaper>> {
        let rows = self.query(
            concat!(
                "SELECT ",
                paper_columns!(),
                " FROM papers WHERE id = ANY($1)"
            ),
            &[&ids],
        )?;
        let mut papers = HashMap::with_capacity(rows.len());
        for row in &rows {
            if let Some(paper) = read_paper_or_skip(row)? {
                papers.insert(paper.paper.id.clone(), paper);
            }
        }
        Ok(papers)
    }

    /// The text digests of the embeddings under `model_id` stored for `ids`, by paper.
    fn embedding_digests(
        &mut self,
        model_id: i64,
        ids: &[&str],
    ) -> Result<HashMap<String, Vec<u8>>> {
        self.query(
            "SELECT paper_id, text_sha FROM embeddings WHERE model_id = $1 AND paper_id = ANY($2)",
            &[&model_id, &ids],
        )?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
    }

    /// Which of `ids` name no stored paper.
    fn missing_papers(&mut self, ids: &[&str]) -> Result<Vec<String>> {
        let found: std::collections::HashSet<String> = self
            .query("SELECT id FROM papers WHERE id = ANY($1)", &[&ids])?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        Ok(ids
            .iter()
            .filter(|id| !found.contains(**id))
            .map(|id| (*id).to_owned())
            .collect())
    }

    /// Writes papers (each id once), new or replacing, in one statement.
    fn write_paper_rows(&mut self, papers: &[(&Paper, &str)], now: Timestamp) -> Result<()> {
        if papers.is_empty() {
            return Ok(());
        }
        let text = |value: &str| no_nul(value).into_owned();
        let optional = |value: &Option<String>| value.as_deref().map(text);
        let mut columns = PaperColumns::default();
        for (paper, source) in papers {
            let links = paper.links.clone().unwrap_or_default();
            columns.id.push(text(&paper.id));
            columns.arxiv_id.push(optional(&paper.arxiv_id));
            columns.version.push(paper.version.map(i64::from));
            columns.doi.push(optional(&paper.doi));
            columns.title.push(text(&paper.title));
            columns.abstract_text.push(text(&paper.abstract_text));
            columns.authors.push(text(
                &serde_json::to_string(&paper.authors).unwrap_or_default(),
            ));
            columns.categories.push(text(
                &serde_json::to_string(&paper.categories).unwrap_or_default(),
            ));
            columns.date.push(optional(&paper.date));
            columns.comment.push(optional(&paper.comment));
            columns.abs_url.push(optional(&links.abs));
            columns.pdf_url.push(optional(&links.pdf));
            columns.source.push(text(source));
            columns.text_sha.push(text_digest(paper).to_vec());
        }
        self.execute(
            "INSERT INTO papers (id, arxiv_id, version, doi, title, abstract, authors, categories,
                                 date, comment, abs_url, pdf_url, source, text_sha, first_seen,
                                 updated)
             SELECT id, arxiv_id, version, doi, title, abstract, authors, categories, date,
                    comment, abs_url, pdf_url, source, text_sha, $15, $15
             FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                         $12::text[], $13::text[], $14::bytea[])
                  AS t(id, arxiv_id, version, doi, title, abstract, authors, categories, date,
                       comment, abs_url, pdf_url, source, text_sha)
             ON CONFLICT (id) DO UPDATE SET
                arxiv_id = excluded.arxiv_id, version = excluded.version, doi = excluded.doi,
                title = excluded.title, abstract = excluded.abstract,
                authors = excluded.authors, categories = excluded.categories,
                date = excluded.date, comment = excluded.comment, abs_url = excluded.abs_url,
                pdf_url = excluded.pdf_url, source = excluded.source,
                text_sha = excluded.text_sha, updated = excluded.updated,
                seq = nextval('embedding_changes')",
            &[
                &columns.id,
                &columns.arxiv_id,
                &columns.version,
                &columns.doi,
                &columns.title,
                &columns.abstract_text,
                &columns.authors,
                &columns.categories,
                &columns.date,
                &columns.comment,
                &columns.abs_url,
                &columns.pdf_url,
                &columns.source,
                &columns.text_sha,
                &now,
            ],
        )?;
        Ok(())
    }

    /// Stores embeddings (each paper once) under `model_id`, in one statement; each written
    /// row takes a new `seq`.
    fn write_embedding_rows(
        &mut self,
        model_id: i64,
        rows: &[(&str, [u8; 32], &[f32])],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = rows.iter().map(|(id, _, _)| *id).collect();
        let digests: Vec<&[u8]> = rows
            .iter()
            .map(|(_, digest, _)| digest.as_slice())
            .collect();
        let vectors: Vec<Vec<u8>> = rows
            .iter()
            .map(|(_, _, vector)| crate::vector_bytes::encode(vector))
            .collect();
        self.execute(
            "INSERT INTO embeddings (paper_id, model_id, text_sha, vector)
             SELECT paper_id, $1, text_sha, vector
             FROM unnest($2::text[], $3::bytea[], $4::bytea[]) AS t(paper_id, text_sha, vector)
             ON CONFLICT (paper_id, model_id) DO UPDATE SET text_sha = excluded.text_sha,
                 vector = excluded.vector, seq = nextval('embedding_changes')",
            &[&model_id, &ids, &digests, &vectors],
        )?;
        Ok(())
    }

    fn insert_sent(&mut self, user_id: i64, paper_ids: &[&str], at: Timestamp) -> Result<usize> {
        let mut recorded = 0;
        for paper_id in paper_ids {
            if !self.paper_exists(paper_id)? {
                return Err(StoreError::NoSuchPaper((*paper_id).to_owned()));
            }
            recorded += self.execute(
                "INSERT INTO digests_sent (user_id, paper_id, sent) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, paper_id) DO NOTHING",
                &[&user_id, paper_id, &at],
            )? as usize;
        }
        Ok(recorded)
    }

    fn insert_mail(&mut self, user_id: i64, mail: &NewMail<'_>, at: Timestamp) -> Result<i64> {
        let row = self.query_one(
            "INSERT INTO mail_outbox (user_id, day, recipient, message, queued, channel)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &user_id,
                &mail.day,
                &mail.recipient,
                &mail.message,
                &at,
                &mail.channel.as_str(),
            ],
        )?;
        Ok(row.try_get(0)?)
    }
}

/// A batch of papers as one array per column, for one `INSERT ... SELECT FROM unnest(...)`.
#[derive(Default)]
struct PaperColumns {
    id: Vec<String>,
    arxiv_id: Vec<Option<String>>,
    version: Vec<Option<i64>>,
    doi: Vec<Option<String>>,
    title: Vec<String>,
    abstract_text: Vec<String>,
    authors: Vec<String>,
    categories: Vec<String>,
    date: Vec<Option<String>>,
    comment: Vec<Option<String>>,
    abs_url: Vec<Option<String>>,
    pdf_url: Vec<Option<String>>,
    source: Vec<String>,
    text_sha: Vec<Vec<u8>>,
}

/// PostgreSQL's text holds no NUL character, which SQLite and JSON allow; a paper's text that
/// has one is stored with U+FFFD in its place rather than refused.
fn no_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Reads a paper's row (columns of [`paper_columns!`]); a list column that is not JSON is an
/// error of the row, told apart from the store's by [`read_paper_or_skip`].
fn read_paper(row: &Row) -> Result<std::result::Result<StoredPaper, String>> {
    let id: String = row.try_get(0)?;
    let json_list = |index: usize| -> Result<std::result::Result<Vec<String>, String>> {
        let text: String = row.try_get(index)?;
        Ok(serde_json::from_str(&text).map_err(|err| err.to_string()))
    };
    let authors = match json_list(6)? {
        Ok(list) => list,
        Err(err) => return Ok(Err(err)),
    };
    let categories = match json_list(7)? {
        Ok(list) => list,
        Err(err) => return Ok(Err(err)),
    };
    let version: Option<i64> = row.try_get(2)?;
    let abs: Option<String> = row.try_get(10)?;
    let pdf: Option<String> = row.try_get(11)?;
    let paper = Paper {
        id,
        arxiv_id: row.try_get(1)?,
        version: version.and_then(|version| u32::try_from(version).ok()),
        doi: row.try_get(3)?,
        title: row.try_get(4)?,
        abstract_text: row.try_get(5)?,
        authors,
        categories,
        date: row.try_get(8)?,
        comment: row.try_get(9)?,
        links: (abs.is_some() || pdf.is_some()).then_some(PaperLinks { abs, pdf }),
    };
    let stored = StoredPaper {
        paper,
        source: row.try_get(12)?,
        first_seen: row.try_get(13)?,
        updated: row.try_get(14)?,
    };
    Ok(Ok(stored))
}

/// [`read_paper`] for a scan: a row whose lists are not JSON (changed behind paperscout's back)
/// is skipped and named in a warning, so one damaged row does not stop every scan.
fn read_paper_or_skip(row: &Row) -> Result<Option<StoredPaper>> {
    match read_paper(row)? {
        Ok(read) => Ok(Some(read)),
        Err(err) => {
            let id: String = row.try_get(0)?;
            tracing::warn!(
                paper = %id,
                "a damaged row of the store is skipped ({err}); ingest the paper again to \
                 replace it"
            );
            Ok(None)
        }
    }
}

fn papers_of(rows: &[Row]) -> Result<Vec<StoredPaper>> {
    let mut papers = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(paper) = read_paper_or_skip(row)? {
            papers.push(paper);
        }
    }
    Ok(papers)
}

fn decode_user(row: &Row) -> Result<User> {
    let name: String = row.try_get(1)?;
    let settings: String = row.try_get(3)?;
    let settings = serde_json::from_str(&settings).map_err(|err| StoreError::Corrupt {
        what: "user settings",
        detail: format!("user {name}: {err}"),
    })?;
    Ok(User {
        id: row.try_get(0)?,
        name,
        created: row.try_get(2)?,
        settings,
    })
}

fn parse_kind(kind: &str) -> Result<FeedbackKind> {
    kind.parse().map_err(|detail| StoreError::Corrupt {
        what: "feedback kind",
        detail,
    })
}

/// Whether a failed call means the connection is gone rather than that the call was wrong.
fn is_disconnection(err: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::CONNECTION_DOES_NOT_EXIST,
        ]
        .contains(code),
        // No server error: the socket itself failed (refused, reset, timed out).
        None => std::error::Error::source(err)
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// A paperscout store in a PostgreSQL database.
pub struct PostgresStore {
    connector: tls::Connector,
    /// The URL, its password hidden: what messages and logs name.
    place: String,
    /// The connection, `None` until the first request and after one failed.
    connection: Mutex<Option<Connection>>,
    read_only: bool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("place", &self.place)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PostgresStore {
    /// Connects to the database at `url` for reading and writing, bringing its schema up to
    /// date. Any number of processes may hold such a store at once.
    pub fn open(url: &str) -> Result<Self> {
        let store = Self::configure(url, false)?;
        store.with_client(|client| schema::migrate(client, &store.place))?;
        Ok(store)
    }

    /// Connects to an existing paperscout database for reading only: nothing is migrated, and
    /// every write fails with [`StoreError::ReadOnly`].
    pub fn open_read_only(url: &str) -> Result<Self> {
        let store = Self::configure(url, true)?;
        let found = store.with_client(schema::version)?;
        schema::check_not_too_new(&store.place, found)?;
        if found < schema::current_version() {
            return Err(StoreError::Corrupt {
                what: "schema version",
                detail: format!(
                    "the database {} has version {found} and needs an upgrade; run a writing \
                     command such as `paperscout ingest` once",
                    store.place
                ),
            });
        }
        Ok(store)
    }

    fn configure(url: &str, read_only: bool) -> Result<Self> {
        let place = redact_url(url);
        let mut connector = tls::connector(url, &place)?;
        let config = &mut connector.config;
        if config.get_application_name().is_none() {
            config.application_name("paperscout");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let store = Self {
            connector,
            place,
            connection: Mutex::new(None),
            read_only,
        };
        // Connect now, so that a wrong URL or a server that is down is said at once.
        store.with_client(|_| Ok(()))?;
        Ok(store)
    }

    /// Another store on the same database with a connection of its own (made at its first
    /// call), for a thread that must not wait on this one's; nothing is checked or migrated
    /// again.
    pub fn sibling(&self) -> Self {
        Self {
            connector: self.connector.clone(),
            place: self.place.clone(),
            connection: Mutex::new(None),
            read_only: self.read_only,
        }
    }

    /// The database, its password hidden.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// A new connection of its own to the same database (for `LISTEN`, a leader's lock, a
    /// copy), outside the store's.
    pub fn connect_again(&self) -> Result<Client> {
        self.connector
            .connect()
            .map_err(|err| self.unavailable(&err))
    }

    fn unavailable(&self, err: &postgres::Error) -> StoreError {
        if err.to_string().contains("TLS") {
            // A certificate that does not check out is no outage: waiting will not fix it.
            let detail =
                std::error::Error::source(err).map_or_else(|| err.to_string(), ToString::to_string);
            return StoreError::Tls {
                place: self.place.clone(),
                detail,
            };
        }
        StoreError::Unavailable {
            place: self.place.clone(),
            detail: err.to_string(),
        }
    }

    /// Runs `work` on the store's connection, connecting first when there is none. A failure
    /// that lost the connection is [`StoreError::Unavailable`], and the connection is dropped
    /// so that the next call connects afresh; but when the connection was an old one (idle
    /// while the server restarted, say), `work` is run once more on a new one first. `work`
    /// must be safe to run twice: reads are; [`Self::write`] makes a write so.
    fn with<T>(&self, mut work: impl FnMut(&mut Db<'_, Client>) -> Result<T>) -> Result<T> {
        let mut slot = lock(&self.connection);
        let mut retried = false;
        loop {
            let fresh = match slot.as_ref() {
                Some(connection) if !connection.client.is_closed() => false,
                _ => {
                    *slot = None;
                    let client = self.connect_again()?;
                    *slot = Some(Connection {
                        client,
                        statements: HashMap::new(),
                    });
                    true
                }
            };
            let Some(connection) = slot.as_mut() else {
                return Err(StoreError::Unavailable {
                    place: self.place.clone(),
                    detail: "no connection".to_owned(),
                });
            };
            let mut db = Db {
                client: &mut connection.client,
                statements: &mut connection.statements,
            };
            match work(&mut db) {
                Err(StoreError::Postgres(err)) if is_disconnection(&err) => {
                    *slot = None;
                    if fresh || retried {
                        return Err(self.unavailable(&err));
                    }
                    retried = true;
                }
                Err(err @ StoreError::Unavailable { .. }) => {
                    *slot = None;
                    return Err(err);
                }
                result => return result,
            }
        }
    }

    fn with_client<T>(&self, mut work: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        self.with(|db| work(db.client))
    }

    /// [`Self::with`] for a write: refused on a read-only store; `work` runs in one
    /// transaction, committed when it returns `Ok`. It is run again on a new connection only
    /// when the old one failed before the transaction began; a connection lost after that
    /// (when the commit's fate may be unknown) is [`StoreError::Unavailable`] at once.
    fn write<T>(
        &self,
        work: impl FnOnce(&mut Db<'_, postgres::Transaction<'_>>) -> Result<T>,
    ) -> Result<T> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut work = Some(work);
        self.with(|db| {
            let mut transaction = db.client.transaction()?;
            let Some(work) = work.take() else {
                return Err(StoreError::Unavailable {
                    place: self.place.clone(),
                    detail: "the connection was lost during the write".to_owned(),
                });
            };
            let written = work(&mut Db {
                client: &mut transaction,
                statements: db.statements,
            })
            .and_then(|value| Ok(transaction.commit().map(|()| value)?));
            match written {
                Err(StoreError::Postgres(err)) if is_disconnection(&err) => {
                    Err(self.unavailable(&err))
                }
                written => written,
            }
        })
    }

    fn stored_recommendations(
        db: &mut Db<'_, Client>,
        user_id: i64,
    ) -> Result<Option<StoredRecommendations>> {
        let rows = db.query(
            "SELECT paper_id, score, because, method, computed FROM recommendations
             WHERE user_id = $1 ORDER BY rank",
            &[&user_id],
        )?;
        let mut stored: Option<StoredRecommendations> = None;
        for row in &rows {
            let paper = Recommendation {
                paper_id: row.try_get(0)?,
                score: row.try_get::<_, f64>(1)? as f32,
                because: row.try_get(2)?,
            };
            if stored.is_none() {
                stored = Some(StoredRecommendations {
                    method: row.try_get(3)?,
                    computed: row.try_get(4)?,
                    papers: Vec::new(),
                });
            }
            if let Some(stored) = stored.as_mut() {
                stored.papers.push(paper);
            }
        }
        Ok(stored)
    }
}

impl Store for PostgresStore {
    fn classify(&self, papers: &[Paper], model: Option<&ModelKey>) -> Result<Vec<Classification>> {
        // Two queries for the whole batch: a round trip per paper was most of an ingest's
        // time on PostgreSQL.
        let ids: Vec<&str> = papers.iter().map(|paper| paper.id.as_str()).collect();
        self.with(|db| {
            let stored = db.papers_by_ids(&ids)?;
            let digests = match model {
                Some(model) => match db.model_id(model)? {
                    Some(model_id) => db.embedding_digests(model_id, &ids)?,
                    None => HashMap::new(),
                },
                None => HashMap::new(),
            };
            Ok(papers
                .iter()
                .map(|incoming| {
                    let stored = stored.get(&incoming.id).map(|s| &s.paper);
                    let (change, merged) = merge(stored, incoming);
                    let after = after_write(change, merged.as_ref(), stored);
                    let needs_embedding = match (model, after) {
                        (Some(_), Some(paper)) => {
                            digests.get(&paper.id).map(Vec::as_slice)
                                != Some(text_digest(paper).as_slice())
                        }
                        _ => false,
                    };
                    Classification {
                        change,
                        needs_embedding,
                    }
                })
                .collect())
        })
    }

    fn write_papers(
        &mut self,
        writes: &[PaperWrite<'_>],
        model: Option<&ModelKey>,
        now: Timestamp,
    ) -> Result<WriteSummary> {
        let ids: Vec<&str> = writes.iter().map(|write| write.paper.id.as_str()).collect();
        self.write(|db| {
            db.execute("SELECT pg_advisory_xact_lock($1)", &[&PAPER_WRITE_LOCK])?;
            // Delivered at the commit, to every daemon listening: its follower looks at once.
            db.execute("SELECT pg_notify($1, '')", &[&cluster::CHANGES_CHANNEL])?;
            let model_id = match model {
                Some(model) => Some(db.register_model(model)?),
                None => None,
            };
            // The stored papers, then each write merged over the paper as the batch has left
            // it (a paper twice in one batch meets its first record), written once at the end.
            let mut current: HashMap<String, Paper> = db
                .papers_by_ids(&ids)?
                .into_iter()
                .map(|(id, stored)| (id, stored.paper))
                .collect();
            let mut sources: HashMap<String, &str> = HashMap::new();
            let mut embeddings: HashMap<&str, ([u8; 32], &[f32])> = HashMap::new();
            let mut summary = WriteSummary::default();
            for write in writes {
                let incoming = write.paper;
                let (change, merged) = merge(current.get(&incoming.id), incoming);
                summary.count(change);
                if let Some(merged) = merged {
                    sources.insert(merged.id.clone(), write.source);
                    current.insert(merged.id.clone(), merged);
                }
                if let (Some(vector), Some(model), Some(_)) = (write.embedding, model, model_id)
                    && change != Change::Older
                {
                    model.check(&incoming.id, vector)?;
                    embeddings.insert(incoming.id.as_str(), (text_digest(incoming), vector));
                    summary.embedded += 1;
                }
            }
            let mut rows: Vec<(&Paper, &str)> = sources
                .iter()
                .filter_map(|(id, source)| Some((current.get(id)?, *source)))
                .collect();
            rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
            db.write_paper_rows(&rows, now)?;
            if let Some(model_id) = model_id {
                let mut rows: Vec<(&str, [u8; 32], &[f32])> = embeddings
                    .into_iter()
                    .map(|(id, (digest, vector))| (id, digest, vector))
                    .collect();
                rows.sort_by(|a, b| a.0.cmp(b.0));
                db.write_embedding_rows(model_id, &rows)?;
            }
            Ok(summary)
        })
    }

    fn paper(&self, id: &str) -> Result<Option<StoredPaper>> {
        self.with(|db| db.paper_by_id(id))
    }

    fn find_paper(&self, key: &str) -> Result<Option<StoredPaper>> {
        if let Some(found) = self.paper(key.trim())? {
            return Ok(Some(found));
        }
        self.with(|db| {
            let rows = if let Some(id) = ArxivId::parse(key) {
                db.query(
                    concat!(
                        "SELECT ",
                        paper_columns!(),
                        " FROM papers WHERE arxiv_id = $1"
                    ),
                    &[&id.base],
                )?
            } else if let Some(doi) = normalise_doi(key) {
                db.query(
                    concat!(
                        "SELECT ",
                        paper_columns!(),
                        " FROM papers WHERE doi = $1 ORDER BY id LIMIT 1"
                    ),
                    &[&doi],
                )?
            } else {
                return Ok(None);
            };
            Ok(papers_of(&rows)?.into_iter().next())
        })
    }

    fn papers_announced(&self, from: &str, to: &str) -> Result<Vec<StoredPaper>> {
        self.with(|db| {
            let rows = db.query(
                concat!(
                    "SELECT ",
                    paper_columns!(),
                    " FROM papers WHERE date BETWEEN $1 AND $2 ORDER BY date, id"
                ),
                &[&from, &to],
            )?;
            papers_of(&rows)
        })
    }

    fn missing_embeddings(
        &self,
        model: &ModelKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Paper>> {
        self.with(|db| {
            let model_id = db.model_id(model)?.unwrap_or(-1);
            let limit = limit as i64;
            let rows = db.query(
                concat!(
                    "SELECT ",
                    paper_columns!(),
                    " FROM papers p
                     WHERE p.id > $1 AND NOT EXISTS (
                         SELECT 1 FROM embeddings e
                         WHERE e.paper_id = p.id AND e.model_id = $2 AND e.text_sha = p.text_sha)
                     ORDER BY p.id LIMIT $3"
                ),
                &[&after.unwrap_or(""), &model_id, &limit],
            )?;
            Ok(papers_of(&rows)?
                .into_iter()
                .map(|stored| stored.paper)
                .collect())
        })
    }

    fn put_embeddings(&mut self, model: &ModelKey, rows: &[(&Paper, &[f32])]) -> Result<usize> {
        for (paper, vector) in rows {
            model.check(&paper.id, vector)?;
        }
        let ids: Vec<&str> = rows.iter().map(|(paper, _)| paper.id.as_str()).collect();
        self.write(|db| {
            db.execute("SELECT pg_advisory_xact_lock($1)", &[&PAPER_WRITE_LOCK])?;
            db.execute("SELECT pg_notify($1, '')", &[&cluster::CHANGES_CHANNEL])?;
            if let Some(missing) = db.missing_papers(&ids)?.into_iter().next() {
                return Err(StoreError::NoSuchPaper(missing));
            }
            let model_id = db.register_model(model)?;
            // The last vector given for a paper wins, as when they were written one by one.
            let mut latest: HashMap<&str, ([u8; 32], &[f32])> = HashMap::new();
            for (paper, vector) in rows {
                latest.insert(paper.id.as_str(), (text_digest(paper), vector));
            }
            let mut batch: Vec<(&str, [u8; 32], &[f32])> = latest
                .into_iter()
                .map(|(id, (digest, vector))| (id, digest, vector))
                .collect();
            batch.sort_by(|a, b| a.0.cmp(b.0));
            db.write_embedding_rows(model_id, &batch)?;
            Ok(rows.len())
        })
    }

    fn embedding(&self, paper_id: &str, model: &ModelKey) -> Result<Option<Vec<f32>>> {
        self.with(|db| {
            let bytes: Option<Vec<u8>> = db
                .query_opt(
                    "SELECT e.vector FROM embeddings e
                     JOIN papers p ON p.id = e.paper_id AND p.text_sha = e.text_sha
                     JOIN models m ON m.id = e.model_id
                     WHERE e.paper_id = $1 AND m.name = $2 AND m.sha256 = $3",
                    &[&paper_id, &model.name, &model.sha256],
                )?
                .map(|row| row.try_get(0))
                .transpose()?;
            bytes
                .as_deref()
                .map(crate::vector_bytes::decode)
                .transpose()
        })
    }

    fn for_each_embedding(
        &self,
        model: &ModelKey,
        visit: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<usize> {
        self.with(|db| {
            let Some(model_id) = db.model_id(model)? else {
                return Ok(0);
            };
            let statement = db.prepared(
                "SELECT e.paper_id, e.vector FROM embeddings e
                 JOIN papers p ON p.id = e.paper_id AND p.text_sha = e.text_sha
                 WHERE e.model_id = $1 ORDER BY e.paper_id",
            )?;
            // Streamed row by row: a million vectors are not held at once.
            let mut rows = db.client.query_raw(&statement, [&model_id])?;
            let mut count = 0;
            while let Some(row) = rows.next()? {
                let id: &str = row.try_get(0)?;
                let vector = crate::vector_bytes::decode(row.try_get::<_, &[u8]>(1)?)?;
                visit(id, &vector);
                count += 1;
            }
            Ok(count)
        })
    }

    fn stats(&self) -> Result<Stats> {
        self.with(|db| {
            let row = db.query_one("SELECT count(*), min(date), max(date) FROM papers", &[])?;
            let papers = row.try_get::<_, i64>(0)? as u64;
            let first_date: Option<String> = row.try_get(1)?;
            let last_date: Option<String> = row.try_get(2)?;
            let users = db
                .query_one("SELECT count(*) FROM users", &[])?
                .try_get::<_, i64>(0)? as u64;
            let mut models = Vec::new();
            for row in db.query(
                "SELECT m.name, m.sha256, m.dim, count(p.id) FROM models m
                 LEFT JOIN embeddings e ON e.model_id = m.id
                 LEFT JOIN papers p ON p.id = e.paper_id AND p.text_sha = e.text_sha
                 GROUP BY m.id ORDER BY m.name, m.sha256",
                &[],
            )? {
                models.push(ModelStats {
                    name: row.try_get(0)?,
                    sha256: row.try_get(1)?,
                    dim: row.try_get::<_, i64>(2)? as usize,
                    count: row.try_get::<_, i64>(3)? as u64,
                });
            }
            let bytes: i64 = db
                .query_one("SELECT pg_database_size(current_database())", &[])?
                .try_get(0)?;
            Ok(Stats {
                papers,
                embeddings: models.iter().map(|model| model.count).sum(),
                models,
                users,
                first_date,
                last_date,
                file_bytes: Some(bytes.max(0) as u64),
            })
        })
    }

    fn add_user(&mut self, name: &str, now: Timestamp) -> Result<User> {
        paperscout_types::check_user_name(name)?;
        self.write(|db| {
            let row = db.query_opt(
                "INSERT INTO users (name, created) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name, &now],
            )?;
            let Some(row) = row else {
                return Err(StoreError::UserExists(name.to_owned()));
            };
            Ok(User {
                id: row.try_get(0)?,
                name: name.to_owned(),
                created: now,
                settings: UserSettings::default(),
            })
        })
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        self.with(|db| {
            db.query_opt(
                "SELECT id, name, created, settings FROM users WHERE name = $1",
                &[&name],
            )?
            .as_ref()
            .map(decode_user)
            .transpose()
        })
    }

    fn users(&self) -> Result<Vec<User>> {
        self.with(|db| {
            db.query(
                "SELECT id, name, created, settings FROM users ORDER BY name",
                &[],
            )?
            .iter()
            .map(decode_user)
            .collect()
        })
    }

    /// One round trip: the user's row with their items, ratings and sent papers gathered by
    /// the server (as JSON and an array), in the orders of the separate reads.
    fn user_state(&self, name: &str) -> Result<Option<UserState>> {
        #[derive(serde::Deserialize)]
        struct ItemRow {
            paper: Option<String>,
            interest: Option<String>,
            weight: f64,
            added: Timestamp,
        }
        #[derive(serde::Deserialize)]
        struct RatingRow {
            paper: String,
            kind: String,
            at: Timestamp,
        }
        let corrupt = |what: &'static str| {
            move |err: serde_json::Error| StoreError::Corrupt {
                what,
                detail: err.to_string(),
            }
        };
        self.with(|db| {
            let Some(row) = db.query_opt(
                "SELECT u.id, u.name, u.created, u.settings,
                    coalesce((SELECT json_agg(json_build_object('paper', p.paper_id,
                                  'interest', p.interest, 'weight', p.weight, 'added', p.added)
                                  ORDER BY p.added, p.id)
                              FROM profile_items p WHERE p.user_id = u.id)::text, '[]'),
                    coalesce((SELECT json_agg(json_build_object('paper', f.paper_id,
                                  'kind', f.kind, 'at', f.at) ORDER BY f.at, f.id)
                              FROM feedback f WHERE f.user_id = u.id)::text, '[]'),
                    coalesce((SELECT array_agg(s.paper_id ORDER BY s.paper_id)
                              FROM digests_sent s WHERE s.user_id = u.id), '{}')
                 FROM users u WHERE u.name = $1",
                &[&name],
            )?
            else {
                return Ok(None);
            };
            let user = decode_user(&row)?;
            let items: Vec<ItemRow> =
                serde_json::from_str(row.try_get(4)?).map_err(corrupt("profile item"))?;
            let ratings: Vec<RatingRow> =
                serde_json::from_str(row.try_get(5)?).map_err(corrupt("feedback"))?;
            let profile = items
                .into_iter()
                .map(|item| ProfileItem {
                    subject: match item.paper {
                        Some(id) => ProfileSubject::Paper(id),
                        None => ProfileSubject::Interest(item.interest.unwrap_or_default()),
                    },
                    weight: item.weight as f32,
                    added: item.added,
                })
                .collect();
            let feedback = ratings
                .into_iter()
                .map(|rating| {
                    Ok(Feedback {
                        paper_id: rating.paper,
                        kind: parse_kind(&rating.kind)?,
                        at: rating.at,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(Some(UserState {
                user,
                profile,
                feedback,
                sent: row.try_get(6)?,
            }))
        })
    }

    fn remove_user(&mut self, name: &str) -> Result<bool> {
        self.write(|db| Ok(db.execute("DELETE FROM users WHERE name = $1", &[&name])? > 0))
    }

    fn add_profile_item(&mut self, user: &str, item: &ProfileItem) -> Result<()> {
        self.write(|db| {
            let user_id = db.user_id(user)?;
            let (paper_id, interest) = match &item.subject {
                ProfileSubject::Paper(id) => {
                    if !db.paper_exists(id)? {
                        return Err(StoreError::NoSuchPaper(id.clone()));
                    }
                    (Some(id.as_str()), None)
                }
                ProfileSubject::Interest(text) => (None, Some(no_nul(text))),
            };
            let weight = f64::from(item.weight);
            db.execute(
                "INSERT INTO profile_items (user_id, paper_id, interest, weight, added)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&user_id, &paper_id, &interest, &weight, &item.added],
            )?;
            Ok(())
        })
    }

    fn profile(&self, user: &str) -> Result<Vec<ProfileItem>> {
        self.with(|db| {
            // One round trip: the user's row joined with their items (none: no such user).
            let rows = db.query(
                "SELECT p.paper_id, p.interest, p.weight, p.added FROM users u
                 LEFT JOIN profile_items p ON p.user_id = u.id
                 WHERE u.name = $1 ORDER BY p.added, p.id",
                &[&user],
            )?;
            if rows.is_empty() {
                return Err(StoreError::NoSuchUser(user.to_owned()));
            }
            let mut items = Vec::with_capacity(rows.len());
            for row in &rows {
                let Some(weight) = row.try_get::<_, Option<f64>>(2)? else {
                    continue;
                };
                let paper: Option<String> = row.try_get(0)?;
                let interest: Option<String> = row.try_get(1)?;
                let subject = match paper {
                    Some(id) => ProfileSubject::Paper(id),
                    None => ProfileSubject::Interest(interest.unwrap_or_default()),
                };
                items.push(ProfileItem {
                    subject,
                    weight: weight as f32,
                    added: row.try_get(3)?,
                });
            }
            Ok(items)
        })
    }

    fn remove_profile_paper(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        self.write(|db| {
            let user_id = db.user_id(user)?;
            Ok(db.execute(
                "DELETE FROM profile_items WHERE user_id = $1 AND paper_id = $2",
                &[&user_id, &paper_id],
            )? as usize)
        })
    }

    fn add_feedback(&mut self, user: &str, feedback: &Feedback) -> Result<()> {
        self.add_feedback_many(&[(user, feedback.clone())])
    }

    /// Ratings commit without waiting for the server's disk (`synchronous_commit = off` for
    /// their transaction), as the SQLite store commits them without a sync: a person waits on
    /// each. A crash of the server may lose the last fraction of a second of them, never the
    /// database's consistency.
    fn add_feedback_many(&mut self, events: &[(&str, Feedback)]) -> Result<()> {
        self.write(|db| {
            let mut rows = Vec::with_capacity(events.len());
            for (user, feedback) in events {
                let user_id = db.user_id(user)?;
                if !db.paper_exists(&feedback.paper_id)? {
                    return Err(StoreError::NoSuchPaper(feedback.paper_id.clone()));
                }
                rows.push((user_id, feedback));
            }
            db.execute("SET LOCAL synchronous_commit = off", &[])?;
            for (user_id, feedback) in rows {
                db.execute(
                    "INSERT INTO feedback (user_id, paper_id, kind, at) VALUES ($1, $2, $3, $4)",
                    &[
                        &user_id,
                        &feedback.paper_id,
                        &feedback.kind.as_str(),
                        &feedback.at,
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn feedback(&self, user: &str) -> Result<Vec<Feedback>> {
        self.with(|db| {
            let rows = db.query(
                "SELECT f.paper_id, f.kind, f.at FROM users u
                 LEFT JOIN feedback f ON f.user_id = u.id
                 WHERE u.name = $1 ORDER BY f.at, f.id",
                &[&user],
            )?;
            if rows.is_empty() {
                return Err(StoreError::NoSuchUser(user.to_owned()));
            }
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                let Some(paper_id) = row.try_get::<_, Option<String>>(0)? else {
                    continue;
                };
                events.push(Feedback {
                    paper_id,
                    kind: parse_kind(row.try_get(1)?)?,
                    at: row.try_get(2)?,
                });
            }
            Ok(events)
        })
    }

    fn latest_feedback(&self, user: &str, paper_id: &str) -> Result<Option<FeedbackKind>> {
        self.with(|db| {
            let user_id = db.user_id(user)?;
            db.query_opt(
                "SELECT kind FROM feedback WHERE user_id = $1 AND paper_id = $2
                 ORDER BY at DESC, id DESC LIMIT 1",
                &[&user_id, &paper_id],
            )?
            .map(|row| parse_kind(row.try_get(0)?))
            .transpose()
        })
    }

    fn remove_feedback(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        self.write(|db| {
            let user_id = db.user_id(user)?;
            Ok(db.execute(
                "DELETE FROM feedback WHERE user_id = $1 AND paper_id = $2",
                &[&user_id, &paper_id],
            )? as usize)
        })
    }

    fn record_sent(&mut self, user: &str, paper_ids: &[&str], at: Timestamp) -> Result<usize> {
        self.write(|db| {
            let user_id = db.user_id(user)?;
            db.insert_sent(user_id, paper_ids, at)
        })
    }

    fn sent(&self, user: &str) -> Result<Vec<String>> {
        self.with(|db| {
            let rows = db.query(
                "SELECT s.paper_id FROM users u
                 LEFT JOIN digests_sent s ON s.user_id = u.id
                 WHERE u.name = $1 ORDER BY s.paper_id",
                &[&user],
            )?;
            if rows.is_empty() {
                return Err(StoreError::NoSuchUser(user.to_owned()));
            }
            let mut sent = Vec::with_capacity(rows.len());
            for row in &rows {
                if let Some(id) = row.try_get::<_, Option<String>>(0)? {
                    sent.push(id);
                }
            }
            Ok(sent)
        })
    }

    fn set_user_settings(&mut self, user: &str, settings: &UserSettings) -> Result<()> {
        let json = serde_json::to_string(settings).map_err(|err| StoreError::Corrupt {
            what: "user settings",
            detail: err.to_string(),
        })?;
        self.write(|db| {
            let user_id = db.user_id(user)?;
            db.execute(
                "UPDATE users SET settings = $2 WHERE id = $1",
                &[&user_id, &no_nul(&json)],
            )?;
            Ok(())
        })
    }

    fn record_sent_with_mail(
        &mut self,
        user: &str,
        paper_ids: &[&str],
        at: Timestamp,
        mail: &NewMail<'_>,
    ) -> Result<(usize, i64)> {
        self.write(|db| {
            let user_id = db.user_id(user)?;
            let recorded = db.insert_sent(user_id, paper_ids, at)?;
            let id = db.insert_mail(user_id, mail, at)?;
            Ok((recorded, id))
        })
    }

    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(usize, Vec<i64>)> {
        self.write(|db| {
            let user_id = db.user_id(delivery.user)?;
            // A second daemon recording the same day waits here for the first to commit, then
            // finds the row.
            let fresh = db.execute(
                "INSERT INTO deliveries (user_id, day, at) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, day) DO NOTHING",
                &[&user_id, &delivery.day, &delivery.at],
            )?;
            if fresh == 0 {
                return Err(StoreError::AlreadyDelivered {
                    user: delivery.user.to_owned(),
                    day: delivery.day.to_owned(),
                });
            }
            let recorded = db.insert_sent(user_id, delivery.paper_ids, delivery.at)?;
            let mail = delivery
                .messages
                .iter()
                .map(|mail| db.insert_mail(user_id, mail, delivery.at))
                .collect::<Result<Vec<_>>>()?;
            Ok((recorded, mail))
        })
    }

    fn delivered_on(&self, user: &str, day: &str) -> Result<bool> {
        self.with(|db| {
            let user_id = db.user_id(user)?;
            Ok(db
                .query_opt(
                    "SELECT 1 FROM deliveries WHERE user_id = $1 AND day = $2",
                    &[&user_id, &day],
                )?
                .is_some())
        })
    }

    fn last_delivery(&self, user: &str) -> Result<Option<String>> {
        self.with(|db| {
            let user_id = db.user_id(user)?;
            Ok(db
                .query_one(
                    "SELECT max(day) FROM deliveries WHERE user_id = $1",
                    &[&user_id],
                )?
                .try_get(0)?)
        })
    }

    fn undelivered_mail(&self) -> Result<Vec<QueuedMail>> {
        self.with(|db| {
            let rows = db.query(
                "SELECT m.id, u.name, m.day, m.recipient, m.message, m.queued, m.attempts,
                        m.last_error, m.channel, m.last_attempt
                 FROM mail_outbox m JOIN users u ON u.id = m.user_id
                 WHERE m.delivered IS NULL ORDER BY m.queued, m.id",
                &[],
            )?;
            let mut queued = Vec::with_capacity(rows.len());
            for row in &rows {
                // A message of a channel this paperscout does not know waits for one that does.
                let Some(channel) = Channel::parse(row.try_get(8)?) else {
                    continue;
                };
                queued.push(QueuedMail {
                    id: row.try_get(0)?,
                    channel,
                    user: row.try_get(1)?,
                    day: row.try_get(2)?,
                    recipient: row.try_get(3)?,
                    message: row.try_get(4)?,
                    queued: row.try_get(5)?,
                    attempts: u32::try_from(row.try_get::<_, i64>(6)?).unwrap_or(u32::MAX),
                    last_error: row.try_get(7)?,
                    last_attempt: row.try_get(9)?,
                });
            }
            Ok(queued)
        })
    }

    fn mail_delivered(&mut self, id: i64, at: Timestamp) -> Result<()> {
        self.write(|db| {
            db.execute(
                "UPDATE mail_outbox SET delivered = $2, attempts = attempts + 1, last_error = NULL
                 WHERE id = $1",
                &[&id, &at],
            )?;
            Ok(())
        })
    }

    fn mail_failed(&mut self, id: i64, error: &str, at: Timestamp) -> Result<()> {
        self.write(|db| {
            db.execute(
                "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2,
                     last_attempt = $3
                 WHERE id = $1",
                &[&id, &no_nul(error), &at],
            )?;
            Ok(())
        })
    }

    fn set_recommendations(&mut self, users: &[(&str, &StoredRecommendations)]) -> Result<()> {
        self.write(|db| {
            for (user, stored) in users {
                let user_id = db.user_id(user)?;
                db.execute(
                    "DELETE FROM recommendations WHERE user_id = $1",
                    &[&user_id],
                )?;
                for (rank, paper) in stored.papers.iter().enumerate() {
                    if !db.paper_exists(&paper.paper_id)? {
                        return Err(StoreError::NoSuchPaper(paper.paper_id.clone()));
                    }
                    let rank = rank as i64;
                    let score = f64::from(paper.score);
                    db.execute(
                        "INSERT INTO recommendations
                         (user_id, rank, paper_id, score, because, method, computed)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &user_id,
                            &rank,
                            &paper.paper_id,
                            &score,
                            &no_nul(&paper.because),
                            &stored.method,
                            &stored.computed,
                        ],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn recommendations(&self, user: &str) -> Result<Option<StoredRecommendations>> {
        self.with(|db| {
            let user_id = db.user_id(user)?;
            Self::stored_recommendations(db, user_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact_url("postgres://ada:s3cret@db.example:5432/scout"),
            "postgres://ada:***@db.example:5432/scout"
        );
        assert_eq!(
            redact_url("postgresql://ada@db/scout?password=x&sslmode=disable"),
            "postgresql://ada@db/scout?password=***&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://db/scout"), "postgres://db/scout");
        assert!(is_postgres_url("PostgreSQL://db/x"));
        assert!(!is_postgres_url("/var/lib/paperscout"));
    }
}
