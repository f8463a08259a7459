//! The store the settings name, opened: the SQLite file in the data directory (the default,
//! for one machine), or a PostgreSQL database (`[store] url`, `--store-url`,
//! `PAPERSCOUT_STORE_URL`) that any number of paperscout processes share.
//!
//! Commands and the daemon ask for a [`BoxedStore`] and use it through the [`Store`] trait, so
//! they behave the same on either.

use std::path::PathBuf;

use paperscout_store::postgres::{is_postgres_url, redact_url};
use paperscout_store::{PostgresStore, SqliteStore, Store, StoreError};

use crate::error::Result;

/// A store of either kind, as the commands hold it.
pub type BoxedStore = Box<dyn Store + Send>;

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The SQLite file (`<data-dir>/paperscout.sqlite3`).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its URL (which may hold a password: see [`Self::describe`]).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl StoreLocation {
    /// The location a store URL names; only PostgreSQL URLs are store URLs (the SQLite file
    /// is chosen by the data directory).
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        if is_postgres_url(url) {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(StoreError::BadUrl {
                url: redact_url(url),
                detail: "it does not start with postgres:// or postgresql://".to_owned(),
            }
            .into())
        }
    }

    /// The file's path, or the URL with its password hidden: for messages and `status`.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(url) => redact_url(url),
        }
    }

    /// Whether other processes may write to the store at the same time (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Opens the store for writing (creating the SQLite file, or the database's tables, when
    /// missing). A SQLite file takes the writer lock: a second writer is refused.
    pub fn open(&self) -> Result<BoxedStore> {
        Ok(match self {
            Self::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            Self::Postgres(url) => Box::new(PostgresStore::open(url)?),
        })
    }

    /// Opens an existing store for reading only.
    pub fn open_read_only(&self) -> Result<BoxedStore> {
        Ok(match self {
            Self::Sqlite(path) => Box::new(SqliteStore::open_read_only(path)?),
            Self::Postgres(url) => Box::new(PostgresStore::open_read_only(url)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_name_a_store_and_passwords_stay_hidden() {
        let location = StoreLocation::from_url(" postgres://ada:pw@db/scout ").expect("url");
        assert!(location.is_shared());
        assert_eq!(location.describe(), "postgres://ada:***@db/scout");
        assert!(!format!("{location:?}").contains("pw"));
        let err = StoreLocation::from_url("/var/lib/x.sqlite3").expect_err("a path");
        assert!(err.to_string().contains("postgres://"), "{err}");
    }
}
