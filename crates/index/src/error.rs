//! The one error type of this crate.

/// What can go wrong with the index. Each is the caller's input, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A vector of the wrong length.
    #[error(
        "{id}: a {actual}-d vector for an index of {expected}-d vectors; \
         embed it with the index's model, or rebuild the index for the new model"
    )]
    Dimension {
        /// The paper (or "(query)").
        id: String,
        /// The index's dimension.
        expected: usize,
        /// The vector's length.
        actual: usize,
    },

    /// A vector with a NaN or an infinity.
    #[error("{id}: the vector has a NaN or infinite component; re-embed the paper")]
    NotFinite {
        /// The paper (or "(query)").
        id: String,
    },

    /// A vector file that is not a whole number of rows.
    #[error(
        "a matrix of {bytes} bytes is not a whole number of {dim}-d f16 rows; \
         check the file and the dimension"
    )]
    Matrix {
        /// The file's length.
        bytes: usize,
        /// The expected dimension.
        dim: usize,
    },

    /// No saved index where one was looked for.
    #[error("no saved index in {dir}")]
    Missing {
        /// The index folder.
        dir: std::path::PathBuf,
    },

    /// A saved index made for another model or with other parameters: valid, but not for
    /// this use.
    #[error("the saved index in {dir} is stale: {why}")]
    Stale {
        /// The index folder.
        dir: std::path::PathBuf,
        /// What differs.
        why: String,
    },

    /// A saved index whose files do not match its manifest (truncated, changed, unreadable).
    #[error("the saved index in {dir} is corrupt: {why}")]
    Corrupt {
        /// The index folder.
        dir: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },

    /// Writing the index failed.
    #[error("could not save the index in {dir}: {why}")]
    Save {
        /// The index folder.
        dir: std::path::PathBuf,
        /// What went wrong.
        why: String,
    },

    /// A vector of length zero, which has no direction to compare.
    #[error("{id}: the vector is all zeros; re-embed the paper")]
    Zero {
        /// The paper (or "(query)").
        id: String,
    },
}

impl IndexError {
    /// Whose fault this is: a vector of the wrong shape is the caller's, a saved index that
    /// cannot be read or written the environment's.
    pub fn fault(&self) -> paperscout_types::Fault {
        use paperscout_types::Fault;
        match self {
            Self::Dimension { .. } | Self::NotFinite { .. } | Self::Zero { .. } => Fault::User,
            Self::Matrix { .. }
            | Self::Missing { .. }
            | Self::Stale { .. }
            | Self::Corrupt { .. }
            | Self::Save { .. } => Fault::Environment,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
