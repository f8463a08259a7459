//! The one error type of this crate. Each message says what went wrong and what to do, and
//! [`AppError::fault`] says whose fault it is, for the exit status and the protocol's code.

use paperscout_types::Fault;

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] paperscout_store::StoreError),

    /// The model could not be found, loaded or run.
    #[error(transparent)]
    Embed(#[from] paperscout_embed::EmbedError),

    /// The index could not be read, written or searched.
    #[error(transparent)]
    Index(#[from] paperscout_index::IndexError),

    /// An ingest stopped.
    #[error(transparent)]
    Ingest(#[from] paperscout_ingest::IngestError),

    /// A user with nothing in the profile to rank by.
    #[error(
        "{0}'s profile is empty: add papers or interests with `paperscout user add {0} --papers FILE --interest TEXT`"
    )]
    EmptyProfile(String),

    /// A key that names no stored paper.
    #[error("{0} is not in the store: ingest it first")]
    UnknownPaper(String),

    /// A user with no ranking stored by `rerank --store`.
    #[error(
        "no stored recommendations for {0}: run `paperscout rerank --users all --store --out FILE` first"
    )]
    NoStoredRanking(String),

    /// A setting a user asked for that cannot be.
    #[error("{0}")]
    BadSetting(String),

    /// A command's arguments that cannot be honoured (a bad selection, a checkpoint of another
    /// run).
    #[error("{0}")]
    Usage(String),

    /// A day given in the wrong form.
    #[error("{option} {text:?} is not a day (YYYY-MM-DD)")]
    BadDay {
        /// The option or parameter that held it.
        option: String,
        /// What it held.
        text: String,
    },

    /// A user to e-mail who has no address.
    #[error("{0} has no e-mail address: set one with `paperscout user set {0} --email ADDRESS`")]
    NoAddress(String),

    /// E-mail is not set up, or set up wrongly.
    #[error("{0}")]
    MailConfig(String),

    /// The SMTP server refused or could not be reached.
    #[error("{0}")]
    Smtp(String),

    /// A webhook's receiver refused a post or could not be reached.
    #[error("posting to the webhook {0}; the digest stays queued and is posted again later")]
    Webhook(String),

    /// A data set for `eval` is malformed.
    #[error("{0}")]
    DataSet(String),

    /// The config file is unreadable or invalid.
    #[error("{0}")]
    Config(String),

    /// The model the settings ask for is not installed.
    #[error("{0}")]
    NoModel(String),

    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },

    /// A JSON document paperscout wrote could not be read back, or a value not written.
    #[error("{what}: {source}")]
    Json {
        /// What was being read or written.
        what: String,
        /// Why it failed.
        source: serde_json::Error,
    },

    /// The embedder (the loaded model, the daemon's model thread) refused or failed the texts.
    #[error(transparent)]
    Embedding(paperscout_ingest::EmbedFailure),

    /// Something that cannot happen did: a bug.
    #[error("{0} (a bug in paperscout: please report it)")]
    Bug(String),
}

impl AppError {
    /// Whose fault this is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Store(err) => err.fault(),
            Self::Embed(err) => err.fault(),
            Self::Index(err) => err.fault(),
            Self::Ingest(err) => err.fault(),
            Self::UnknownPaper(_) | Self::NoStoredRanking(_) => Fault::Missing,
            Self::EmptyProfile(_)
            | Self::BadSetting(_)
            | Self::Usage(_)
            | Self::BadDay { .. }
            | Self::NoAddress(_)
            | Self::Config(_)
            | Self::DataSet(_) => Fault::User,
            Self::MailConfig(_)
            | Self::Smtp(_)
            | Self::Webhook(_)
            | Self::NoModel(_)
            | Self::Io { .. } => Fault::Environment,
            Self::Embedding(failure) => failure.fault,
            Self::Json { .. } | Self::Bug(_) => Fault::Bug,
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

impl From<std::io::Error> for AppError {
    fn from(source: std::io::Error) -> Self {
        // fs_err's errors already name the file.
        Self::Io {
            what: "a file operation failed".to_owned(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_user_is_missing_a_bad_setting_the_users_and_a_bad_smtp_server_not() {
        let missing = AppError::from(paperscout_store::StoreError::NoSuchUser("ada".into()));
        assert_eq!(missing.fault(), Fault::Missing);
        assert!(missing.to_string().contains("paperscout user add ada"));
        assert_eq!(AppError::BadSetting("x".into()).fault(), Fault::User);
        assert_eq!(AppError::Smtp("refused".into()).fault(), Fault::Environment);
        assert_eq!(
            AppError::UnknownPaper("2501.1".into()).fault(),
            Fault::Missing
        );
    }
}
