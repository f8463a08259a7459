//! The daemon's operations over its state: the store (one writer, pooled readers), the index,
//! the catalogue and the model worker. Every function here is synchronous; the server runs
//! them on blocking threads, so the async runtime only moves bytes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use anyhow::{Context, Result};
use paperscout_index::{Filter, IndexParams, PaperIndex, RecallTally};
use paperscout_ingest::{Embed, Input, Options, Progress, Records};
use paperscout_rank::digest::DigestParams;
use paperscout_store::{FeedbackKind, ModelKey, SqliteStore, Store, StoreError};
use serde_json::{Value, json};

use super::catalog::{Admit, Catalog};
use super::model_worker::{ModelWorker, WorkerError};
use super::protocol::{
    DigestAction, DigestRequest, ErrorCode, FeedbackRequest, IngestRequest, QueryKind,
    RecommendRequest, Request, ResolvedQuery, SimilarHit, SimilarRequest, SimilarResult,
    UserAction, UserRequest,
};
use crate::config::Settings;
use crate::recommend::{self, EmptyProfile, TextEmbedder, Window};
use crate::store_model::StoreModel;

/// Most papers one `similar` may ask for.
pub const MAX_K: usize = 1000;

/// A failed request: a stable code and a message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The code.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
}

impl Failure {
    /// A request to fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }

    /// Something named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::NotFound,
            message: message.into(),
        }
    }

    /// Sorts an error from below into a code.
    fn from_error(err: &anyhow::Error) -> Self {
        for cause in err.chain() {
            if let Some(failure) = cause.downcast_ref::<Failure>() {
                return failure.clone();
            }
            if let Some(StoreError::NoSuchUser(_)) = cause.downcast_ref::<StoreError>() {
                return Self::not_found(cause.to_string());
            }
            if cause.downcast_ref::<crate::users::UnknownPaper>().is_some() {
                return Self::not_found(cause.to_string());
            }
            if cause.downcast_ref::<crate::users::BadSetting>().is_some()
                || cause.downcast_ref::<crate::mail::NoAddress>().is_some()
            {
                return Self::bad_request(cause.to_string());
            }
            if cause.downcast_ref::<EmptyProfile>().is_some() {
                return Self::bad_request(cause.to_string());
            }
            if let Some(WorkerError::Overloaded(_)) = cause.downcast_ref::<WorkerError>() {
                return Self {
                    code: ErrorCode::Overloaded,
                    message: cause.to_string(),
                };
            }
            if let Some(paperscout_ingest::IngestError::Read { .. }) =
                cause.downcast_ref::<paperscout_ingest::IngestError>()
            {
                return Self::bad_request(format!("{err:#}"));
            }
        }
        Self {
            code: ErrorCode::Internal,
            message: format!("{err:#}; see the daemon's log"),
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

/// Read-only store connections, reused between requests.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<SqliteStore>>,
}

/// Fewest new papers in a batch for the daemon to choose ef again on them.
const RECALIBRATION_MIN_QUERIES: usize = 100;

/// Connections kept for reuse; more are opened while busy and closed after.
const IDLE_READERS: usize = 16;

impl Readers {
    fn with<T>(&self, work: impl FnOnce(&SqliteStore) -> Result<T>) -> Result<T> {
        let reader = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let reader = match reader {
            Some(reader) => reader,
            None => SqliteStore::open_read_only(&self.path)?,
        };
        let result = work(&reader);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(reader);
        }
        result
    }
}

/// Everything the daemon serves from.
pub struct Service {
    writer: Mutex<SqliteStore>,
    readers: Readers,
    index: RwLock<PaperIndex>,
    index_dir: PathBuf,
    index_dirty: AtomicBool,
    /// Counts the index's replacements by a compacted copy, so a flat copy taken of the old
    /// graph is never installed on the new one.
    index_generation: AtomicU64,
    /// While a compaction runs, the papers upserted meanwhile, replayed into the compacted
    /// index before it replaces the old; `None` when none runs.
    compaction_log: Mutex<Option<Vec<OwnedRow>>>,
    compact_above: f64,
    catalog: RwLock<Catalog>,
    model: ModelWorker,
    /// E-mail delivery, replaced on SIGHUP.
    mail: RwLock<crate::mail::MailConfig>,
    started: Instant,
    /// Connections open now (kept by the server, shown by `health`).
    pub connections: AtomicUsize,
}

/// The model worker as the ranking code sees it: interactive priority.
struct Interactive<'a>(&'a ModelWorker);

impl TextEmbedder for Interactive<'_> {
    fn key(&self) -> &ModelKey {
        self.0.key()
    }

    fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(self.0.embed_now(texts.to_vec())?)
    }
}

/// The model worker as the ingest pipeline sees it: bulk priority.
struct Bulk<'a>(&'a ModelWorker);

impl Embed for Bulk<'_> {
    fn model(&self) -> &ModelKey {
        self.0.key()
    }

    fn embed(&mut self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, String> {
        self.0.embed_bulk(texts).map_err(|err| err.to_string())
    }
}

/// A paper id and its vector, owned.
type OwnedRow = (String, Vec<f32>);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Service {
    /// Takes the store's writer lock, loads the model, opens (or rebuilds) the index and
    /// reads the catalogue.
    pub fn open(settings: &Settings, options: ServiceOptions) -> Result<Self> {
        let store_path = paperscout_store::file_in(&settings.data_dir);
        let writer = SqliteStore::open(&store_path)?;
        let model = StoreModel::load(settings)?;
        let index_dir = crate::paper_index::dir_for(&settings.data_dir, model.key());
        let (index, opened) =
            crate::paper_index::open(&writer, model.key(), &index_dir, IndexParams::default())?;
        tracing::info!(
            papers = index.len(),
            caught_up = opened.caught_up,
            seconds = opened.seconds,
            "index ready"
        );
        let mut catalog = Catalog::default();
        for stored in writer.papers_announced("0000-01-01", "9999-12-31")? {
            catalog.insert(&stored.paper);
        }
        let model = ModelWorker::start(model, options.model_queue, options.model_batch)
            .context("could not start the model's thread")?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers: Readers {
                path: store_path,
                idle: Mutex::new(Vec::new()),
            },
            index: RwLock::new(index),
            index_dir,
            index_dirty: AtomicBool::new(false),
            index_generation: AtomicU64::new(0),
            compaction_log: Mutex::new(None),
            compact_above: options.compact_above,
            catalog: RwLock::new(catalog),
            model,
            mail: RwLock::new(settings.mail.clone()),
            started: Instant::now(),
            connections: AtomicUsize::new(0),
        })
    }

    /// Answers one request.
    pub fn handle(&self, request: Request) -> Result<Value, Failure> {
        let answer = match request {
            Request::Similar(similar) => self
                .similar(&similar)
                .and_then(|result| Ok(serde_json::to_value(result)?)),
            Request::Recommend(recommend) => self.recommend(&recommend),
            Request::Digest(digest) => self.digest(&digest),
            Request::Feedback(feedback) => self.feedback(&feedback),
            Request::User(user) => self.user(&user),
            Request::Ingest(ingest) => self.ingest(&ingest),
            Request::Stats => self.stats(),
            Request::Health => Ok(self.health()),
        };
        answer.map_err(|err| Failure::from_error(&err))
    }

    /// Whether answering takes no more than a few hundred microseconds of CPU and waits for
    /// nothing (no model, no store writer): such requests are answered on the async runtime's
    /// own threads rather than handed to a blocking thread.
    pub fn is_quick(&self, request: &Request) -> bool {
        match request {
            Request::Health => true,
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

    /// `similar`.
    pub fn similar(&self, request: &SimilarRequest) -> Result<SimilarResult> {
        if request.k == 0 || request.k > MAX_K {
            return Err(Failure::bad_request(format!(
                "k must be between 1 and {MAX_K}, not {}",
                request.k
            ))
            .into());
        }
        for (name, day) in [("since", &request.since), ("until", &request.until)] {
            if let Some(day) = day {
                recommend::parse_day(day, name)
                    .map_err(|err| Failure::bad_request(err.to_string()))?;
            }
        }
        let (query, vector) = self.resolve(request)?;
        let admit = Admit {
            since: request.since.clone(),
            until: request.until.clone(),
            categories: request.categories.clone(),
        };
        let catalog = read(&self.catalog);
        let allow = |id: &str| admit.admits(catalog.get(id));
        let filter = Filter {
            exclude: query.id.iter().map(String::as_str).collect(),
            allow: if admit.is_everything() {
                None
            } else {
                Some(&allow)
            },
        };
        let found = read(&self.index).search(&vector, request.k, &filter)?;
        let hits = found
            .into_iter()
            .map(|hit| {
                let entry = catalog.get(&hit.id);
                SimilarHit {
                    title: entry.map(|e| e.title.clone()).unwrap_or_default(),
                    date: entry.and_then(|e| e.date.clone()),
                    categories: entry.map(|e| e.categories.clone()).unwrap_or_default(),
                    id: hit.id,
                    score: hit.score,
                }
            })
            .collect();
        Ok(SimilarResult { query, hits })
    }

    /// What a `similar` query names, and the vector to search with.
    fn resolve(&self, request: &SimilarRequest) -> Result<(ResolvedQuery, Vec<f32>)> {
        let text = request.query.trim();
        if text.is_empty() {
            return Err(Failure::bad_request(
                "the query is empty: give an arXiv id, a DOI, a title or some text",
            )
            .into());
        }
        let looks_like_id = paperscout_types::ArxivId::parse(text).is_some()
            || paperscout_types::normalise_doi(text).is_some()
            || text.starts_with("arXiv:")
            || text.starts_with("doi:");
        let by_id = matches!(request.by, QueryKind::Paper)
            || (matches!(request.by, QueryKind::Auto) && looks_like_id);
        let mut paper_id = None;
        if by_id {
            // arXiv ids from memory; DOIs and other spellings from the store.
            let known = paperscout_types::ArxivId::parse(text)
                .map(|arxiv| arxiv.paper_id())
                .filter(|id| read(&self.catalog).get(id).is_some());
            let found = match known {
                Some(id) => Some(id),
                None => self
                    .readers
                    .with(|store| Ok(store.find_paper(text)?))?
                    .map(|stored| stored.paper.id),
            };
            match found {
                Some(id) => paper_id = Some(id),
                None => {
                    return Err(Failure::not_found(format!(
                        "{text} is not in the store: ingest it first (`paperscout ingest`), or \
                         ask by title or free text"
                    ))
                    .into());
                }
            }
        } else if matches!(request.by, QueryKind::Auto | QueryKind::Title) {
            paper_id = read(&self.catalog).find_title(text).map(str::to_owned);
            if paper_id.is_none() && request.by == QueryKind::Title {
                return Err(Failure::not_found(format!(
                    "no stored paper has the title {text:?}; ask by free text instead"
                ))
                .into());
            }
        }
        if let Some(id) = paper_id {
            let title = read(&self.catalog)
                .get(&id)
                .map(|e| e.title.clone())
                .unwrap_or_default();
            let vector = self.paper_vector(&id)?;
            return Ok((
                ResolvedQuery {
                    kind: "paper".to_owned(),
                    id: Some(id),
                    text: title,
                },
                vector,
            ));
        }
        let mut vectors = self.model.embed_now(vec![text.to_owned()])?;
        let vector = vectors.pop().context("the model returned no vector")?;
        Ok((
            ResolvedQuery {
                kind: "text".to_owned(),
                id: None,
                text: text.to_owned(),
            },
            vector,
        ))
    }

    /// The indexed vector of a paper; else the stored one; else a fresh one.
    fn paper_vector(&self, id: &str) -> Result<Vec<f32>> {
        if let Some(vector) = read(&self.index).vector(id) {
            return Ok(vector.to_vec());
        }
        let key = self.model.key().clone();
        let (stored, text) = self.readers.with(|store| {
            let stored = store.embedding(id, &key)?;
            let text = store.paper(id)?.map(|p| p.paper.embedding_text());
            Ok((stored, text))
        })?;
        if let Some(vector) = stored {
            return Ok(vector);
        }
        let text = text.ok_or_else(|| Failure::not_found(format!("{id} is not in the store")))?;
        self.model
            .embed_now(vec![text])?
            .pop()
            .context("the model returned no vector")
    }

    /// `recommend`: the window ends on the newest day in the store unless asked otherwise.
    fn recommend(&self, request: &RecommendRequest) -> Result<Value> {
        let day = day_or(request.date.as_deref(), || {
            read(&self.catalog)
                .newest_day()
                .and_then(|day| recommend::parse_day(day, "date").ok())
                .unwrap_or_else(recommend::today)
        })?;
        let window = Window {
            day,
            days: request.days,
            after_last_sent: false,
        };
        let params = digest_params(request.mmr_lambda, None);
        let digest = self.readers.with(|store| {
            recommend::build(
                store,
                &Interactive(&self.model),
                &request.user,
                window,
                &params,
                Some(request.n.min(MAX_K)),
            )
        })?;
        Ok(serde_json::to_value(digest)?)
    }

    /// `digest`: build, preview, or send (record as sent, in one transaction).
    fn digest(&self, request: &DigestRequest) -> Result<Value> {
        let day = day_or(request.date.as_deref(), recommend::today)?;
        let window = Window {
            day,
            days: request.days,
            after_last_sent: true,
        };
        let params = digest_params(request.mmr_lambda, request.min_similarity);
        let build = |store: &dyn Store| {
            recommend::build(
                store,
                &Interactive(&self.model),
                &request.user,
                window,
                &params,
                request.size.map(|size| size.min(MAX_K)),
            )
        };
        if request.email {
            return self.digest_by_email(request, &build);
        }
        let (digest, recorded) = if request.action == DigestAction::Send {
            // The writer is held from choosing to recording, so two sends cannot both pick
            // the same papers.
            let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let digest = build(&*writer)?;
            let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
            let recorded = writer.record_sent(&request.user, &ids, paperscout_store::now())?;
            (digest, Some(recorded))
        } else {
            (self.readers.with(|store| build(store))?, None)
        };
        let rendered = (request.action != DigestAction::Build)
            .then(|| crate::render::render(&digest, request.format, paperscout_store::now()));
        Ok(json!({ "digest": digest, "rendered": rendered, "recorded": recorded }))
    }

    /// `digest` with `email`: the message is composed, then (for `send`) queued with the
    /// papers' record in one transaction and delivered; `rendered` is the message itself.
    fn digest_by_email(
        &self,
        request: &DigestRequest,
        build: &dyn Fn(&dyn Store) -> Result<recommend::Digest>,
    ) -> Result<Value> {
        let mailer = self.mailer()?.ok_or_else(|| {
            Failure::bad_request(
                "e-mail is not set up: set smtp_host and from in the [mail] table of the daemon's config file, then send it SIGHUP",
            )
        })?;
        let recipient = self
            .readers
            .with(|store| crate::mail::recipient(store, &request.user))?;
        if request.action != DigestAction::Send {
            let digest = self.readers.with(|store| build(store))?;
            let message = crate::mail::compose(&digest, mailer.from(), &recipient)?;
            let rendered = String::from_utf8_lossy(&message).into_owned();
            return Ok(json!({ "digest": digest, "rendered": rendered, "recorded": null }));
        }
        let (digest, recorded) = {
            let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let digest = build(&*writer)?;
            if digest.papers.is_empty() {
                return Ok(json!({ "digest": digest, "rendered": null, "recorded": 0 }));
            }
            let recorded = crate::mail::queue(&mut *writer, &digest, &mailer, &recipient)?;
            (digest, recorded)
        };
        // The store is free while the server is talked to.
        let delivery = crate::mail::deliver_queued(&mut &self.writer, &mailer)?;
        Ok(json!({
            "digest": digest,
            "rendered": null,
            "recorded": recorded,
            "recipient": recipient,
            "delivery": delivery,
        }))
    }

    /// The mailer the current `[mail]` table describes; none when e-mail is not set up.
    pub fn mailer(&self) -> Result<Option<crate::mail::Mailer>> {
        let config = read(&self.mail).clone();
        if config.smtp_host.is_none() {
            return Ok(None);
        }
        crate::mail::Mailer::new(&config).map(Some)
    }

    /// Replaces the `[mail]` table (SIGHUP).
    pub fn set_mail_config(&self, config: crate::mail::MailConfig) {
        *write(&self.mail) = config;
    }

    /// Delivers every queued digest e-mail; none when e-mail is not set up.
    pub fn deliver_mail(&self) -> Result<Option<crate::mail::Delivery>> {
        let Some(mailer) = self.mailer()? else {
            return Ok(None);
        };
        crate::mail::deliver_queued(&mut &self.writer, &mailer).map(Some)
    }

    fn feedback(&self, request: &FeedbackRequest) -> Result<Value> {
        let kind = FeedbackKind::from(request.kind);
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if writer.user(&request.user)?.is_none() {
            return Err(StoreError::NoSuchUser(request.user.clone()).into());
        }
        let papers = crate::users::record_feedback(
            &mut *writer,
            &request.user,
            kind,
            &request.papers,
            paperscout_store::now(),
        )?;
        let ids: Vec<&str> = papers.iter().map(|p| p.paper.id.as_str()).collect();
        Ok(json!({ "user": request.user, "kind": kind.as_str(), "papers": ids }))
    }

    fn user(&self, request: &UserRequest) -> Result<Value> {
        let name = || {
            request
                .name
                .as_deref()
                .ok_or_else(|| Failure::bad_request("this user action needs a \"name\""))
        };
        match request.action {
            UserAction::List => {
                let users = self.readers.with(|store| Ok(store.users()?))?;
                Ok(serde_json::to_value(users)?)
            }
            UserAction::Show => {
                let name = name()?;
                let shown = self.readers.with(|store| crate::users::show(store, name))?;
                Ok(serde_json::to_value(shown)?)
            }
            UserAction::Remove => {
                let name = name()?;
                let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
                if !writer.remove_user(name)? {
                    return Err(StoreError::NoSuchUser(name.to_owned()).into());
                }
                Ok(json!({ "removed": name }))
            }
            UserAction::Set => {
                let name = name()?;
                let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
                let settings =
                    crate::users::change_settings(&mut *writer, name, &request.settings)?;
                Ok(json!({ "user": name, "settings": settings }))
            }
            UserAction::Add => {
                let name = name()?;
                let now = paperscout_store::now();
                let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
                let created = if writer.user(name)?.is_none() {
                    writer.add_user(name, now)?;
                    true
                } else {
                    false
                };
                let (papers, unknown) =
                    crate::users::add_papers(&mut *writer, name, &request.papers, now)?;
                let interests =
                    crate::users::add_interests(&mut *writer, name, &request.interests, now)?;
                Ok(json!({
                    "user": name,
                    "created": created,
                    "added": papers + interests,
                    "unknown": unknown,
                }))
            }
        }
    }

    /// `ingest`: papers are committed batch by batch (the store's writer is held for each
    /// transaction only) and join the index and the catalogue as each batch commits.
    pub fn ingest(&self, request: &IngestRequest) -> Result<Value> {
        let input = match (&request.path, request.papers.is_empty()) {
            (Some(path), true) => paperscout_ingest::open(path)?,
            (None, false) => {
                let mut bytes = Vec::new();
                for paper in &request.papers {
                    serde_json::to_writer(&mut bytes, paper)?;
                    bytes.push(b'\n');
                }
                Input {
                    name: "request".to_owned(),
                    len: Some(bytes.len() as u64),
                    reader: Box::new(std::io::Cursor::new(bytes)),
                    consumed: std::sync::Arc::default(),
                }
            }
            _ => {
                return Err(Failure::bad_request(
                    "an ingest request needs either \"path\" or \"papers\", not both",
                )
                .into());
            }
        };
        let source = input.name.clone();
        let records = Records::new(input)?;
        let started = Instant::now();
        let mut bad = Vec::new();
        let mut failed = None;
        let mut shared = &self.writer;
        let report = paperscout_ingest::ingest(
            &mut shared,
            records,
            &source,
            Some(&mut Bulk(&self.model)),
            Options {
                batch_size: request.batch.unwrap_or(512).clamp(1, 100_000),
                ..Options::default()
            },
            paperscout_store::now(),
            &mut |progress| match progress {
                Progress::Bad(record) => {
                    tracing::warn!("{record}; skipped");
                    if bad.len() < 100 {
                        bad.push(record.to_string());
                    }
                }
                Progress::Written { papers, vectors } => {
                    if let Err(err) = self.absorb(papers, vectors) {
                        failed.get_or_insert(err);
                    }
                }
                Progress::Committed(_) => {}
            },
        )?;
        if let Some(err) = failed {
            return Err(err.context("the papers were stored, but the index lags behind the store until the daemon restarts"));
        }
        self.persist()?;
        Ok(json!({
            "source": source,
            "report": report,
            "bad_records": bad,
            "seconds": started.elapsed().as_secs_f64(),
        }))
    }

    /// Brings the index and the catalogue up to date with a committed batch.
    fn absorb(
        &self,
        papers: &[paperscout_types::Paper],
        vectors: &[Option<Vec<f32>>],
    ) -> Result<()> {
        let ids: Vec<&str> = papers.iter().map(|p| p.id.as_str()).collect();
        // The merged papers, as stored.
        let stored = self.readers.with(|store| {
            let mut stored = Vec::with_capacity(ids.len());
            for id in &ids {
                stored.extend(store.paper(id)?);
            }
            Ok(stored)
        })?;
        {
            let mut catalog = write(&self.catalog);
            for paper in &stored {
                catalog.insert(&paper.paper);
            }
        }
        let rows: Vec<(&str, &[f32])> = papers
            .iter()
            .zip(vectors)
            .filter_map(|(paper, vector)| Some((paper.id.as_str(), vector.as_deref()?)))
            .collect();
        self.recalibrate_before_insert(&rows);
        // Small chunks: searches wait for the write lock one chunk at a time, not a batch.
        for chunk in rows.chunks(64) {
            let mut index = write(&self.index);
            index.upsert_batch(chunk)?;
            // Logged under the index's lock, so a compaction swapping the index in cannot
            // miss a chunk.
            if let Some(log) = lock(&self.compaction_log).as_mut() {
                log.extend(chunk.iter().map(|(id, v)| ((*id).to_owned(), v.to_vec())));
            }
        }
        if !rows.is_empty() {
            self.index_dirty.store(true, Ordering::Relaxed);
            // The flat copy is taken while searches go on, and swapped in at once; until
            // then searches use the graph itself, complete but slower.
            let generation = self.index_generation.load(Ordering::Acquire);
            let frozen = read(&self.index).frozen_copy();
            let mut index = write(&self.index);
            if self.index_generation.load(Ordering::Acquire) != generation || !index.install(frozen)
            {
                tracing::debug!("the index changed while it was copied; copied again next batch");
            }
        }
        Ok(())
    }

    /// When the index has grown or shrunk by a fifth since its ef was chosen (or never had it
    /// chosen), measures it again on this batch's new papers before they are inserted: true
    /// held-out queries. One read lock per query, so searches and other writers go on between
    /// them.
    fn recalibrate_before_insert(&self, rows: &[(&str, &[f32])]) {
        let (stale, new) = {
            let index = read(&self.index);
            let new: Vec<&[f32]> = rows
                .iter()
                .filter(|(id, _)| index.vector(id).is_none())
                .map(|(_, vector)| *vector)
                .collect();
            let after = index.len() + new.len();
            let stale = index.len() >= paperscout_index::CALIBRATION_MIN_PAPERS
                && index.calibration_due(after);
            (stale, new)
        };
        if !stale || new.len() < RECALIBRATION_MIN_QUERIES {
            return;
        }
        let started = Instant::now();
        let queries = crate::paper_index::CALIBRATION_QUERIES;
        let mut tally = RecallTally::new(crate::paper_index::TARGET_RECALL, 10);
        for query in new
            .iter()
            .step_by((new.len() / queries).max(1))
            .take(queries)
        {
            read(&self.index).tally_held_out(query, &mut tally);
        }
        if let Some(calibration) = tally.calibration() {
            write(&self.index).apply_calibration(calibration);
            self.index_dirty.store(true, Ordering::Relaxed);
            tracing::info!(
                ef = calibration.ef,
                recall = calibration.recall,
                queries = calibration.queries,
                papers = calibration.papers,
                seconds = started.elapsed().as_secs_f64(),
                "the index grew by a fifth: ef chosen again on new papers before inserting them"
            );
        }
    }

    fn stats(&self) -> Result<Value> {
        let stats = self.readers.with(|store| Ok(store.stats()?))?;
        let index = read(&self.index);
        Ok(json!({
            "store": stats,
            "index": {
                "papers": index.len(),
                "points": index.point_count(),
                "tombstone_ratio": index.tombstone_ratio(),
            },
            "catalog": { "papers": read(&self.catalog).len() },
            "model": {
                "name": self.model.key().name,
                "sha256": self.model.key().sha256,
                "dim": self.model.key().dim,
            },
        }))
    }

    /// `health`.
    pub fn health(&self) -> Value {
        json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "protocol": super::protocol::VERSION,
            "pid": std::process::id(),
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "papers_indexed": read(&self.index).len(),
            "model_queue": self.model.waiting(),
            "connections": self.connections.load(Ordering::Relaxed),
        })
    }

    /// The users' names.
    pub fn user_names(&self) -> Result<Vec<String>> {
        self.readers
            .with(|store| Ok(store.users()?.into_iter().map(|u| u.name).collect()))
    }

    /// Chooses `user`'s digest of `day`, writes it into `outbox/<user>/` and records its
    /// papers as sent, so that a crash at any point neither loses a recorded digest nor
    /// records one twice: the files are written as `.pending` first, the papers recorded,
    /// then the files renamed; [`Service::recover_outbox`] settles what a crash left pending.
    /// A user with an e-mail address, when e-mail is set up, also gets the digest queued as a
    /// message in the same transaction ([`Service::deliver_mail`] sends it).
    /// Returns the digest's file, or none when there was nothing new.
    pub fn deliver_digest(
        &self,
        user: &str,
        window: Window,
        params: &DigestParams,
        format: crate::render::Format,
        outbox: &std::path::Path,
    ) -> Result<Option<PathBuf>> {
        // The writer is held throughout: nothing else can send this user papers meanwhile.
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let digest = recommend::build(
            &*writer,
            &Interactive(&self.model),
            user,
            window,
            params,
            None,
        )?;
        if digest.papers.is_empty() {
            return Ok(None);
        }
        let dir = outbox.join(user);
        fs_err::create_dir_all(&dir)?;
        let files = outbox_files(&dir, &digest.to, format);
        let pending =
            |path: &std::path::Path| path.with_extension(format!("{}.pending", extension_of(path)));
        write_synced(
            &pending(&files.data),
            &serde_json::to_string_pretty(&digest)?,
        )?;
        if let Some(rendered) = &files.rendered {
            let text = crate::render::render(&digest, format, paperscout_store::now());
            write_synced(&pending(rendered), &text)?;
        }
        let email = writer.user(user)?.and_then(|u| u.settings.email);
        match (email, self.mailer()?) {
            (Some(recipient), Some(mailer)) => {
                crate::mail::queue(&mut *writer, &digest, &mailer, &recipient)?;
            }
            _ => {
                let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
                writer.record_sent(user, &ids, paperscout_store::now())?;
            }
        }
        if let Some(rendered) = &files.rendered {
            fs_err::rename(pending(rendered), rendered)?;
        }
        fs_err::rename(pending(&files.data), &files.data)?;
        Ok(Some(files.rendered.unwrap_or(files.data)))
    }

    /// Settles digests a crash left `.pending` in the outbox: kept if their papers were
    /// recorded as sent, removed if not (they will be chosen again). Returns how many were
    /// kept.
    pub fn recover_outbox(&self, outbox: &std::path::Path) -> Result<usize> {
        let mut kept = 0;
        let Ok(users) = std::fs::read_dir(outbox) else {
            return Ok(0);
        };
        for user_dir in users.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            for path in fs_err::read_dir(&user_dir)?.flatten().map(|e| e.path()) {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let Some(base) = name.strip_suffix(".json.pending") else {
                    continue;
                };
                let digest: recommend::Digest =
                    serde_json::from_str(&fs_err::read_to_string(&path)?)?;
                let sent: std::collections::HashSet<String> = self
                    .readers
                    .with(|store| Ok(store.sent(&digest.user)?))?
                    .into_iter()
                    .collect();
                let recorded = digest.papers.iter().all(|e| sent.contains(&e.paper.id));
                for sibling in fs_err::read_dir(&user_dir)?.flatten().map(|e| e.path()) {
                    let sibling_name = sibling
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or_default();
                    if sibling_name.starts_with(&format!("{base}."))
                        && sibling_name.ends_with(".pending")
                        && sibling != path
                    {
                        if recorded {
                            fs_err::rename(&sibling, sibling.with_extension(""))?;
                        } else {
                            fs_err::remove_file(&sibling)?;
                        }
                    }
                }
                if recorded {
                    fs_err::rename(&path, path.with_extension(""))?;
                    kept += 1;
                } else {
                    fs_err::remove_file(&path)?;
                }
            }
        }
        Ok(kept)
    }

    /// Rebuilds the index without its tombstones when they pass the threshold, while searches
    /// go on against the old one: the live papers are copied out under a short read lock, the
    /// new graph is built without any lock, and papers upserted meanwhile are replayed into it
    /// before it replaces the old in one swap. Returns whether it compacted.
    pub fn compact_if_needed(&self) -> Result<bool> {
        let ratio = read(&self.index).tombstone_ratio();
        if ratio <= self.compact_above {
            return Ok(false);
        }
        {
            let mut log = lock(&self.compaction_log);
            if log.is_some() {
                return Ok(false);
            }
            *log = Some(Vec::new());
        }
        let compacted = self.compact(ratio);
        *lock(&self.compaction_log) = None;
        compacted.map(|()| true)
    }

    fn compact(&self, ratio: f64) -> Result<()> {
        let started = Instant::now();
        let (dim, params, live) = {
            let index = read(&self.index);
            let live: Vec<(String, Vec<f32>)> = index
                .live_papers()
                .map(|(id, v)| (id.to_owned(), v.to_vec()))
                .collect();
            (index.dim(), index.params(), live)
        };
        let mut fresh = PaperIndex::new(dim, params, live.len());
        let rows: Vec<(&str, &[f32])> = live
            .iter()
            .map(|(id, v)| (id.as_str(), v.as_slice()))
            .collect();
        // Built anew, so ef is chosen anew, on papers held back from the new graph.
        let (_, calibration) = fresh.upsert_and_calibrate(
            &rows,
            crate::paper_index::TARGET_RECALL,
            crate::paper_index::CALIBRATION_QUERIES,
            10,
        )?;
        if !fresh.is_optimised() {
            fresh.optimise();
        }
        let mut index = write(&self.index);
        let replay = lock(&self.compaction_log).take().unwrap_or_default();
        if !replay.is_empty() {
            let rows: Vec<(&str, &[f32])> = replay
                .iter()
                .map(|(id, v)| (id.as_str(), v.as_slice()))
                .collect();
            fresh.upsert_batch(&rows)?;
            fresh.optimise();
        }
        *index = fresh;
        self.index_generation.fetch_add(1, Ordering::AcqRel);
        self.index_dirty.store(true, Ordering::Relaxed);
        tracing::info!(
            tombstones = format!("{:.0}%", ratio * 100.0),
            papers = index.len(),
            replayed = replay.len(),
            ef = index.params().ef_search,
            calibrated = calibration.is_some(),
            seconds = started.elapsed().as_secs_f64(),
            "index compacted in the background"
        );
        Ok(())
    }

    /// Saves the index if it changed since it was last saved.
    pub fn persist(&self) -> Result<()> {
        if self.index_dirty.swap(false, Ordering::Relaxed) {
            let model_id = crate::paper_index::model_id(self.model.key());
            let saved = read(&self.index).save(&self.index_dir, &model_id);
            if let Err(err) = saved {
                self.index_dirty.store(true, Ordering::Relaxed);
                return Err(err.into());
            }
        }
        Ok(())
    }
}

/// The chooser's knobs a request sets; the rest stay at their defaults. The size is given to
/// [`recommend::build`] on its own, since a user's own setting stands in for a missing one.
fn digest_params(mmr_lambda: Option<f32>, min_similarity: Option<f32>) -> DigestParams {
    let defaults = DigestParams::default();
    DigestParams {
        mmr_lambda: mmr_lambda.unwrap_or(defaults.mmr_lambda),
        min_similarity,
        ..defaults
    }
}

/// The request's day, a bad one being the client's mistake; else the default.
fn day_or(
    day: Option<&str>,
    default: impl FnOnce() -> chrono::NaiveDate,
) -> Result<chrono::NaiveDate, Failure> {
    match day {
        Some(day) => {
            recommend::parse_day(day, "date").map_err(|err| Failure::bad_request(err.to_string()))
        }
        None => Ok(default()),
    }
}

/// A digest's files in the outbox: the data as JSON, and the rendered form unless that is
/// JSON too.
struct OutboxFiles {
    data: PathBuf,
    rendered: Option<PathBuf>,
}

fn outbox_files(dir: &std::path::Path, day: &str, format: crate::render::Format) -> OutboxFiles {
    use crate::render::Format;
    let rendered = match format {
        Format::Json => None,
        Format::Markdown => Some("md"),
        Format::Html => Some("html"),
        Format::Atom => Some("atom"),
    };
    OutboxFiles {
        data: dir.join(format!("{day}.json")),
        rendered: rendered.map(|ext| dir.join(format!("{day}.{ext}"))),
    }
}

fn extension_of(path: &std::path::Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// Writes a file and flushes it to disk before returning.
fn write_synced(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut file = fs_err::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
