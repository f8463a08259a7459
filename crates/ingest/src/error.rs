//! The one error type of this crate: what stops an ingest. A bad record does not; it is a
//! [`crate::BadRecord`], reported and skipped.

/// Everything that stops an ingest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file could not be opened or read.
    #[error("cannot read {source_name}: {error}")]
    Read {
        /// The file or URL.
        source_name: String,
        /// What went wrong.
        error: std::io::Error,
    },

    /// A path names something other than a regular file where only files are read: a FIFO,
    /// a device, a socket or a folder, any of which could block a reader forever.
    #[error(
        "{source_name} is not a regular file (it is {kind}): the daemon reads only files. Copy \
         it into a file and ingest that, or pipe it into `paperscout ingest -` with the daemon \
         stopped"
    )]
    NotAFile {
        /// The path.
        source_name: String,
        /// What it is instead.
        kind: &'static str,
    },

    /// A URL could not be fetched.
    #[error(
        "cannot fetch {url}: {message}. Check the address and the network, or download the file and ingest it"
    )]
    Fetch {
        /// The URL.
        url: String,
        /// What the client or server said.
        message: String,
    },

    /// The input is in no format paperscout reads.
    #[error(
        "{source_name} is not in a format paperscout reads ({detail}). It reads JSON lines \
         (paperscout's paper format or the arXiv metadata snapshot, optionally gzipped), arXiv \
         API Atom feeds, arXiv RSS listings and OAI-PMH ListRecords responses"
    )]
    UnknownFormat {
        /// The file or URL.
        source_name: String,
        /// What was found instead.
        detail: String,
    },

    /// An OAI-PMH server answered with an error.
    #[error("{source_name}: the OAI-PMH server says {code}: {message}")]
    Oai {
        /// The file or URL.
        source_name: String,
        /// The OAI-PMH error code, e.g. `badResumptionToken`.
        code: String,
        /// The server's explanation.
        message: String,
    },

    /// A Zotero database could not be read.
    #[error(
        "cannot read the Zotero library {source_name}: {message}. Give the zotero.sqlite in \
         Zotero's data folder (Zotero's Settings, Advanced, Files and Folders)"
    )]
    Zotero {
        /// The database file.
        source_name: String,
        /// What went wrong.
        message: String,
    },

    /// `--strict` and a record was bad.
    #[error("{0}; stopped because of --strict, and nothing of its batch was written")]
    Strict(crate::BadRecord),

    /// The embedder failed.
    #[error("embedding failed: {0}")]
    Embed(crate::EmbedFailure),

    /// The store failed.
    #[error(transparent)]
    Store(#[from] paperscout_store::StoreError),
}

impl IngestError {
    /// Whose fault this is: an unreadable or unknown source and a bad record under `--strict`
    /// are the user's, a server that fails the environment's.
    pub fn fault(&self) -> paperscout_types::Fault {
        use paperscout_types::Fault;
        match self {
            Self::Read { .. }
            | Self::NotAFile { .. }
            | Self::UnknownFormat { .. }
            | Self::Zotero { .. }
            | Self::Strict(_) => Fault::User,
            Self::Fetch { .. } | Self::Oai { .. } => Fault::Environment,
            Self::Embed(failure) => failure.fault,
            Self::Store(err) => err.fault(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
