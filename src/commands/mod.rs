//! One module per command.

pub mod embed;
pub mod model;
