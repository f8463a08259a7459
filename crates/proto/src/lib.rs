//! paperscout's socket protocol: the wire types, a typed answer for every op, the op table
//! written once ([`ops`]), the line codec and a blocking client. No async runtime and no
//! command-line parser: any program can speak to the daemon with this crate alone.
//!
//! A request is `{"v": 1, "id": ..., "op": "...", ...}`; its answer carries the same `id` and
//! either `"ok": true` with a `result`, or `"ok": false` with an `error` whose `code` is one
//! of a few stable values. `docs/protocol.md` has an example of every request.

#![forbid(unsafe_code)]

pub mod answers;
mod client;
mod envelope;
pub mod ops;
pub mod tables;
mod wire;

pub use answers::*;
pub use client::{Client, ClientError};
pub use envelope::{
    ErrorBody, ErrorCode, Response, VERSION, answer_line, parse_request, request_line,
};
pub use ops::{Answer, HealthRequest, OPS, Op, Request, StatsRequest};
pub use wire::{
    BacktestRequest, DigestAction, DigestRequest, FacetsRequest, FeedbackRequest, IngestRequest,
    QueryKind, RecommendRequest, SimilarRequest, UndoRequest, UserAction, UserRequest,
    WhyNotRequest,
};
