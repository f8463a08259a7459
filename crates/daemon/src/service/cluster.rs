//! A daemon among others on one PostgreSQL database: its index follows the embeddings any of
//! them writes, one of them (whoever holds the leader lock) runs the schedule, and each notes
//! itself in the database so that `status` shows who leads and how far each index lags.
//!
//! On the SQLite file there is one daemon, which always leads and has nothing to follow.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};

use paperscout_index::Payload;
use paperscout_proto::{ClusterHealth, DaemonHealth};
use paperscout_store::{DaemonBeat, Leadership, ModelKey, PostgresStore};

use super::{Service, lock, read, write};
use crate::error::Result;

/// Changes absorbed per look; a daemon far behind takes several.
const FOLLOW_PAGE: usize = 512;

/// Daemons not heard from for this long are not shown by `status`.
const SHOWN_SECONDS: i64 = 60;

/// This daemon's place among those sharing the database.
pub(super) struct Cluster {
    /// A connection of the follower's own: following never waits for a request's reads.
    store: PostgresStore,
    /// The `seq` of the last embedding the index has absorbed.
    followed: AtomicI64,
    /// The `seq` of the last paper the catalogue (and the index's filters) has absorbed.
    followed_papers: AtomicI64,
    leadership: Mutex<Leadership>,
    leading: AtomicBool,
    name: String,
    host: String,
    started: i64,
    /// What the last beat read of every daemon, for `health` (which must not wait on the
    /// database).
    seen: RwLock<Option<ClusterHealth>>,
}

impl Cluster {
    /// Joins the daemons on `url`. `followed` is where following starts: the newest embedding
    /// and the newest paper as they were before the index and the catalogue were read from
    /// the store.
    pub(super) fn join(store: PostgresStore, followed: (i64, i64)) -> Self {
        let host = paperscout_store::postgres::host_name();
        let leadership = store.leadership();
        Self {
            name: format!("{host}:{}", std::process::id()),
            host,
            started: paperscout_store::now(),
            store,
            followed: AtomicI64::new(followed.0),
            followed_papers: AtomicI64::new(followed.1),
            leadership: Mutex::new(leadership),
            leading: AtomicBool::new(false),
            seen: RwLock::new(None),
        }
    }

    /// The newest embedding under `model` and the newest paper now: where a daemon that is
    /// about to read all of them starts following.
    pub(super) fn newest(store: &PostgresStore, model: &ModelKey) -> Result<(i64, i64)> {
        Ok((store.latest_change(model)?, store.latest_paper_change()?))
    }
}

impl Service {
    /// Whether this daemon shares its store with others (PostgreSQL).
    pub fn is_clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// Absorbs into the index and the catalogue every embedding other daemons (or commands)
    /// wrote since the last look, and every paper whose record changed; returns how many
    /// embeddings. A no-op on the SQLite file.
    pub fn follow(&self) -> Result<usize> {
        let Some(cluster) = &self.cluster else {
            return Ok(0);
        };
        self.follow_papers(cluster)?;
        let mut absorbed = 0;
        loop {
            let after = cluster.followed.load(Ordering::Acquire);
            let batch = cluster
                .store
                .changes_since(self.model.key(), after, FOLLOW_PAGE)?;
            if batch.last_seq == after {
                return Ok(absorbed);
            }
            {
                let mut catalog = write(&self.catalog);
                for change in &batch.changes {
                    catalog.insert(&change.paper.paper);
                }
            }
            let rows: Vec<(&str, &[f32], Payload)> = batch
                .changes
                .iter()
                .map(|change| {
                    (
                        change.paper.paper.id.as_str(),
                        change.vector.as_slice(),
                        Payload::of(&change.paper.paper),
                    )
                })
                .collect();
            self.index.upsert(&rows)?;
            absorbed += rows.len();
            cluster.followed.store(batch.last_seq, Ordering::Release);
        }
    }

    /// The papers written since the last look into the catalogue, and their days and
    /// categories into the index's filters (their vectors come with their embeddings).
    fn follow_papers(&self, cluster: &Cluster) -> Result<()> {
        loop {
            let after = cluster.followed_papers.load(Ordering::Acquire);
            let batch = cluster.store.papers_changed_since(after, FOLLOW_PAGE)?;
            if batch.last_seq == after {
                return Ok(());
            }
            {
                let mut catalog = write(&self.catalog);
                for stored in &batch.papers {
                    catalog.insert(&stored.paper);
                }
            }
            let payloads: Vec<(&str, Payload)> = batch
                .papers
                .iter()
                .map(|stored| (stored.paper.id.as_str(), Payload::of(&stored.paper)))
                .collect();
            self.index.set_payloads(&payloads);
            cluster
                .followed_papers
                .store(batch.last_seq, Ordering::Release);
        }
    }

    /// Starts a thread that listens for the commits of papers and embeddings on the shared
    /// store and wakes `wake` at each, until `stop` turns true. Nothing on the SQLite file.
    pub fn listen_for_changes(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
        stop: std::sync::Arc<AtomicBool>,
    ) -> std::io::Result<()> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let mut listener = cluster.store.listener();
        std::thread::Builder::new()
            .name("paperscout-listen".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if listener.wait(std::time::Duration::from_secs(1)) {
                        wake.notify_one();
                    }
                }
            })
            .map(drop)
    }

    /// Whether this daemon runs the schedule now: always on the SQLite file; on PostgreSQL,
    /// while it holds the leader lock (tried at each call when it does not).
    pub fn lead(&self) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        // The flag is set under the lock too, so two callers cannot store their answers in
        // the other order.
        let mut leadership = lock(&cluster.leadership);
        let leading = leadership.try_lead();
        let was = cluster.leading.swap(leading, Ordering::AcqRel);
        drop(leadership);
        if was && !leading {
            tracing::warn!("this daemon no longer leads the schedule");
        }
        leading
    }

    /// Gives up the leadership (at shutdown), so that another daemon takes it at once.
    pub fn resign(&self) {
        if let Some(cluster) = &self.cluster {
            lock(&cluster.leadership).resign();
            cluster.leading.store(false, Ordering::Release);
        }
    }

    /// Notes this daemon in the database and reads every daemon's note back for `health`.
    pub fn beat(&self) -> Result<()> {
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let now = paperscout_store::now();
        let leader = cluster.leading.load(Ordering::Acquire);
        cluster.store.beat(&DaemonBeat {
            name: cluster.name.clone(),
            host: cluster.host.clone(),
            pid: std::process::id(),
            started: cluster.started,
            seen: now,
            leader,
            index_seq: cluster.followed.load(Ordering::Acquire),
        })?;
        let daemons = cluster
            .store
            .daemons(self.model.key(), now - SHOWN_SECONDS)?
            .into_iter()
            .map(|row| DaemonHealth {
                this: row.name == cluster.name,
                name: row.name,
                leader: row.leader,
                index_lag: row.lag,
                seen_seconds_ago: (now - row.seen).max(0),
            })
            .collect();
        *write(&cluster.seen) = Some(ClusterHealth {
            database: cluster.store.place().to_owned(),
            leader,
            daemons,
        });
        Ok(())
    }

    /// What the last beat saw of the daemons sharing the database (none on the SQLite file),
    /// with this daemon's own leadership as it is now.
    pub(super) fn cluster_health(&self) -> Option<ClusterHealth> {
        let cluster = self.cluster.as_ref()?;
        let mut health = read(&cluster.seen).clone()?;
        health.leader = cluster.leading.load(Ordering::Acquire);
        for daemon in health.daemons.iter_mut().filter(|daemon| daemon.this) {
            daemon.leader = health.leader;
        }
        Some(health)
    }
}
