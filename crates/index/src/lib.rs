//! Approximate nearest-neighbour search over paper embeddings.
//!
//! [`PaperIndex`] keeps an HNSW graph (hnsw_rs) over unit vectors, keyed by paper id: adding a
//! paper twice is a no-op, a changed vector replaces the old one, and replaced or removed papers
//! become tombstones that searches skip. Searches take a [`Filter`] (ids to exclude, a
//! predicate for date or category); when the graph cannot find `k` admissible papers, an exact
//! search over every live paper answers instead, and the same exact search is the ground truth
//! for measuring recall.
//!
//! [`PaperIndex::save`] writes the index as a new generation with a manifest (model,
//! dimension, parameters, counts, a sha256 per file) and switches to it by one rename;
//! [`PaperIndex::load`] refuses a missing, stale or corrupt index with the reason, so the
//! caller can rebuild it from the store rather than serve wrong answers.
//!
//! The recall a fixed ef gives falls as the graph grows, so [`PaperIndex::calibrate`]
//! measures it on the index's own papers and picks the smallest ef that reaches a target; the
//! manifest keeps the result.

#![forbid(unsafe_code)]

mod calibrate;
mod calibration;
mod distance;
mod error;
mod frozen;
mod import;
mod locality;
mod paper_index;
mod persist;
mod scored;

pub use calibrate::RecallTally;
pub use calibration::{CALIBRATION_MIN_PAPERS, Calibration, EF_LADDER};
pub use distance::{UnitDotF16, dot};
pub use error::{IndexError, Result};
pub use frozen::FrozenGraph;
pub use import::f16_rows;
pub use paper_index::{Filter, Hit, IndexParams, PaperIndex, Upsert};
pub use persist::{Expected, FileEntry, Manifest};
