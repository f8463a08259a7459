//! Batch re-ranks shared out: a run's users split into shards kept in the database, which
//! workers on any machine lease (`FOR UPDATE SKIP LOCKED`, so two never take the same one),
//! rank and hand back with their output. A lease ends at a time the worker keeps pushing
//! forward while it works; a killed worker's shard is leased again once its lease has ended,
//! and whatever the killed worker would still hand back is refused.

use super::PostgresStore;
use crate::error::{Result, StoreError};
use crate::records::Timestamp;

/// A shard a worker holds: its users, and the run's job as its creator described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// The run.
    pub run: i64,
    /// The shard's number in the run, from 0.
    pub shard: i64,
    /// Its users, in the run's order.
    pub users: Vec<String>,
    /// The run's job (JSON, as given to [`PostgresStore::create_rerank`]).
    pub job: String,
    /// When the lease ends unless renewed.
    pub until: Timestamp,
}

/// How far a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RerankProgress {
    /// Shards in the run.
    pub shards: u64,
    /// Shards handed back.
    pub done: u64,
    /// Shards held by a worker whose lease has not ended.
    pub leased: u64,
}

impl RerankProgress {
    /// Whether every shard is handed back.
    pub fn finished(&self) -> bool {
        self.done == self.shards
    }
}

impl PostgresStore {
    /// Creates a run of `shards` (each a list of users) for `job`; returns its number.
    pub fn create_rerank(&self, job: &str, shards: &[Vec<String>], now: Timestamp) -> Result<i64> {
        let count = shards.len() as i64;
        self.write(|db| {
            let run: i64 = db
                .query_one(
                    "INSERT INTO rerank_runs (job, shards, created) VALUES ($1, $2, $3) RETURNING id",
                    &[&job, &count, &now],
                )?
                .try_get(0)?;
            for (number, users) in shards.iter().enumerate() {
                let users = serde_json::to_string(users).map_err(|err| StoreError::Corrupt {
                    what: "rerank shard",
                    detail: err.to_string(),
                })?;
                db.execute(
                    "INSERT INTO rerank_shards (run_id, shard, users) VALUES ($1, $2, $3)",
                    &[&run, &(number as i64), &users],
                )?;
            }
            Ok(run)
        })
    }

    /// The newest run's number, if any.
    pub fn latest_rerank(&self) -> Result<Option<i64>> {
        self.with(|db| {
            Ok(db
                .query_one("SELECT max(id) FROM rerank_runs", &[])?
                .try_get(0)?)
        })
    }

    /// Leases the first shard of `run` that is neither done nor held under a live lease, for
    /// `lease_seconds` from `now`; `None` when there is none to take now.
    pub fn lease_shard(
        &self,
        run: i64,
        worker: &str,
        now: Timestamp,
        lease_seconds: i64,
    ) -> Result<Option<ShardLease>> {
        let until = now + lease_seconds;
        self.write(|db| {
            let row = db.query_opt(
                "UPDATE rerank_shards s SET leased_by = $2, lease_until = $4,
                     attempts = s.attempts + 1
                 FROM rerank_runs r
                 WHERE r.id = s.run_id AND (s.run_id, s.shard) = (
                     SELECT run_id, shard FROM rerank_shards
                     WHERE run_id = $1 AND done IS NULL
                       AND (lease_until IS NULL OR lease_until < $3)
                     ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING s.shard, s.users, r.job",
                &[&run, &worker, &now, &until],
            )?;
            let Some(row) = row else {
                return Ok(None);
            };
            let users: String = row.try_get(1)?;
            let users = serde_json::from_str(&users).map_err(|err| StoreError::Corrupt {
                what: "rerank shard",
                detail: err.to_string(),
            })?;
            Ok(Some(ShardLease {
                run,
                shard: row.try_get(0)?,
                users,
                job: row.try_get(2)?,
                until,
            }))
        })
    }

    /// Pushes a lease's end to `until`; false when the shard is no longer this worker's (its
    /// lease ended and another took it, or it is done).
    pub fn renew_shard(&self, lease: &ShardLease, worker: &str, until: Timestamp) -> Result<bool> {
        self.write(|db| {
            Ok(db.execute(
                "UPDATE rerank_shards SET lease_until = $4
                 WHERE run_id = $1 AND shard = $2 AND leased_by = $3 AND done IS NULL",
                &[&lease.run, &lease.shard, &worker, &until],
            )? == 1)
        })
    }

    /// Hands a shard back with its output; false (and nothing kept) when the shard is no
    /// longer this worker's.
    pub fn finish_shard(
        &self,
        lease: &ShardLease,
        worker: &str,
        output: &str,
        now: Timestamp,
    ) -> Result<bool> {
        self.write(|db| {
            Ok(db.execute(
                "UPDATE rerank_shards SET output = $4, done = $5, lease_until = NULL
                 WHERE run_id = $1 AND shard = $2 AND leased_by = $3 AND done IS NULL",
                &[&lease.run, &lease.shard, &worker, &output, &now],
            )? == 1)
        })
    }

    /// How far `run` is at `now`.
    pub fn rerank_progress(&self, run: i64, now: Timestamp) -> Result<RerankProgress> {
        self.with(|db| {
            let row = db.query_one(
                "SELECT count(*), count(done),
                        count(*) FILTER (WHERE done IS NULL AND lease_until >= $2)
                 FROM rerank_shards WHERE run_id = $1",
                &[&run, &now],
            )?;
            let count =
                |index: usize| -> Result<u64> { Ok(row.try_get::<_, i64>(index)?.max(0) as u64) };
            if count(0)? == 0 {
                return Err(StoreError::Corrupt {
                    what: "rerank run",
                    detail: format!("run {run} has no shards: is it the right number?"),
                });
            }
            Ok(RerankProgress {
                shards: count(0)?,
                done: count(1)?,
                leased: count(2)?,
            })
        })
    }

    /// Every shard's output of a finished run, in shard order (which is the users' order).
    pub fn rerank_outputs(&self, run: i64) -> Result<Vec<String>> {
        self.with(|db| {
            db.query(
                "SELECT coalesce(output, '') FROM rerank_shards WHERE run_id = $1 ORDER BY shard",
                &[&run],
            )?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect()
        })
    }
}
