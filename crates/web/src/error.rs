//! The web crate's one error type, and how each becomes a page.

use std::path::Path;

use paperscout_types::Fault;

/// What serving the page can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The secret file is unusable.
    #[error("{0}")]
    Secret(String),

    /// The listen address or public URL is wrong.
    #[error("{0}")]
    Config(String),

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },

    /// A use case failed.
    #[error(transparent)]
    Daemon(#[from] paperscout_daemon::DaemonError),
}

impl WebError {
    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Secret(_) | Self::Io { .. } => Fault::Environment,
            Self::Config(_) => Fault::User,
            Self::Daemon(err) => err.fault(),
        }
    }

    /// An I/O failure on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = WebError> = std::result::Result<T, E>;
