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

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::paper_index::{Filter, PaperIndex, Upsert};

/// The ef values a calibration tries, smallest first.
pub const EF_LADDER: [usize; 12] = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768];

/// Fewest new papers that [`PaperIndex::upsert_and_calibrate`] holds back some of.
const MIN_HELD_OUT: usize = 100;

/// A calibration query: a vector not in the index, or a stored paper's (with its id).
struct Probe {
    id: Option<String>,
    vector: Vec<f32>,
}

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

impl PaperIndex {
    /// Measures recall@`k` for `held_out`, vectors of papers that are not in the index (the
    /// truest test: queries the graph has never seen), at each ef of [`EF_LADDER`], and makes
    /// the smallest reaching `target` the index's ef_search. Returns `None`, changing nothing,
    /// for an index of fewer than [`CALIBRATION_MIN_PAPERS`] papers or no queries.
    pub fn calibrate(&mut self, held_out: &[&[f32]], target: f64, k: usize) -> Option<Calibration> {
        let probes: Vec<Probe> = held_out
            .iter()
            .filter_map(|vector| self.unit("(query)", vector).ok())
            .map(|vector| Probe { id: None, vector })
            .collect();
        self.calibrate_probes(probes, target, k)
    }

    /// [`PaperIndex::calibrate`] when no papers are held out: up to `queries` stored papers,
    /// spread evenly, each searched as if it were not in the graph. On clustered data (a paper
    /// with near copies of it) this is harder than a new paper and errs towards a larger ef.
    pub fn calibrate_on_own_papers(
        &mut self,
        target: f64,
        queries: usize,
        k: usize,
    ) -> Option<Calibration> {
        let step = (self.len() / queries.max(1)).max(1);
        let probes: Vec<Probe> = self
            .live_papers()
            .step_by(step)
            .take(queries)
            .map(|(id, vector)| Probe {
                id: Some(id.to_owned()),
                vector: vector.to_vec(),
            })
            .collect();
        self.calibrate_probes(probes, target, k)
    }

    /// Adds or updates `papers` as [`PaperIndex::upsert_batch`] does, and calibrates on the
    /// way: up to `queries` of the new papers, spread evenly, are held back, the rest
    /// inserted, the held-back ones searched for ([`PaperIndex::calibrate`]), then inserted
    /// too. Without enough new papers or papers in all, it only upserts. Returns what each
    /// upsert did, in order, and the calibration if one was made.
    pub fn upsert_and_calibrate(
        &mut self,
        papers: &[(&str, &[f32])],
        target: f64,
        queries: usize,
        k: usize,
    ) -> Result<(Vec<Upsert>, Option<Calibration>)> {
        let mut occurrences: HashMap<&str, usize> = HashMap::new();
        for (id, _) in papers {
            *occurrences.entry(id).or_default() += 1;
        }
        // New papers only, each once in the batch: a held-back paper must not be in the graph
        // while it is searched for.
        let fresh: Vec<usize> = (0..papers.len())
            .filter(|&i| {
                let id = papers[i].0;
                occurrences[id] == 1 && self.vector(id).is_none()
            })
            .collect();
        if fresh.len() < MIN_HELD_OUT || self.len() + fresh.len() < CALIBRATION_MIN_PAPERS + queries
        {
            return Ok((self.upsert_batch(papers)?, None));
        }
        let step = (fresh.len() / queries.max(1)).max(1);
        let held: HashSet<usize> = fresh.iter().step_by(step).take(queries).copied().collect();
        let rest: Vec<(&str, &[f32])> = (0..papers.len())
            .filter(|i| !held.contains(i))
            .map(|i| papers[i])
            .collect();
        let mut rest_changes = self.upsert_batch(&rest)?.into_iter();
        self.optimise();
        let queries: Vec<&[f32]> = (0..papers.len())
            .filter(|i| held.contains(i))
            .map(|i| papers[i].1)
            .collect();
        let calibration = self.calibrate(&queries, target, k);
        let held_papers: Vec<(&str, &[f32])> = (0..papers.len())
            .filter(|i| held.contains(i))
            .map(|i| papers[i])
            .collect();
        self.upsert_batch(&held_papers)?;
        self.optimise();
        let changes = (0..papers.len())
            .map(|i| {
                if held.contains(&i) {
                    Upsert::Added
                } else {
                    rest_changes.next().unwrap_or(Upsert::Added)
                }
            })
            .collect();
        Ok((changes, calibration))
    }

    fn calibrate_probes(
        &mut self,
        probes: Vec<Probe>,
        target: f64,
        k: usize,
    ) -> Option<Calibration> {
        let papers = self.len();
        if papers < CALIBRATION_MIN_PAPERS || probes.is_empty() || k == 0 {
            return None;
        }
        if !self.is_optimised() {
            self.optimise();
        }
        let held_out = probes.iter().all(|probe| probe.id.is_none());
        let truth: Vec<HashSet<String>> = probes
            .par_iter()
            .map(|probe| {
                let filter = probe.id.as_deref().map(exclude_self).unwrap_or_default();
                self.exact_unit(&probe.vector, k, &filter)
                    .into_iter()
                    .map(|hit| hit.id)
                    .collect()
            })
            .collect();
        let wanted: usize = truth.iter().map(HashSet::len).sum();
        let recall_at = |index: &PaperIndex| -> f64 {
            let found: usize = probes
                .par_iter()
                .zip(&truth)
                .map(|(probe, truth)| {
                    index
                        .probe(probe, k)
                        .iter()
                        .filter(|found| truth.contains(*found))
                        .count()
                })
                .sum();
            found as f64 / wanted.max(1) as f64
        };
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
            queries: probes.len(),
            held_out,
            ef,
            recall,
            papers,
        };
        self.calibration = Some(calibration);
        Some(calibration)
    }

    /// The papers the graph finds for a probe: a held-out vector through the ordinary search,
    /// a stored paper blocked from its own search.
    fn probe(&self, probe: &Probe, k: usize) -> Vec<String> {
        match &probe.id {
            None => self
                .search(&probe.vector, k, &Filter::default())
                .map(|hits| hits.into_iter().map(|hit| hit.id).collect())
                .unwrap_or_default(),
            Some(id) => self.search_held_out(id, &probe.vector, k),
        }
    }

    /// The `k` papers the graph finds for a stored paper's own vector when the paper itself
    /// is blocked from the search ([`crate::FrozenGraph::search_around`]), tombstones and the
    /// paper left out.
    fn search_held_out(&self, id: &str, vector: &[f32], k: usize) -> Vec<String> {
        let point = self.points.get(id).copied();
        let ef = self.params.ef_search.max(k + 1);
        self.frozen
            .search_around(vector, &self.vectors, ef, point)
            .into_iter()
            .filter(|&(_, p)| self.live[p] && Some(p) != point)
            .take(k)
            .map(|(_, p)| self.ids[p].clone())
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
