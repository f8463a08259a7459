//! Choosing ef_search for a recall target, on the index's own papers.
//!
//! The recall a fixed ef gives falls as the graph grows: on the shared corpus ef 64 finds
//! 0.989 of the true ten nearest among 54,000 papers, but 0.914 among a million. A calibration
//! measures instead of guessing: stored papers, spread evenly over the index, are the queries,
//! each searched as if it were not in the graph (its own neighbour list, which holds nearly
//! its true nearest, would make it an easy query); the exact search gives their true
//! neighbours once; then each ef of a ladder is tried, smallest first, until the
//! measured recall reaches the target. The index keeps the result and saves it in its
//! manifest, and the owner calibrates again when the index has grown or shrunk by a fifth.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::paper_index::{Filter, PaperIndex};

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
    /// Stored papers used as queries.
    pub queries: usize,
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

impl PaperIndex {
    /// Measures recall@`k` on up to `queries` stored papers at each ef of [`EF_LADDER`] and
    /// makes the smallest reaching `target` the index's ef_search. Returns `None`, changing
    /// nothing, for an index of fewer than [`CALIBRATION_MIN_PAPERS`] papers.
    pub fn calibrate(&mut self, target: f64, queries: usize, k: usize) -> Option<Calibration> {
        let papers = self.len();
        if papers < CALIBRATION_MIN_PAPERS || queries == 0 || k == 0 {
            return None;
        }
        if !self.is_optimised() {
            self.optimise();
        }
        // Owned, so that ef can change between rounds.
        let step = (papers / queries).max(1);
        let sample: Vec<(String, Vec<f32>)> = self
            .live_papers()
            .step_by(step)
            .take(queries)
            .map(|(id, vector)| (id.to_owned(), vector.to_vec()))
            .collect();
        let truth: Vec<HashSet<String>> = sample
            .par_iter()
            .map(|(id, vector)| {
                self.exact_unit(vector, k, &exclude_self(id))
                    .into_iter()
                    .map(|hit| hit.id)
                    .collect()
            })
            .collect();
        let wanted: usize = truth.iter().map(HashSet::len).sum();
        let recall_at = |index: &PaperIndex| -> f64 {
            let found: usize = sample
                .par_iter()
                .zip(&truth)
                .map(|((id, vector), truth)| {
                    index
                        .search_held_out(id, vector, k)
                        .iter()
                        .filter(|found| truth.contains(**found))
                        .count()
                })
                .sum();
            found as f64 / wanted.max(1) as f64
        };
        let queries = sample.len();
        let mut chosen = None;
        for ef in EF_LADDER.into_iter().filter(|&ef| ef >= k) {
            self.params.ef_search = ef;
            let recall = recall_at(self);
            chosen = Some((ef, recall));
            if recall >= target {
                break;
            }
        }
        let (ef, recall) = chosen?;
        self.params.ef_search = ef;
        let calibration = Calibration {
            target,
            k,
            queries,
            ef,
            recall,
            papers,
        };
        self.calibration = Some(calibration);
        Some(calibration)
    }

    /// The `k` papers the graph finds for a stored paper's own vector when the paper itself
    /// is blocked from the search ([`crate::FrozenGraph::search_around`]), tombstones and the
    /// paper left out.
    fn search_held_out(&self, id: &str, vector: &[f32], k: usize) -> Vec<&str> {
        let point = self.points.get(id).copied();
        let ef = self.params.ef_search.max(k + 1);
        self.frozen
            .search_around(vector, &self.vectors, ef, point)
            .into_iter()
            .filter(|&(_, p)| self.live[p] && Some(p) != point)
            .take(k)
            .map(|(_, p)| self.ids[p].as_str())
            .collect()
    }

    /// The last calibration, measured here or loaded with the index.
    pub fn calibration(&self) -> Option<Calibration> {
        self.calibration
    }

    /// Searches with a saved calibration's ef from now on, and keeps it as the index's.
    pub fn apply_calibration(&mut self, calibration: Calibration) {
        self.params.ef_search = calibration.ef.max(1);
        self.calibration = Some(calibration);
    }
}

/// A filter that leaves out only the query paper itself.
fn exclude_self(id: &str) -> Filter<'_> {
    Filter {
        exclude: HashSet::from([id]),
        allow: None,
    }
}
