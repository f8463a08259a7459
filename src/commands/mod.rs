//! One module per command.

pub mod digest;
pub mod embed;
pub mod eval;
pub mod index;
pub mod ingest;
pub mod mail;
pub mod model;
pub mod query;
pub mod remote;
pub mod rerank;
pub mod serve;
pub mod stats;
pub mod user;
