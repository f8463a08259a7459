//! The rating writer: one thread that writes queued ratings in groups.
//!
//! A person waits on every rating, and most of a rating's cost was hand-offs: to a blocking
//! thread, then a wait on the store's writer behind the other raters. Now a rating is queued
//! (a channel send) and answered through a one-shot channel, which an async caller (the web
//! page) awaits without a blocking thread. The thread takes every rating queued by the time it
//! wakes, checks each against the store, writes all of them in one transaction
//! (`Store::add_feedback_many`), and answers each; a bad one fails alone. So concurrent raters
//! share a transaction, and a lone rater pays two thread wake-ups.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use paperscout_app::users;
use paperscout_proto::{FeedbackAnswer, FeedbackRequest};
use paperscout_store::{Feedback, Store};
use tokio::sync::oneshot;

use super::lock;
use crate::error::{DaemonError, Result};

/// A rating and where its answer goes.
struct Queued {
    request: FeedbackRequest,
    answer: oneshot::Sender<Result<FeedbackAnswer>>,
}

/// The queue and its thread; dropping it lets the thread finish what is queued and joins it.
pub(super) struct RatingWriter {
    queue: Option<Sender<Queued>>,
    thread: Option<JoinHandle<()>>,
}

impl RatingWriter {
    /// Starts the thread, writing through `writer` (the store's writer, shared with every
    /// other write of the daemon).
    pub fn start(writer: Arc<Mutex<dyn Store + Send>>) -> std::io::Result<Self> {
        let (queue, queued) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("paperscout-ratings".to_owned())
            .spawn(move || run(&writer, &queued))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues a rating; its answer comes on the returned channel.
    pub fn submit(&self, request: FeedbackRequest) -> oneshot::Receiver<Result<FeedbackAnswer>> {
        let (answer, answered) = oneshot::channel();
        if let Some(queue) = &self.queue
            && let Err(unsent) = queue.send(Queued { request, answer })
        {
            let _ = unsent.0.answer.send(Err(stopped()));
        }
        answered
    }
}

impl Drop for RatingWriter {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> DaemonError {
    DaemonError::Bug("the rating writer has stopped".to_owned())
}

fn run(writer: &Mutex<dyn Store + Send>, queued: &Receiver<Queued>) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        batch.extend(queued.try_iter());
        write_batch(writer, batch);
    }
}

/// Checks and writes a batch of ratings in one transaction, and answers each.
fn write_batch(writer: &Mutex<dyn Store + Send>, batch: Vec<Queued>) {
    let mut writer = lock(writer);
    let now = paperscout_store::now();
    let mut plans = Vec::with_capacity(batch.len());
    let mut events: Vec<(String, Feedback)> = Vec::new();
    for queued in &batch {
        let asked = &queued.request;
        match users::plan_feedback(&*writer, &asked.user, asked.kind, &asked.papers, now) {
            Ok((papers, ratings)) => {
                for rating in ratings {
                    // The same rating twice in one batch (a double click) is one.
                    let again = events.iter().rev().find(|(user, earlier)| {
                        *user == asked.user && earlier.paper_id == rating.paper_id
                    });
                    if again.is_none_or(|(_, earlier)| earlier.kind != rating.kind) {
                        events.push((asked.user.clone(), rating));
                    }
                }
                plans.push(Ok(papers));
            }
            Err(err) => plans.push(Err(err)),
        }
    }
    let refs: Vec<(&str, Feedback)> = events
        .iter()
        .map(|(user, rating)| (user.as_str(), rating.clone()))
        .collect();
    let written = writer
        .add_feedback_many(&refs)
        .map_err(|err| err.to_string());
    drop(writer);
    for (queued, plan) in batch.into_iter().zip(plans) {
        let answer = match (&written, plan) {
            (_, Err(err)) => Err(err.into()),
            (Err(message), Ok(_)) => Err(DaemonError::io(
                "the store could not record the ratings",
                std::io::Error::other(message.clone()),
            )),
            (Ok(()), Ok(papers)) => Ok(FeedbackAnswer {
                user: queued.request.user.clone(),
                kind: queued.request.kind,
                papers: papers.into_iter().map(|p| p.paper.id).collect(),
            }),
        };
        // A caller that gave up waiting no longer needs its answer.
        let _ = queued.answer.send(answer);
    }
}
