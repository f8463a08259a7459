//! Named points where a test may kill the process, the way `kill -9` would, to check that
//! what a crash leaves behind is consistent.
//!
//! `PAPERSCOUT_CRASH_AT=<name>` in the environment aborts the process when it reaches the point
//! of that name (`std::process::abort`: no destructors, no flushing, as a kill). The variable is
//! read once; without it a point costs one relaxed load. The points are named where they stand,
//! with the step they follow: `digest-pending`, `digest-recorded` (a digest to a file the user
//! named), `outbox-recorded` (a scheduled digest recorded, its files still pending),
//! `rerank-shard-ranked` (a re-rank shard ranked, not yet handed back), `embed-all-committed`
//! (a batch of `embed --all` committed, its cursor not yet moved) and `embed-all-noted` (the
//! cursor moved past it).

use std::sync::OnceLock;

/// Aborts the process here if the environment names this point.
pub fn point(name: &str) {
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| std::env::var("PAPERSCOUT_CRASH_AT").ok());
    if chosen.as_deref() == Some(name) {
        eprintln!("paperscout: crashing at {name}, as PAPERSCOUT_CRASH_AT asks");
        std::process::abort();
    }
}
