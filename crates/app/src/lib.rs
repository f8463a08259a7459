//! paperscout's use cases as a library, shared by the command line and the daemon so that a
//! digest, a rating or a settings change is the same whichever of them does it.
//!
//! - [`settings`]: the resolved settings, every default in [`settings::defaults`];
//! - [`model`] and [`store_model`]: finding and loading the embedding model, and the key its
//!   vectors are stored under;
//! - [`live_index`]: opening the index beside the store, rebuilding or catching it up;
//! - [`choose`]: choosing a user's papers of a window of days (the candidate [`choose::Pool`],
//!   each user's [`choose::UserInput`], the profile rows they share);
//! - [`render`], [`mail`] and [`outbox`]: a digest as text, as e-mail, and as files written in
//!   step with the store's record of what was sent;
//! - [`users`]: profile, feedback and settings changes; [`library`]: a BibTeX library into a
//!   profile.
//!
//! Every fallible function returns an [`AppError`], which says whose fault it is.

#![forbid(unsafe_code)]

pub mod choose;
mod error;
pub mod eval_set;
pub mod library;
pub mod live_index;
pub mod mail;
pub mod model;
pub mod outbox;
pub mod render;
pub mod settings;
pub mod store_model;
pub mod users;

#[cfg(test)]
mod testing;

pub use error::{AppError, Result};
pub use settings::Settings;
