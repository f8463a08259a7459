//! Write-ahead-log checkpoints off the writer's path.
//!
//! SQLite copies its write-ahead log back into the database file (a checkpoint) on the commit
//! that takes the log past 1,000 pages, and that commit waits for the copy and its two syncs.
//! For a daemon whose commits a person waits on (a rating), that is a pause of several
//! milliseconds every few hundred commits. A daemon therefore turns those checkpoints off on
//! its writer ([`SqliteStore::defer_checkpoints`]) and runs them itself from a [`Checkpointer`]:
//! a second connection whose checkpoints are passive, so they neither wait for nor hold up the
//! writer or a reader. A log whose checkpoint never comes stays correct, only larger; SQLite
//! reads it whole, and the last connection to close checkpoints it.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::Result;
use crate::sqlite::{self, SqliteStore};

/// The largest the log file is left on disk after a checkpoint has emptied it, in bytes; a
/// big ingest may grow it far past this between two checkpoints.
const KEPT_LOG_BYTES: i64 = 64 * 1024 * 1024;

impl SqliteStore {
    /// Stops this connection's commits from checkpointing the log: call
    /// [`Checkpointer::checkpoint`] from time to time instead.
    pub fn defer_checkpoints(&mut self) -> Result<()> {
        let connection = self.connection();
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        connection.pragma_update(None, "journal_size_limit", KEPT_LOG_BYTES)?;
        Ok(())
    }

    /// A connection that checkpoints this store's log.
    pub fn checkpointer(&self) -> Result<Checkpointer> {
        Checkpointer::open(self.path())
    }
}

/// What one checkpoint did, in pages of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Pages in the log when it ran.
    pub log_pages: i64,
    /// Of those, the pages now copied into the database file; fewer while a reader still
    /// reads an older snapshot, and those wait for the next checkpoint.
    pub copied_pages: i64,
}

/// A connection of its own that copies a store's log into its database file.
#[derive(Debug)]
pub struct Checkpointer {
    connection: Connection,
}

impl Checkpointer {
    fn open(path: &Path) -> Result<Self> {
        let connection = sqlite::connect(path, OpenFlags::default())?;
        // The copy is synced before the log is reused, as at any checkpoint.
        connection.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self { connection })
    }

    /// Copies every page of the log no reader still needs into the database file, without
    /// waiting on the writer or a reader.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let (log_pages, copied_pages) =
            self.connection
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                })?;
        Ok(Checkpoint {
            log_pages: log_pages.max(0),
            copied_pages: copied_pages.max(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn log_bytes(store: &Path) -> u64 {
        std::fs::metadata(sqlite::log_path(store)).map_or(0, |meta| meta.len())
    }

    fn write_users(store: &mut SqliteStore, from: usize, count: usize) {
        for n in from..from + count {
            store.add_user(&format!("user{n}"), 0).expect("add a user");
        }
    }

    #[test]
    fn deferred_commits_stay_in_the_log_until_a_checkpoint_copies_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.sqlite3");
        let mut store = SqliteStore::open(&path).expect("open");
        store.defer_checkpoints().expect("defer");
        let checkpointer = store.checkpointer().expect("checkpointer");
        checkpointer.checkpoint().expect("first checkpoint");

        // Far past the 1,000 pages at which a commit would have checkpointed by itself.
        write_users(&mut store, 0, 1_500);
        let before = checkpointer.checkpoint().expect("checkpoint");
        assert!(before.log_pages > 1_000, "{before:?}");
        assert_eq!(
            before.copied_pages, before.log_pages,
            "no reader holds it back"
        );

        // The next commit starts the log over instead of growing it.
        let grown = log_bytes(&path);
        write_users(&mut store, 1_500, 10);
        assert!(log_bytes(&path) <= grown);
        let after = checkpointer.checkpoint().expect("checkpoint");
        assert!(after.log_pages < 100, "{after:?}");

        drop(checkpointer);
        drop(store);
        let reopened = SqliteStore::open_read_only(&path).expect("reopen");
        assert_eq!(reopened.users().expect("users").len(), 1_510);
    }

    #[test]
    fn without_deferral_the_writer_checkpoints_by_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.sqlite3");
        let mut store = SqliteStore::open(&path).expect("open");
        let checkpointer = store.checkpointer().expect("checkpointer");
        write_users(&mut store, 0, 1_500);
        let found = checkpointer.checkpoint().expect("checkpoint");
        assert!(found.log_pages < 1_000, "{found:?}");
    }
}
