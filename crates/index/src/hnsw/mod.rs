//! The HNSW implementation of [`crate::VectorIndex`], on hnsw_rs: the graph and its exact
//! fallback ([`PaperIndex`]), its half-precision distance, the byte-coded rows its walk
//! scores, the locality order of large batches, the flat copy searches walk, the calibration
//! of ef, persistence, and [`HnswIndex`], the index a long-lived process serves from with all
//! of its housekeeping. A remote engine would have none of these.

pub(crate) mod calibrate;
pub(crate) mod calibration;
pub(crate) mod coded;
pub(crate) mod distance;
pub(crate) mod frozen;
pub(crate) mod ids;
mod live;
pub(crate) mod locality;
pub(crate) mod memory;
pub(crate) mod paper_index;
pub(crate) mod persist;
pub(crate) mod scored;

pub use calibrate::RecallTally;
pub use calibration::{CALIBRATION_MIN_PAPERS, Calibration, EF_LADDER};
pub use coded::{CodedQuery, CodedRows};
pub use distance::{UnitDotF16, dot};
pub use frozen::FrozenGraph;
pub use live::{
    CALIBRATION_K, CALIBRATION_QUERIES, HnswIndex, RECALIBRATION_MIN_QUERIES, TARGET_RECALL,
    TOMBSTONE_LIMIT, save_unless_empty,
};
pub use memory::MemoryUse;
pub use paper_index::{Filter, IndexParams, LoadedBuilder, PaperIndex, Upsert};
pub use persist::{Expected, FileEntry, Manifest, Saved};
