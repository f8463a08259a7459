//! Approximate nearest-neighbour search over paper embeddings.
//!
//! [`VectorIndex`] is what paperscout asks of a vector engine: upsert with a [`Payload`],
//! remove, search with a [`SearchFilter`] made of data (days, categories, excluded ids), a
//! paper's vector, counts, and maintenance. [`HnswIndex`] is the implementation on hnsw_rs,
//! in [`hnsw`], with everything only an HNSW graph needs (compaction, calibration, the flat
//! copy searches walk, persistence) behind it.
//!
//! [`PaperIndex`] keeps an HNSW graph (hnsw_rs) over unit vectors, keyed by paper id: adding a
//! paper twice is a no-op, a changed vector replaces the old one, and replaced or removed papers
//! become tombstones that searches skip. Its searches take a [`Filter`] (ids to exclude, a
//! predicate for date or category); when the graph cannot find `k` admissible papers, an exact
//! search over every live paper answers instead, and the same exact search is the ground truth
//! for measuring recall.
//!
//! A loaded index holds one copy of each vector, in half precision, the flat copy of the
//! graph searches walk, and the ids: about 0.9 KB a paper ([`MemoryUse`] tells it part by
//! part). hnsw_rs's own graph is resident only while papers are inserted.
//!
//! [`PaperIndex::save`] writes the index as a new generation with a manifest (model,
//! dimension, parameters, counts, an xxh3 digest per file) and switches to it by one rename;
//! [`PaperIndex::load`] refuses a missing, stale or corrupt index with the reason, so the
//! caller can rebuild it from the store rather than serve wrong answers.
//!
//! The recall a fixed ef gives falls as the graph grows, so [`PaperIndex::calibrate`]
//! measures it on the index's own papers and picks the smallest ef that reaches a target; the
//! manifest keeps the result.

#![forbid(unsafe_code)]

mod error;
pub mod hnsw;
mod import;
mod vector_index;

pub use error::{IndexError, Result};
pub use hnsw::{
    CALIBRATION_MIN_PAPERS, Calibration, EF_LADDER, Expected, FileEntry, Filter, FrozenGraph,
    HnswIndex, IndexParams, LoadedBuilder, Manifest, MemoryUse, PaperIndex, RecallTally, Saved,
    UnitDotF16, Upsert, dot,
};
pub use import::f16_rows;
pub use vector_index::{Bounds, Hit, IndexCounts, Payload, SearchFilter, VectorIndex};
