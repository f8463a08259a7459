//! The model on a thread of its own, fed by bounded queues, never on the async runtime.
//!
//! Two queues: one for requests a person waits on (`similar` by free text, interests in a
//! recommendation), one for bulk work (an ingest's abstracts). The worker always empties the
//! first before taking from the second, and it joins the texts of every waiting interactive
//! request into one forward pass, so concurrent queries share the model's work. A full
//! interactive queue answers `overloaded` at once rather than letting callers pile up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded, select_biased};
use paperscout_store::ModelKey;

use paperscout_app::store_model::StoreModel;
use paperscout_types::Fault;

/// What the worker answers: the vectors, or why not.
type Answer = Result<Vec<Vec<f32>>, String>;

struct Job {
    texts: Vec<String>,
    reply: Sender<Answer>,
}

/// Why a text was not embedded.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The interactive queue is full.
    #[error(
        "the model's queue is full ({0} requests waiting): retry in a moment, or raise daemon.model_queue"
    )]
    Overloaded(usize),
    /// The model failed on these texts.
    #[error("the model failed: {0}")]
    Failed(String),
    /// The worker is gone (the daemon is stopping).
    #[error("the model worker has stopped; the daemon is shutting down")]
    Stopped,
}

/// A handle to the model thread; cheap to share.
pub struct ModelWorker {
    interactive: Sender<Job>,
    bulk: Sender<Job>,
    key: ModelKey,
    capacity: usize,
    waiting: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// Texts per bulk job: small enough that an interactive request never waits for long.
const BULK_CHUNK: usize = 16;

impl WorkerError {
    /// A full queue is worth a retry; a failed or stopped model is the environment's.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Overloaded(_) => Fault::Busy,
            Self::Failed(_) | Self::Stopped => Fault::Environment,
        }
    }
}

impl From<WorkerError> for paperscout_ingest::EmbedFailure {
    fn from(err: WorkerError) -> Self {
        Self {
            fault: err.fault(),
            message: err.to_string(),
        }
    }
}

impl ModelWorker {
    /// Starts the thread. `queue` interactive requests may wait; up to `max_batch` texts of
    /// waiting requests go through the model together.
    pub fn start(model: StoreModel, queue: usize, max_batch: usize) -> std::io::Result<Self> {
        let (interactive, interactive_rx) = bounded::<Job>(queue.max(1));
        let (bulk, bulk_rx) = bounded::<Job>(2);
        let key = model.key().clone();
        let waiting = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&waiting);
        let thread = std::thread::Builder::new()
            .name("paperscout-model".to_owned())
            .spawn(move || {
                work(
                    &model,
                    &interactive_rx,
                    &bulk_rx,
                    max_batch.max(1),
                    &counter,
                );
            })?;
        Ok(Self {
            interactive,
            bulk,
            key,
            capacity: queue.max(1),
            waiting,
            thread: Some(thread),
        })
    }

    /// The model's key.
    pub fn key(&self) -> &ModelKey {
        &self.key
    }

    /// Interactive requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Embeds texts a person waits on; fails fast when the queue is full.
    pub fn embed_now(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, WorkerError> {
        let (reply, answer) = bounded(1);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.interactive.try_send(Job { texts, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return Err(WorkerError::Overloaded(self.capacity));
            }
            Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return Err(WorkerError::Stopped);
            }
        }
        answer
            .recv()
            .map_err(|_| WorkerError::Stopped)?
            .map_err(WorkerError::Failed)
    }

    /// Embeds bulk texts, a small chunk at a time, waiting for room in the queue.
    pub fn embed_bulk(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, WorkerError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BULK_CHUNK) {
            let (reply, answer) = bounded(1);
            self.bulk
                .send(Job {
                    texts: chunk.to_vec(),
                    reply,
                })
                .map_err(|_| WorkerError::Stopped)?;
            vectors.extend(
                answer
                    .recv()
                    .map_err(|_| WorkerError::Stopped)?
                    .map_err(WorkerError::Failed)?,
            );
        }
        Ok(vectors)
    }
}

impl Drop for ModelWorker {
    fn drop(&mut self) {
        // Closing both queues ends the thread once the job in hand is done.
        let (closed, _) = bounded(0);
        self.interactive = closed.clone();
        self.bulk = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn work(
    model: &StoreModel,
    interactive: &Receiver<Job>,
    bulk: &Receiver<Job>,
    max_batch: usize,
    waiting: &AtomicUsize,
) {
    loop {
        let first = match interactive.try_recv() {
            Ok(job) => Some(job),
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => None,
        };
        let (jobs, is_interactive) = match first {
            Some(job) => (gather(job, interactive, max_batch), true),
            None => select_biased! {
                recv(interactive) -> job => match job {
                    Ok(job) => (gather(job, interactive, max_batch), true),
                    Err(_) => return,
                },
                recv(bulk) -> job => match job {
                    Ok(job) => (vec![job], false),
                    Err(_) => return,
                },
            },
        };
        if is_interactive {
            waiting.fetch_sub(jobs.len(), Ordering::Relaxed);
        }
        run(model, jobs);
    }
}

/// The first job and whatever else waits, up to `max_batch` texts in all.
fn gather(first: Job, queue: &Receiver<Job>, max_batch: usize) -> Vec<Job> {
    let mut texts = first.texts.len();
    let mut jobs = vec![first];
    while texts < max_batch {
        match queue.try_recv() {
            Ok(job) => {
                texts += job.texts.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs
}

/// One forward pass (the embedder splits it into its own batches) for all the jobs' texts.
fn run(model: &StoreModel, jobs: Vec<Job>) {
    let texts: Vec<String> = jobs.iter().flat_map(|job| job.texts.clone()).collect();
    match model.embedder().embed(&texts) {
        Ok(vectors) => {
            let mut vectors = vectors.into_iter();
            for job in jobs {
                let own: Vec<Vec<f32>> = vectors.by_ref().take(job.texts.len()).collect();
                // A caller that went away does not mind.
                let _ = job.reply.send(Ok(own));
            }
        }
        Err(err) => {
            let message = err.to_string();
            for job in jobs {
                let _ = job.reply.send(Err(message.clone()));
            }
        }
    }
}
