//! Taking papers in: every format arXiv and its mirrors publish, into the store, embedded.
//!
//! [`open`] opens a file, standard input or a URL (gzip detected from the content);
//! [`Records`] detects the format from the content and yields [`Item`]s: papers, and bad
//! records with their line or record number and the reason, which are reported and skipped.
//! [`ingest`] writes them to a [`paperscout_store::Store`] a batch per transaction, embedding
//! new and changed papers with any [`TextEmbedder`].
//!
//! Formats: JSON lines (paperscout's paper format, as in `shared/data`, and the arXiv metadata
//! snapshot), the arXiv API's Atom feeds, arXiv RSS listings (2.0 and 1.0), and OAI-PMH
//! `ListRecords` responses with `metadataPrefix=arXiv`, following resumption tokens when read
//! from a URL; and bioRxiv's and medRxiv's JSON API ([`biorxiv`]). Every request to a host
//! waits its turn ([`polite`]): one at a time, at least 3 s apart.

#![forbid(unsafe_code)]

mod atom;
pub mod bibtex;
pub mod biorxiv;
mod complaints;
mod error;
mod input;
mod jsonl;
pub mod limits;
mod oai;
mod pipeline;
pub mod polite;
mod reader;
mod record;
mod rss;
pub mod text;
mod xml;
pub mod zotero;

pub use complaints::{LOGGED_PER_SOURCE, LogBudget};
pub use error::{IngestError, Result};
pub use input::{Input, fetch_text, is_url, open, open_file};
pub use jsonl::parse_line as parse_json_line;
pub use pipeline::{EmbedFailure, Options, Progress, Report, TextEmbedder, in_categories, ingest};
pub use reader::{Format, Records};
pub use record::{BadRecord, Item, Location};
