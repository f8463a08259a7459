//! The one error type of this crate. Each message says what went wrong and what to do.

use std::path::PathBuf;

/// Everything that can go wrong while opening, reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the writer lock.
    #[error(
        "the store {path} is in use by {holder}: only one process may write at a time. Stop \
         it, or while the daemon runs send writes through it, and try again"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
        /// "pid N", or a description when the pid is unknown.
        holder: String,
    },

    /// The file was written by a newer paperscout.
    #[error(
        "the store {path} has schema version {found}, but this paperscout knows versions up to \
         {supported}: upgrade paperscout, or point --data-dir elsewhere"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build can read.
        supported: i64,
    },

    /// The database was written by a newer paperscout.
    #[error(
        "the database {place} has paperscout schema version {found}, but this paperscout knows \
         versions up to {supported}: upgrade paperscout on this machine too"
    )]
    DatabaseTooNew {
        /// The database, its password hidden.
        place: String,
        /// The version in the database.
        found: i64,
        /// The newest version this build can read.
        supported: i64,
    },

    /// The store's URL names no database paperscout can use.
    #[error(
        "the store URL {url:?} is not usable: {detail}. Give a PostgreSQL URL such as \
         postgres://USER@HOST/DATABASE (or leave [store] url unset for the SQLite file)"
    )]
    BadUrl {
        /// The URL as given, its password hidden.
        url: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The database server cannot be reached, or went away mid-request.
    #[error(
        "the database {place} is unavailable ({detail}): check that PostgreSQL runs and \
         accepts connections; nothing of the failed request was written, and paperscout \
         connects again at the next request"
    )]
    Unavailable {
        /// The database, its password hidden.
        place: String,
        /// What the connection said.
        detail: String,
    },

    /// `store copy` only fills an empty database.
    #[error(
        "the database {place} already holds paperscout data ({rows} rows in {table}): copy \
         into a new, empty database (createdb), or drop that one's tables first"
    )]
    NotEmpty {
        /// The database, its password hidden.
        place: String,
        /// The first table found with rows.
        table: &'static str,
        /// How many.
        rows: u64,
    },

    /// The TLS connection to PostgreSQL could not be made (the server's certificate is not
    /// trusted, or not for the URL's host; or the server has no TLS).
    #[error(
        "could not make a TLS connection to the database {place} ({detail}): give the CA that \
         signed the server's certificate as sslrootcert=FILE in the URL, and a host name the \
         certificate holds; or check that the server has ssl = on"
    )]
    Tls {
        /// The database, its password hidden.
        place: String,
        /// What TLS said.
        detail: String,
    },

    /// A query failed on PostgreSQL. Its error is in the message only, as for SQLite.
    #[error("the database failed: {0}")]
    Postgres(postgres::Error),

    /// There is no store to read yet.
    #[error("there is no store at {path} yet: ingest some papers first (`paperscout ingest FILE`)")]
    Missing {
        /// The database file that was expected.
        path: PathBuf,
    },

    /// SQLite could not open the file.
    #[error("cannot open the store {path}: {source}. Check the path and its permissions")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },

    /// A query failed after the store was opened. SQLite's error is in the message, not the
    /// error's source, so that a chain of causes does not say it twice.
    #[error("the store failed: {0}")]
    Sqlite(rusqlite::Error),

    /// The disk holding the store is full.
    #[error(
        "the disk holding the store is full: free some space (or move the data directory to a \
         bigger disk) and try again; everything committed before is kept, and nothing of the \
         failed write was"
    )]
    DiskFull,

    /// A file next to the database (the lock file, the folder) could not be used.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A write came through a store opened for reading only.
    #[error("the store was opened read-only; this is a bug in the caller")]
    ReadOnly,

    /// The named user does not exist.
    #[error("there is no user named {0:?}: create one with `paperscout user add {0}`")]
    NoSuchUser(String),

    /// A user of that name already exists.
    #[error("a user named {0:?} already exists: pick another name, or remove that user first")]
    UserExists(String),

    /// A new user's name breaks the naming rule.
    #[error(transparent)]
    BadUserName(#[from] paperscout_types::BadUserName),

    /// The user's scheduled digest of that day is already recorded: it is never sent twice.
    #[error("{user:?}'s digest of {day} was already delivered; it is not sent twice")]
    AlreadyDelivered {
        /// The user.
        user: String,
        /// The digest's day.
        day: String,
    },

    /// The paper is not in the store.
    #[error("there is no paper {0:?} in the store: ingest it first (`paperscout ingest`)")]
    NoSuchPaper(String),

    /// A vector's length does not match its model's dimension.
    #[error("an embedding of {paper} has {found} dimensions, but model {model} has {expected}")]
    Dimension {
        /// The paper the vector belongs to.
        paper: String,
        /// The model's name.
        model: String,
        /// The model's dimension.
        expected: usize,
        /// The vector's length.
        found: usize,
    },

    /// A stored value could not be decoded: the file was changed behind paperscout's back.
    #[error("the store holds a malformed {what} ({detail}); restore it from a backup or re-ingest")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match &err {
            rusqlite::Error::SqliteFailure(failure, _)
                if failure.code == rusqlite::ErrorCode::DiskFull =>
            {
                Self::DiskFull
            }
            _ => Self::Sqlite(err),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(err: postgres::Error) -> Self {
        if err.code() == Some(&postgres::error::SqlState::DISK_FULL) {
            Self::DiskFull
        } else {
            Self::Postgres(err)
        }
    }
}

impl StoreError {
    /// Whose fault this is: a missing user or paper is the request's, a store in use or from
    /// a newer paperscout the environment's, a write through a read-only store a bug.
    pub fn fault(&self) -> paperscout_types::Fault {
        use paperscout_types::Fault;
        match self {
            Self::NoSuchUser(_) | Self::NoSuchPaper(_) | Self::Missing { .. } => Fault::Missing,
            Self::UserExists(_)
            | Self::BadUserName(_)
            | Self::AlreadyDelivered { .. }
            | Self::Dimension { .. } => Fault::User,
            // The same request succeeds once the database is back.
            Self::Unavailable { .. } => Fault::Unavailable,
            Self::BadUrl { .. } | Self::NotEmpty { .. } => Fault::User,
            Self::InUse { .. }
            | Self::TooNew { .. }
            | Self::DatabaseTooNew { .. }
            | Self::Tls { .. }
            | Self::Postgres(_)
            | Self::Open { .. }
            | Self::Sqlite(_)
            | Self::DiskFull
            | Self::Io(_)
            | Self::Corrupt { .. } => Fault::Environment,
            Self::ReadOnly => Fault::Bug,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 25, defect 14: a full disk said "database or disk is full" three times over (the
    /// message, then SQLite's error as its source, then that error's own source), and nothing
    /// about what to do.
    #[test]
    fn a_full_disk_is_said_once_with_what_to_do() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".to_owned()),
        );
        let err = StoreError::from(full);
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        assert!(err.to_string().contains("free some space"), "{err}");
        assert!(std::error::Error::source(&err).is_none());

        let other = StoreError::from(rusqlite::Error::InvalidQuery);
        assert!(matches!(other, StoreError::Sqlite(_)));
        assert!(
            std::error::Error::source(&other).is_none(),
            "SQLite's error is in the message only"
        );
    }
}
