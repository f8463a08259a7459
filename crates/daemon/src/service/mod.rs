//! The daemon's operations over its state: the store (one writer, pooled readers), the live
//! index, the catalogue and the model worker. Every function here is synchronous; the server
//! runs them on blocking threads, so the async runtime only moves bytes.
//!
//! This module holds the state and the dispatch; each group of operations has its own
//! module: `query` (`similar`, `recommend`), `digests` (`digest`, the schedule's digests
//! and e-mail), `people` (`feedback`, `user`), `ingest` (papers in) and `upkeep`
//! (`stats`, `health`, compaction and saving).

mod cluster;
mod digests;
mod epochs;
mod ingest;
mod people;
mod query;
mod ratings;
mod scoops;
mod upkeep;

#[cfg(test)]
pub(crate) mod tests;

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use paperscout_app::choose::TextEmbedder;
use paperscout_app::mail::MailConfig;
use paperscout_app::store_model::StoreModel;
use paperscout_app::stores::{BoxedStore, StoreLocation};
use paperscout_app::{AppError, Settings};
use paperscout_index::{Payload, VectorIndex};
use paperscout_ingest::EmbedFailure;
use paperscout_proto::{Answer, ErrorCode, QueryKind, Request};
use paperscout_store::{ModelKey, SqliteStore, Store};

use crate::catalog::Catalog;
use crate::error::{DaemonError, Result};
use crate::model_worker::ModelWorker;

pub use query::{MAX_CATEGORIES, MAX_K};

/// Most hits an unfiltered `similar` by id may ask for and still count as quick.
const QUICK_K: usize = 100;

/// A failed request as the protocol answers it: a stable code and a message that says what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The code.
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl From<&DaemonError> for Failure {
    /// The message is the error's own: each says what to do (a bug's says to read the
    /// daemon's log, where the server writes every `internal` failure at error level).
    fn from(err: &DaemonError) -> Self {
        Self {
            code: ErrorCode::of(err.fault()),
            message: err.to_string(),
        }
    }
}

/// The daemon's knobs that the service uses.
#[derive(Debug, Clone, Copy)]
pub struct ServiceOptions {
    /// Interactive requests that may wait for the model.
    pub model_queue: usize,
    /// Texts of waiting requests embedded together.
    pub model_batch: usize,
    /// The share of tombstones in the index past which it is rebuilt in the background.
    pub compact_above: f64,
}

impl ServiceOptions {
    /// The options the `[daemon]` table gives.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            model_queue: settings.daemon.model_queue(),
            model_batch: settings.daemon.model_batch(),
            compact_above: settings.daemon.compact_above(),
        }
    }
}

/// Read-only store connections, reused between requests.
struct Readers {
    location: StoreLocation,
    idle: Mutex<Vec<BoxedStore>>,
}

/// Whether this thread belongs to a multi-threaded tokio runtime, where a blocking call must be
/// announced with `block_in_place` (which, on the runtime's blocking threads, simply runs it).
fn on_async_worker() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Connections kept for reuse; more are opened while busy and closed after.
const IDLE_READERS: usize = 16;

impl Readers {
    fn with<T>(&self, work: impl FnOnce(&dyn Store) -> Result<T>) -> Result<T> {
        if self.location.is_shared() && on_async_worker() {
            // A database client blocks its thread on the network: the runtime hands this
            // worker's other tasks to another thread meanwhile.
            return tokio::task::block_in_place(|| self.read(work));
        }
        self.read(work)
    }

    fn read<T>(&self, work: impl FnOnce(&dyn Store) -> Result<T>) -> Result<T> {
        let reader = lock(&self.idle).pop();
        let reader = match reader {
            Some(reader) => reader,
            None => self.location.open_read_only().map_err(app)?,
        };
        let result = work(&*reader);
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_READERS {
            idle.push(reader);
        }
        result
    }
}

/// Everything the daemon serves from.
pub struct Service {
    writer: Arc<Mutex<dyn Store + Send>>,
    /// Copies a SQLite store's write-ahead log into its file, off the writer's path (the
    /// writer's commits no longer do: a rating would wait for it). None for PostgreSQL.
    checkpointer: Option<Mutex<paperscout_store::Checkpointer>>,
    /// The other daemons on the same PostgreSQL database: following their writes, leading.
    cluster: Option<cluster::Cluster>,
    /// The thread that writes ratings in groups (see `ratings`).
    ratings: ratings::RatingWriter,
    readers: Readers,
    /// The vector engine: the HNSW index today, any [`VectorIndex`] tomorrow.
    index: Box<dyn VectorIndex>,
    catalog: RwLock<Catalog>,
    model: ModelWorker,
    /// E-mail delivery, replaced on SIGHUP.
    mail: RwLock<MailConfig>,
    /// The web page's one-click links for e-mailed picks, once it serves.
    links: RwLock<Option<Arc<dyn paperscout_app::render::PickLinks>>>,
    started: Instant,
    /// Connections open now (kept by the server, shown by `health`).
    pub connections: AtomicUsize,
    /// The users' link epochs, for the web page's session checks.
    epochs: epochs::Epochs,
    /// Where digests sent on request are kept for the web page (`outbox::keep_sent`).
    outbox: PathBuf,
    /// Followed libraries (user, newline, path) that could not be read, said once.
    unreadable_libraries: Mutex<std::collections::HashSet<String>>,
}

/// The model worker as the ranking code sees it: interactive priority.
struct Interactive<'a>(&'a ModelWorker);

impl TextEmbedder for Interactive<'_> {
    fn key(&self) -> &ModelKey {
        self.0.key()
    }

    fn embed_texts(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, EmbedFailure> {
        Ok(self.0.embed_now(texts.to_vec())?)
    }
}

/// The model worker as the ingest pipeline sees it: bulk priority.
struct Bulk<'a>(&'a ModelWorker);

impl TextEmbedder for Bulk<'_> {
    fn key(&self) -> &ModelKey {
        self.0.key()
    }

    fn embed_texts(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, EmbedFailure> {
        Ok(self.0.embed_bulk(texts)?)
    }
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Service {
    /// Takes the store's writer lock, loads the model, opens (or rebuilds) the index and
    /// reads the catalogue.
    pub fn open(settings: &Settings, options: ServiceOptions) -> Result<Self> {
        // The writer; on PostgreSQL also a second connection for following the other daemons.
        let (writer, checkpointer, shared): (BoxedStore, _, _) = match &settings.store {
            StoreLocation::Sqlite(path) => {
                let mut writer = SqliteStore::open(path)?;
                writer.defer_checkpoints()?;
                let checkpointer = Mutex::new(writer.checkpointer()?);
                (Box::new(writer), Some(checkpointer), None)
            }
            StoreLocation::Postgres(url) => {
                let writer = paperscout_store::PostgresStore::open(url)?;
                let follower = writer.sibling();
                (Box::new(writer), None, Some(follower))
            }
        };
        let model = StoreModel::load(settings)?;
        // Where following other daemons' writes starts: before this daemon reads every
        // embedding to catch its index up, so that nothing written meanwhile is missed (what
        // is absorbed twice is the same vector again, a no-op).
        let cluster = match shared {
            Some(store) => {
                let followed = cluster::Cluster::newest(&store, model.key())?;
                Some(cluster::Cluster::join(store, followed))
            }
            None => None,
        };
        // One pass over the stored papers fills the catalogue and the index's payloads.
        let mut catalog = Catalog::default();
        let mut payloads = std::collections::HashMap::new();
        for stored in writer.papers_announced("0000-01-01", "9999-12-31")? {
            catalog.insert(&stored.paper);
            payloads.insert(stored.paper.id.clone(), Payload::of(&stored.paper));
        }
        let (index, opened) = paperscout_app::live_index::open_served(
            &*writer,
            model.key(),
            &settings.data_dir,
            payloads,
            options.compact_above,
        )?;
        tracing::info!(
            papers = index.counts().papers,
            caught_up = opened.caught_up,
            seconds = opened.seconds,
            "index ready"
        );
        let model = ModelWorker::start(model, options.model_queue, options.model_batch)
            .map_err(|err| DaemonError::io("could not start the model's thread", err))?;
        let writer: Arc<Mutex<dyn Store + Send>> = Arc::new(Mutex::new(writer));
        let ratings = ratings::RatingWriter::start(Arc::clone(&writer))
            .map_err(|err| DaemonError::io("could not start the ratings' thread", err))?;
        Ok(Self {
            writer,
            checkpointer,
            cluster,
            readers: Readers {
                location: settings.store.clone(),
                idle: Mutex::new(Vec::new()),
            },
            index: Box::new(index),
            catalog: RwLock::new(catalog),
            model,
            mail: RwLock::new(settings.mail.clone()),
            links: RwLock::new(None),
            ratings,
            started: Instant::now(),
            connections: AtomicUsize::new(0),
            epochs: epochs::Epochs::default(),
            outbox: settings.outbox(),
            unreadable_libraries: Mutex::default(),
        })
    }

    /// Answers one request (the server logs a failure with the request's op and id).
    pub fn handle(&self, request: Request) -> Result<Answer, Failure> {
        let answer = match request {
            Request::Similar(similar) => self.similar(&similar).map(Answer::Similar),
            Request::Recommend(recommend) => self.recommend(&recommend).map(Answer::Recommend),
            Request::Digest(digest) => self.digest(&digest).map(Answer::Digest),
            Request::WhyNot(why_not) => self.why_not(&why_not).map(Answer::WhyNot),
            Request::Backtest(backtest) => self.backtest(&backtest).map(Answer::Backtest),
            Request::Facets(facets) => self.facets(&facets).map(Answer::Facets),
            Request::Feedback(feedback) => self.feedback(&feedback).map(Answer::Feedback),
            Request::Undo(undo) => self.undo(&undo).map(Answer::Undo),
            Request::User(user) => self.user(&user).map(Answer::User),
            Request::Ingest(ingest) => self.ingest(&ingest).map(Answer::Ingest),
            Request::Stats(_) => self.stats().map(Answer::Stats),
            Request::Health(_) => Ok(Answer::Health(self.health())),
        };
        answer.map_err(|err| Failure::from(&err))
    }

    /// Whether answering takes no more than a few hundred microseconds of CPU and waits for
    /// nothing (no model, no store writer): such requests are answered on the async runtime's
    /// own threads rather than handed to a blocking thread.
    pub fn is_quick(&self, request: &Request) -> bool {
        match request {
            Request::Health(_) => true,
            // A filter makes the graph walk further for admissible papers, and many hits
            // cost their titles: both are work for a blocking thread, not the runtime's.
            Request::Similar(similar)
                if similar.since.is_some()
                    || similar.until.is_some()
                    || !similar.categories.is_empty()
                    || similar.k > QUICK_K =>
            {
                false
            }
            Request::Similar(similar) => match similar.by {
                QueryKind::Text => false,
                QueryKind::Paper | QueryKind::Title => true,
                QueryKind::Auto => {
                    let text = similar.query.trim();
                    paperscout_types::ArxivId::parse(text).is_some()
                        || read(&self.catalog).find_title(text).is_some()
                }
            },
            _ => false,
        }
    }

    /// Whether the user's scheduled digest of `day` is recorded as delivered.
    pub fn delivered_on(&self, user: &str, day: chrono::NaiveDate) -> Result<bool> {
        let day = day.format("%Y-%m-%d").to_string();
        self.readers
            .with(|store| Ok(store.delivered_on(user, &day)?))
    }

    /// The users' names.
    pub fn user_names(&self) -> Result<Vec<String>> {
        self.readers
            .with(|store| Ok(store.users()?.into_iter().map(|u| u.name).collect()))
    }
}

/// A use case's error as the daemon's.
fn app(err: AppError) -> DaemonError {
    DaemonError::App(err)
}
