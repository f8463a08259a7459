//! `stats` and `health`, and the index's upkeep: compaction in the background and saving.

use std::sync::atomic::Ordering;

use paperscout_proto::{CatalogStats, HealthAnswer, IndexStats, ModelStats, StatsAnswer};
use paperscout_store::Store;

use super::{Service, read};
use crate::error::Result;

impl Service {
    /// `stats`.
    pub fn stats(&self) -> Result<StatsAnswer> {
        let store = self.readers.with(|store| Ok(store.stats()?))?;
        let index = self.index.read();
        let key = self.model.key();
        Ok(StatsAnswer {
            store,
            index: IndexStats {
                papers: index.len(),
                points: index.point_count(),
                tombstone_ratio: index.tombstone_ratio(),
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
            papers_indexed: self.index.read().len(),
            model_queue: self.model.waiting(),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }

    /// Rebuilds the index without its tombstones when they pass the threshold, while searches
    /// go on (see [`paperscout_app::live_index::LiveIndex::compact_if_needed`]). Returns
    /// whether it compacted.
    pub fn compact_if_needed(&self) -> Result<bool> {
        Ok(self.index.compact_if_needed()?)
    }

    /// Saves the index if it changed since it was last saved.
    pub fn persist(&self) -> Result<()> {
        Ok(self.index.persist()?)
    }
}
