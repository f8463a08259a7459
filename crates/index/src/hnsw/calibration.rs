//! What a calibration found ([`Calibration`]), kept with the index and saved in its manifest,
//! and the ladder of ef values it tries; `calibrate.rs` does the measuring.

use serde::{Deserialize, Serialize};

/// The ef values a calibration tries, smallest first.
pub const EF_LADDER: [usize; 12] = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768];

/// Fewer live papers than this are not calibrated: the default ef explores most of such a
/// graph anyway.
pub const CALIBRATION_MIN_PAPERS: usize = 2_000;

/// What a calibration found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The recall@k aimed at.
    pub target: f64,
    /// Results per query.
    pub k: usize,
    /// Papers used as queries.
    pub queries: usize,
    /// Whether they were held out of the graph (new papers, searched before being inserted),
    /// rather than stored papers blocked from their own search.
    #[serde(default)]
    pub held_out: bool,
    /// The ef chosen: the smallest of [`EF_LADDER`] reaching the target, else the largest.
    pub ef: usize,
    /// The recall@k measured at that ef.
    pub recall: f64,
    /// Live papers in the index when it was measured.
    pub papers: usize,
}

impl Calibration {
    /// Whether the index, now holding `papers` live papers, has changed by less than a fifth
    /// since this was measured.
    pub fn is_fresh_for(&self, papers: usize) -> bool {
        let then = self.papers.max(1) as f64;
        (papers as f64 - then).abs() / then < 0.2
    }
}
