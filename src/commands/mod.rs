//! One module per command.

pub mod embed;
pub mod eval;
pub mod ingest;
pub mod model;
pub mod stats;
