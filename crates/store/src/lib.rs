//! paperscout's durable home: papers, their embeddings, users, profiles, feedback and the
//! digests already sent.
//!
//! [`Store`] is what the rest of paperscout asks of storage. [`SqliteStore`] keeps it in one
//! SQLite file (WAL, synced at every commit, a versioned schema with forward migrations, one
//! writer at a time); [`PostgresStore`] in a PostgreSQL database that many processes share
//! (with what they need to work together: [`PostgresStore::changes_since`] to follow the
//! embeddings, [`Leadership`], the daemons' table, and [`copy_sqlite_to_postgres`]);
//! [`MemoryStore`] is the in-memory twin for unit tests. All three merge a paper
//! that arrives again by the rules of [`merge()`], and all tie each embedding to the exact text
//! it was computed from, so a changed abstract or a changed model is noticed and re-embedded.

#![forbid(unsafe_code)]

mod checkpoint;
mod error;
mod lock;
mod memory;
pub mod merge;
pub mod postgres;
mod records;
pub mod schema;
mod shared;
mod sqlite;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod vector_bytes;

use std::path::{Path, PathBuf};

pub use checkpoint::{Checkpoint, Checkpointer};
pub use error::{Result, StoreError};
pub use lock::lock_path;
pub use memory::MemoryStore;
pub use merge::merge;
pub use postgres::{
    ChangeBatch, ChangeListener, CopiedTable, DaemonBeat, DaemonRow, EmbeddingChange, Leadership,
    PaperBatch, PostgresStore, RerankProgress, ShardLease, copy_sqlite_to_postgres,
};
pub use records::{
    Change, Channel, Classification, Delivery, Feedback, FeedbackKind, ModelKey, ModelStats,
    NewMail, PaperWrite, ProfileItem, ProfileSubject, QueuedMail, Recommendation, Stats,
    StoredPaper, StoredRecommendations, Timestamp, User, WriteSummary, text_digest,
};
pub use sqlite::SqliteStore;
pub use store::Store;

/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "paperscout.sqlite3";

/// The store's file in a data directory.
pub fn file_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
