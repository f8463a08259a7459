//! The one error type of this crate. [`DaemonError::fault`] decides the protocol's error code
//! of a failed request and the exit status of a failed `serve`.

use paperscout_types::Fault;

/// Everything the daemon's operations and its start can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A use case failed.
    #[error(transparent)]
    App(#[from] paperscout_app::AppError),

    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),

    /// Something the request names does not exist.
    #[error("{0}")]
    NotFound(String),

    /// The model's thread refused or failed.
    #[error(transparent)]
    Worker(#[from] crate::model_worker::WorkerError),

    /// The socket could not be claimed, bound or given to its group.
    #[error("{0}")]
    Socket(String),

    /// The schedule in the config file is invalid.
    #[error("{0}")]
    Schedule(String),

    /// A file or the runtime failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },

    /// An operation panicked, or something that cannot happen did.
    #[error("{0} (a bug in paperscout: see the daemon's log)")]
    Bug(String),
}

impl DaemonError {
    /// Whose fault this is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::App(err) => err.fault(),
            Self::BadRequest(_) | Self::Schedule(_) => Fault::User,
            Self::NotFound(_) => Fault::Missing,
            Self::Worker(err) => err.fault(),
            Self::Socket(_) | Self::Io { .. } => Fault::Environment,
            Self::Bug(_) => Fault::Bug,
        }
    }

    /// An I/O failure, saying what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<std::io::Error> for DaemonError {
    fn from(source: std::io::Error) -> Self {
        Self::io("a file operation failed", source)
    }
}

impl From<paperscout_store::StoreError> for DaemonError {
    fn from(err: paperscout_store::StoreError) -> Self {
        Self::App(err.into())
    }
}

impl From<paperscout_index::IndexError> for DaemonError {
    fn from(err: paperscout_index::IndexError) -> Self {
        Self::App(err.into())
    }
}

impl From<paperscout_ingest::IngestError> for DaemonError {
    fn from(err: paperscout_ingest::IngestError) -> Self {
        Self::App(err.into())
    }
}

/// The result type of this crate.
pub type Result<T, E = DaemonError> = std::result::Result<T, E>;
