//! `stats` and `health`, and the upkeep: the index's compaction in the background and saving, and
//! the store's log checkpoints.

use std::sync::atomic::Ordering;

use paperscout_proto::{CatalogStats, HealthAnswer, IndexStats, ModelStats, StatsAnswer};

use super::{Service, lock, read};
use crate::error::Result;

impl Service {
    /// `stats`.
    pub fn stats(&self) -> Result<StatsAnswer> {
        let store = self.readers.with(|store| Ok(store.stats()?))?;
        let counts = self.index.counts();
        let key = self.model.key();
        Ok(StatsAnswer {
            store,
            index: IndexStats {
                papers: counts.papers,
                points: counts.points,
                tombstone_ratio: counts.tombstone_ratio,
            },
            catalog: CatalogStats {
                papers: read(&self.catalog).len(),
            },
            model: ModelStats {
                name: key.name.clone(),
                sha256: key.sha256.clone(),
                dim: key.dim,
            },
        })
    }

    /// `health`.
    pub fn health(&self) -> HealthAnswer {
        HealthAnswer {
            status: "ok".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: paperscout_proto::VERSION,
            pid: std::process::id(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            papers_indexed: self.index.counts().papers,
            model_queue: self.model.waiting(),
            connections: self.connections.load(Ordering::Relaxed),
            cluster: self.cluster_health(),
        }
    }

    /// The index's housekeeping (for the HNSW index, a compaction in the background when
    /// tombstones pass the threshold, while searches go on). Returns whether it did any.
    pub fn maintain_index(&self) -> Result<bool> {
        Ok(self.index.maintain()?)
    }

    /// Makes the index's changes durable (saves the HNSW index if it changed).
    pub fn persist(&self) -> Result<()> {
        Ok(self.index.flush()?)
    }

    /// Checkpoints the store's write-ahead log (see `paperscout_store::Checkpointer`).
    pub fn checkpoint_store(&self) -> Result<()> {
        let Some(checkpointer) = &self.checkpointer else {
            return Ok(());
        };
        let done = lock(checkpointer).checkpoint()?;
        if done.copied_pages < done.log_pages {
            tracing::debug!(?done, "a reader holds part of the store's log back");
        }
        Ok(())
    }
}
