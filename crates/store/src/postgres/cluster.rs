//! What daemons sharing one database need of it beyond the [`crate::Store`] trait: the
//! embeddings written since a daemon last looked (to catch its own index up), a lock that
//! makes exactly one of them the leader of the schedule, and the table where each notes
//! itself for `status`.

use postgres::Client;

use super::{PostgresStore, paper_columns, read_paper_or_skip, tls};
use crate::error::Result;
use crate::records::{ModelKey, StoredPaper, Timestamp};

/// The session-level advisory lock the leading daemon holds on a connection of its own; the
/// server drops it when that connection ends, however the daemon ended.
const LEADER_LOCK: i64 = 0x7061_7065_7273_0003;

/// A paper whose embedding under a model was written, with that embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingChange {
    /// Its place in the order of writes.
    pub seq: i64,
    /// The paper as stored now.
    pub paper: StoredPaper,
    /// Its embedding of its current text.
    pub vector: Vec<f32>,
}

/// The embeddings written after some point, and how far the look went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeBatch {
    /// Embeddings of their paper's current text, in the order they were written.
    pub changes: Vec<EmbeddingChange>,
    /// The last `seq` looked at (the next look starts after it); the point given when there
    /// was nothing new. Embeddings of a text since replaced are passed over: the new text's
    /// embedding comes later in the order.
    pub last_seq: i64,
}

/// The papers written after some point (new, or changed in any field), and how far the look
/// went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaperBatch {
    /// The papers as stored now, in the order written.
    pub papers: Vec<StoredPaper>,
    /// The last `seq` looked at; the point given when there was nothing new.
    pub last_seq: i64,
}

/// What a daemon notes of itself every few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonBeat {
    /// `host:pid`, unique among running daemons.
    pub name: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it started.
    pub started: Timestamp,
    /// Now.
    pub seen: Timestamp,
    /// Whether it leads the schedule.
    pub leader: bool,
    /// The last `seq` its index has followed.
    pub index_seq: i64,
}

/// A daemon as the table knows it, with how far its index is behind the newest embedding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DaemonRow {
    /// `host:pid`.
    pub name: String,
    /// When it started.
    pub started: Timestamp,
    /// When it last noted itself.
    pub seen: Timestamp,
    /// Whether it said it leads.
    pub leader: bool,
    /// Embeddings written that its index had not followed when it last noted itself.
    pub lag: i64,
}

/// This machine's name, as the processes sharing a database name themselves (`host:pid`, in
/// the daemons' table and the re-rank leases).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The channel every write of papers or embeddings notifies at its commit.
pub(super) const CHANGES_CHANNEL: &str = "paperscout_changes";

/// Rows of daemons not seen for this long are removed by the next beat of another.
const FORGET_AFTER_SECONDS: i64 = 24 * 60 * 60;

impl PostgresStore {
    /// The `seq` of the newest embedding under `model` (0 for none): where a daemon that has
    /// just read every embedding starts following.
    pub fn latest_change(&self, model: &ModelKey) -> Result<i64> {
        self.with(|db| {
            let Some(model_id) = db.model_id(model)? else {
                return Ok(0);
            };
            Ok(db
                .query_one(
                    "SELECT coalesce(max(seq), 0) FROM embeddings WHERE model_id = $1",
                    &[&model_id],
                )?
                .try_get(0)?)
        })
    }

    /// Up to `limit` embeddings under `model` written after `after`, in the order written
    /// (which is the order they were committed in: see `PAPER_WRITE_LOCK`).
    pub fn changes_since(&self, model: &ModelKey, after: i64, limit: usize) -> Result<ChangeBatch> {
        self.with(|db| {
            let Some(model_id) = db.model_id(model)? else {
                return Ok(ChangeBatch {
                    changes: Vec::new(),
                    last_seq: after,
                });
            };
            let limit = limit.max(1) as i64;
            let rows = db.query(
                concat!(
                    "SELECT ",
                    paper_columns!(),
                    ", e.seq, e.vector, e.text_sha = p.text_sha
                     FROM embeddings e JOIN papers p ON p.id = e.paper_id
                     WHERE e.model_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
                ),
                &[&model_id, &after, &limit],
            )?;
            let mut batch = ChangeBatch {
                changes: Vec::with_capacity(rows.len()),
                last_seq: after,
            };
            for row in &rows {
                let seq: i64 = row.try_get(15)?;
                batch.last_seq = batch.last_seq.max(seq);
                let current: bool = row.try_get(17)?;
                if !current {
                    continue;
                }
                if let Some(paper) = read_paper_or_skip(row)? {
                    batch.changes.push(EmbeddingChange {
                        seq,
                        paper,
                        vector: crate::vector_bytes::decode(row.try_get(16)?)?,
                    });
                }
            }
            Ok(batch)
        })
    }

    /// The `seq` of the paper written last (0 for none).
    pub fn latest_paper_change(&self) -> Result<i64> {
        self.with(|db| {
            Ok(db
                .query_one("SELECT coalesce(max(seq), 0) FROM papers", &[])?
                .try_get(0)?)
        })
    }

    /// Up to `limit` papers written after `after`, in the order written (commit order, as for
    /// the embeddings).
    pub fn papers_changed_since(&self, after: i64, limit: usize) -> Result<PaperBatch> {
        let limit = limit.max(1) as i64;
        self.with(|db| {
            let rows = db.query(
                concat!(
                    "SELECT ",
                    paper_columns!(),
                    ", seq FROM papers WHERE seq > $1 ORDER BY seq LIMIT $2"
                ),
                &[&after, &limit],
            )?;
            let mut batch = PaperBatch {
                papers: Vec::with_capacity(rows.len()),
                last_seq: after,
            };
            for row in &rows {
                batch.last_seq = batch.last_seq.max(row.try_get(15)?);
                if let Some(paper) = read_paper_or_skip(row)? {
                    batch.papers.push(paper);
                }
            }
            Ok(batch)
        })
    }

    /// Notes a daemon's state, and forgets daemons not seen for a day.
    pub fn beat(&self, beat: &DaemonBeat) -> Result<()> {
        if self.read_only {
            return Err(crate::StoreError::ReadOnly);
        }
        let pid = i64::from(beat.pid);
        self.with(|db| {
            db.execute(
                "INSERT INTO daemons (name, host, pid, started, seen, leader, index_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                     started = excluded.started, seen = excluded.seen,
                     leader = excluded.leader, index_seq = excluded.index_seq",
                &[
                    &beat.name,
                    &beat.host,
                    &pid,
                    &beat.started,
                    &beat.seen,
                    &beat.leader,
                    &beat.index_seq,
                ],
            )?;
            let stale = beat.seen - FORGET_AFTER_SECONDS;
            db.execute("DELETE FROM daemons WHERE seen < $1", &[&stale])?;
            Ok(())
        })
    }

    /// The daemons that noted themselves since `since`, by name, with their index's lag
    /// behind the newest embedding under `model`.
    pub fn daemons(&self, model: &ModelKey, since: Timestamp) -> Result<Vec<DaemonRow>> {
        let newest = self.latest_change(model)?;
        self.with(|db| {
            db.query(
                "SELECT name, started, seen, leader, index_seq FROM daemons
                 WHERE seen >= $1 ORDER BY name",
                &[&since],
            )?
            .iter()
            .map(|row| {
                Ok(DaemonRow {
                    name: row.try_get(0)?,
                    started: row.try_get(1)?,
                    seen: row.try_get(2)?,
                    leader: row.try_get(3)?,
                    lag: (newest - row.try_get::<_, i64>(4)?).max(0),
                })
            })
            .collect()
        })
    }

    /// A listener for every commit of papers or embeddings, on a connection of its own
    /// (made at its first wait, and again whenever it is lost).
    pub fn listener(&self) -> ChangeListener {
        ChangeListener {
            connector: self.connector.clone(),
            client: None,
        }
    }

    /// A claim on leadership of the schedule, on a connection of its own.
    pub fn leadership(&self) -> Leadership {
        Leadership {
            connector: self.connector.clone(),
            place: self.place.clone(),
            client: None,
        }
    }
}

/// Hears the commits of papers and embeddings (`LISTEN`), to wake a follower at once.
pub struct ChangeListener {
    connector: tls::Connector,
    client: Option<Client>,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("listening", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// Waits up to `timeout` for a commit; true when one (or more) came. A connection that
    /// cannot be made or is lost is "no" after the wait, and made again at the next call: the
    /// follower's own polls cover what is missed meanwhile.
    pub fn wait(&mut self, timeout: std::time::Duration) -> bool {
        use postgres::fallible_iterator::FallibleIterator;
        if self.client.is_none() {
            let listening = self.connector.connect().and_then(|mut client| {
                client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))?;
                Ok(client)
            });
            match listening {
                Ok(client) => self.client = Some(client),
                Err(err) => {
                    tracing::debug!("cannot listen for the shared store's changes: {err}");
                    std::thread::sleep(timeout);
                    return false;
                }
            }
        }
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        let heard = {
            let mut notifications = client.notifications();
            let heard = notifications.timeout_iter(timeout).next();
            // What else is queued already belongs to the same look.
            while let Ok(Some(_)) = notifications.iter().next() {}
            heard
        };
        match heard {
            Ok(heard) if !client.is_closed() => heard.is_some(),
            _ => {
                self.client = None;
                false
            }
        }
    }
}

/// Leadership of the daemons sharing a database: whoever holds the leader lock. The lock is
/// held by a connection of this claim's own, so it ends with the process (or with that
/// connection, when the server or the network goes away) and another daemon takes it.
pub struct Leadership {
    connector: tls::Connector,
    place: String,
    /// The connection holding the lock, while it does.
    client: Option<Client>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("place", &self.place)
            .field("leading", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl Leadership {
    /// Whether this process leads now: checks that the lock's connection still lives, or
    /// tries to take the lock. A failure to reach the database is "no" (logged): a daemon that
    /// cannot reach it must not act as leader.
    pub fn try_lead(&mut self) -> bool {
        if let Some(client) = self.client.as_mut() {
            match client.simple_query("SELECT 1") {
                Ok(_) => return true,
                Err(err) => {
                    tracing::warn!(
                        database = %self.place,
                        "lost the connection holding the schedule's leadership ({err})"
                    );
                    self.client = None;
                }
            }
        }
        let mut client = match self.connector.connect() {
            Ok(client) => client,
            Err(err) => {
                tracing::debug!(database = %self.place, "cannot try for leadership: {err}");
                return false;
            }
        };
        match client.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK]) {
            Ok(row) if row.try_get::<_, bool>(0).unwrap_or(false) => {
                tracing::info!(database = %self.place, "this daemon now leads the schedule");
                self.client = Some(client);
                true
            }
            Ok(_) => false,
            Err(err) => {
                tracing::debug!(database = %self.place, "cannot try for leadership: {err}");
                false
            }
        }
    }

    /// Gives leadership up (at shutdown), so another daemon takes it at once.
    pub fn resign(&mut self) {
        if let Some(mut client) = self.client.take() {
            // Unlocked here, the leadership is free when this returns; a closed connection
            // frees it only once the server's backend has ended, and another daemon may try
            // before then and be refused.
            let _ = client.query_one("SELECT pg_advisory_unlock($1)", &[&LEADER_LOCK]);
            let _ = client.close();
        }
    }
}
