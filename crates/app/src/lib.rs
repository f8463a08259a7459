//! paperscout's use cases as a library, shared by the command line and the daemon so that a
//! digest, a rating or a settings change is the same whichever of them does it.
//!
//! - [`settings`]: the resolved settings, every default in [`settings::defaults`];
//!   [`stores`]: the store they name opened, the SQLite file or a PostgreSQL database;
//! - [`model`] and [`store_model`]: finding and loading the embedding model, and the key its
//!   vectors are stored under;
//! - [`live_index`]: opening the index beside the store, rebuilding or catching it up;
//!   [`index_check`]: its recall and speed beside exact search;
//! - [`choose`]: choosing a user's papers of a window of days (the candidate [`choose::Pool`],
//!   each user's [`choose::UserInput`], the profile rows they share);
//! - [`render`], [`mail`] and [`outbox`]: a digest as text, as e-mail, and as files written in
//!   step with the store's record of what was sent;
//! - [`sent_file`]: a digest to a file the user named, recorded as sent exactly once;
//!   [`crash`]: the named points where tests kill the process;
//! - [`rerank`]: every user against a backlog, offline, resumable; [`sharded_rerank`]: the
//!   same across machines, shards leased from the PostgreSQL store;
//! - [`embedding`]: records, missing vectors and a whole store embedded outside a digest;
//!   [`files`]: outputs written in one rename; [`evaluation`]: the ranking methods judged on
//!   a data set;
//! - [`users`]: profile, feedback and settings changes; [`library`]: a BibTeX library into a
//!   profile;
//! - [`why_not`]: why a paper is, or is not, in a user's digest.
//!
//! Every fallible function returns an [`AppError`], which says whose fault it is.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod backtest;
pub mod cadence;
pub mod choose;
pub mod crash;
pub mod embedding;
mod error;
pub mod eval_set;
pub mod evaluation;
pub mod facets;
pub mod files;
pub mod index_check;
pub mod library;
pub mod live_index;
pub mod mail;
pub mod model;
pub mod outbox;
pub mod render;
pub mod rerank;
pub mod sent_file;
pub mod settings;
pub mod sharded_rerank;
pub mod sources;
pub mod store_model;
pub mod stores;
pub mod users;
pub mod webhook;
pub mod why_not;

#[cfg(test)]
mod testing;

pub use error::{AppError, Result};
pub use settings::Settings;
