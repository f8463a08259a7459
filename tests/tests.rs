//! Integration tests, gathered in one binary so the real model loads and links once.

#![allow(clippy::unwrap_used, missing_docs)]

mod util;

mod browser;
mod cli;
mod daemon;
mod digest;
mod embed_parity;
mod eval;
mod faults;
mod ingest;
mod mail;
mod model_folder;
mod postgres;
mod rerank;
mod web;
