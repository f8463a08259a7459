//! A batch re-rank across machines, on a PostgreSQL store: `rerank --shards N` splits the
//! selected users into N shards kept in the database; `rerank --worker` (any number of them,
//! anywhere) leases a shard at a time, ranks it exactly as a single run would ([`run_users`]),
//! and hands its output back (and, with `--store`, the users' recommendations); the worker that
//! finds every shard handed back writes the merged output, the shards' outputs in order, which
//! is the single run's output.
//!
//! A worker keeps its lease alive while it ranks; a killed worker's shard is leased again once
//! its lease ends, and ranked again from the start.

use std::path::Path;
use std::time::Duration;

use paperscout_store::{PostgresStore, ShardLease, Store};
use serde::{Deserialize, Serialize};

use crate::choose::TextEmbedder;
use crate::rerank::{BatchMethod, Event, Job, run_users, select_users};
use crate::{AppError, Result};

/// What every worker of a run ranks with (the users are in the shards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SharedJob {
    users: String,
    candidates: String,
    top: usize,
    method: String,
    mmr_lambda: f32,
    block_users: usize,
}

impl SharedJob {
    fn of(job: &Job) -> Self {
        Self {
            users: job.users.clone(),
            candidates: job.candidates.clone(),
            top: job.top,
            method: job.method.name().to_owned(),
            mmr_lambda: job.mmr_lambda,
            block_users: job.block_users,
        }
    }

    fn job(&self, record: bool) -> Result<Job> {
        Ok(Job {
            users: self.users.clone(),
            candidates: self.candidates.clone(),
            top: self.top,
            method: self.method.parse::<BatchMethod>()?,
            mmr_lambda: self.mmr_lambda,
            block_users: self.block_users,
            record,
        })
    }
}

/// A run as created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Created {
    /// The run's number, for `rerank --worker --run`.
    pub run: i64,
    /// Users in it.
    pub users: usize,
    /// Shards they were split into.
    pub shards: usize,
}

/// Splits the job's users into `shards` contiguous runs of the users' order, kept in the
/// database for workers to take.
pub fn create(store: &PostgresStore, job: &Job, shards: usize) -> Result<Created> {
    if shards == 0 {
        return Err(AppError::Usage(
            "--shards 0: give at least one shard".to_owned(),
        ));
    }
    let users = select_users(store, &job.users)?;
    let per_shard = users.len().div_ceil(shards).max(1);
    let split: Vec<Vec<String>> = users.chunks(per_shard).map(<[String]>::to_vec).collect();
    let text = serde_json::to_string(&SharedJob::of(job)).map_err(|source| AppError::Json {
        what: "the re-rank's job".to_owned(),
        source,
    })?;
    let run = store.create_rerank(&text, &split, paperscout_store::now())?;
    Ok(Created {
        run,
        users: users.len(),
        shards: split.len(),
    })
}

/// What a worker is told to do.
#[derive(Debug, Clone)]
pub struct Worker<'a> {
    /// The run; `None` for the newest.
    pub run: Option<i64>,
    /// The worker's name in the leases (`host:pid`).
    pub name: String,
    /// Seconds a lease lasts unless renewed; renewed at half of it while ranking.
    pub lease_seconds: i64,
    /// Also store each user's ranking as their current recommendations.
    pub record: bool,
    /// Where to write the merged output once every shard is done (by whichever worker sees
    /// that first; any worker with this set writes it then).
    pub out: Option<&'a Path>,
    /// A folder for a shard's output while it is ranked.
    pub scratch: &'a Path,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Worked {
    /// The run.
    pub run: i64,
    /// Shards this worker ranked and handed back.
    pub shards: usize,
    /// Users in them.
    pub users: usize,
    /// Whether this worker wrote the merged output.
    pub merged: bool,
}

/// What a working worker tells its caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WorkEvent {
    /// A shard leased: its number and users.
    Leased {
        /// The shard.
        shard: i64,
        /// Its users.
        users: usize,
    },
    /// The ranking of the leased shard went on.
    Ranking(Event),
    /// The shard was handed back (false: its lease had been lost, and the work was dropped).
    Finished {
        /// The shard.
        shard: i64,
        /// Whether the output was taken.
        kept: bool,
    },
    /// Nothing to lease now, but shards held by others are not done: waiting.
    Waiting {
        /// Shards done.
        done: u64,
        /// Shards in the run.
        shards: u64,
    },
}

/// Leases and ranks shards until every shard of the run is done; then writes the merged
/// output when asked. `data` is the store the ranking reads (and records into).
pub fn work(
    leases: &PostgresStore,
    data: &mut dyn Store,
    model: &dyn TextEmbedder,
    worker: &Worker<'_>,
    events: &mut dyn FnMut(WorkEvent),
) -> Result<Worked> {
    let run = match worker.run {
        Some(run) => run,
        None => leases.latest_rerank()?.ok_or_else(|| {
            AppError::Usage(
                "there is no sharded re-rank to work on: create one with `rerank --shards N`"
                    .to_owned(),
            )
        })?,
    };
    let mut worked = Worked {
        run,
        shards: 0,
        users: 0,
        merged: false,
    };
    loop {
        let now = paperscout_store::now();
        let progress = leases.rerank_progress(run, now)?;
        if progress.finished() {
            if let Some(out) = worker.out {
                let outputs = leases.rerank_outputs(run)?;
                crate::files::write_atomically(out, outputs.concat().as_bytes())?;
                worked.merged = true;
            }
            return Ok(worked);
        }
        let Some(lease) = leases.lease_shard(run, &worker.name, now, worker.lease_seconds)? else {
            events(WorkEvent::Waiting {
                done: progress.done,
                shards: progress.shards,
            });
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        events(WorkEvent::Leased {
            shard: lease.shard,
            users: lease.users.len(),
        });
        let kept = rank_shard(leases, data, model, worker, &lease, events)?;
        events(WorkEvent::Finished {
            shard: lease.shard,
            kept,
        });
        if kept {
            worked.shards += 1;
            worked.users += lease.users.len();
        }
    }
}

/// Ranks one leased shard and hands its output back; whether it was taken.
fn rank_shard(
    leases: &PostgresStore,
    data: &mut dyn Store,
    model: &dyn TextEmbedder,
    worker: &Worker<'_>,
    lease: &ShardLease,
    events: &mut dyn FnMut(WorkEvent),
) -> Result<bool> {
    let shared: SharedJob = serde_json::from_str(&lease.job).map_err(|source| AppError::Json {
        what: format!("run {}'s job", lease.run),
        source,
    })?;
    let job = shared.job(worker.record)?;
    let out = worker
        .scratch
        .join(format!("rerank-{}-shard-{}.jsonl", lease.run, lease.shard));
    // A checkpoint left by a killed worker on this machine would resume a run whose lease
    // is gone: each lease ranks its shard from the start.
    let _ = std::fs::remove_file(crate::rerank::checkpoint_path(&out));
    let mut until = lease.until;
    let mut renewal: Result<()> = Ok(());
    run_users(data, model, &job, &lease.users, &out, &mut |event| {
        let now = paperscout_store::now();
        if renewal.is_ok() && until - now <= worker.lease_seconds / 2 {
            let next = now + worker.lease_seconds;
            match leases.renew_shard(lease, &worker.name, next) {
                Ok(true) => until = next,
                Ok(false) => tracing::warn!(
                    shard = lease.shard,
                    "this worker's lease ended and another took the shard: its work is dropped"
                ),
                Err(err) => renewal = Err(err.into()),
            }
        }
        events(WorkEvent::Ranking(event));
    })?;
    renewal?;
    crate::crash::point("rerank-shard-ranked");
    let output = fs_err::read_to_string(&out)?;
    let kept = leases.finish_shard(lease, &worker.name, &output, paperscout_store::now())?;
    let _ = std::fs::remove_file(&out);
    Ok(kept)
}
