//! What a source yields: papers, and records that could not be read with the reason why.

use std::fmt;

/// Where a bad record sits in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A line of a JSON-lines file, from 1.
    Line(usize),
    /// A record (entry, item) of an XML document, from 1.
    Record(usize),
}

/// A record that was skipped (or, for [`Item::Shortened`], cut), with the reason a user can
/// act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The file or URL.
    pub source: String,
    /// Where in it.
    pub location: Location,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::Line(line) => write!(f, "{} line {line}: {}", self.source, self.reason),
            Location::Record(record) => {
                write!(f, "{} record {record}: {}", self.source, self.reason)
            }
        }
    }
}

/// One item read from a source.
// Items pass one at a time from reader to batch, so the size of a paper inline costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A paper.
    Paper(paperscout_types::Paper),
    /// A record that could not be read.
    Bad(BadRecord),
    /// A paper whose fields were cut to [`crate::limits`]' sizes, with a note saying which.
    Shortened {
        /// The paper, cut.
        paper: paperscout_types::Paper,
        /// What was cut, where.
        note: BadRecord,
    },
    /// A record the source marks as withdrawn from the listing (OAI-PMH `status="deleted"`).
    Deleted,
}
