//! Choosing ef_search for a recall target, by measuring it.
//!
//! The recall a fixed ef gives falls as the graph grows: on the shared corpus ef 64 finds
//! 0.989 of the true ten nearest among 54,000 papers, but 0.914 among a million. A calibration
//! measures instead of guessing. Its queries are best papers the graph has never seen: while a
//! batch of new papers is inserted, some are held back ([`PaperIndex::upsert_and_calibrate`]),
//! or an owner that serves searches tallies the new papers one at a time before inserting
//! them ([`PaperIndex::tally_held_out`]). Without new papers, stored ones stand in, each
//! blocked from its own search ([`PaperIndex::calibrate_on_own_papers`]): its neighbour list
//! holds nearly its true nearest and would make it an easy query. The exact search gives each
//! query's true neighbours, each ef of a ladder is tried, and the smallest whose measured
//! recall reaches the target is kept. The index saves the result in its manifest, and the
//! owner calibrates again when the index has grown or shrunk by a fifth.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::error::Result;
use crate::hnsw::calibration::{CALIBRATION_MIN_PAPERS, Calibration, EF_LADDER};
use crate::hnsw::paper_index::{Filter, PaperIndex, Upsert};

/// Fewest new papers that [`PaperIndex::upsert_and_calibrate`] holds back some of.
const MIN_HELD_OUT: usize = 100;

/// A calibration query: a vector not in the index, or a stored paper's (with its id).
struct Probe {
    id: Option<String>,
    vector: Vec<f32>,
}

/// Recall at every ef of [`EF_LADDER`], summed over calibration queries as they come.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallTally {
    target: f64,
    k: usize,
    held_out: bool,
    queries: usize,
    wanted: usize,
    found: [usize; EF_LADDER.len()],
    papers: usize,
}

impl RecallTally {
    /// An empty tally for recall@`k`, aiming at `target`.
    pub fn new(target: f64, k: usize) -> Self {
        Self {
            target,
            k,
            held_out: true,
            queries: 0,
            wanted: 0,
            found: [0; EF_LADDER.len()],
            papers: 0,
        }
    }

    /// Queries tallied so far.
    pub fn queries(&self) -> usize {
        self.queries
    }

    /// Both tallies together.
    fn merged(mut self, other: Self) -> Self {
        self.held_out &= other.held_out;
        self.queries += other.queries;
        self.wanted += other.wanted;
        for (mine, theirs) in self.found.iter_mut().zip(other.found) {
            *mine += theirs;
        }
        self.papers = self.papers.max(other.papers);
        self
    }

    /// The smallest ef whose recall reached the target, else the largest; `None` before any
    /// query, or for an index of fewer than [`CALIBRATION_MIN_PAPERS`] papers.
    pub fn calibration(&self) -> Option<Calibration> {
        if self.queries == 0 || self.papers < CALIBRATION_MIN_PAPERS {
            return None;
        }
        let recall = |slot: usize| self.found[slot] as f64 / self.wanted.max(1) as f64;
        let slots = || (0..EF_LADDER.len()).filter(|&slot| EF_LADDER[slot] >= self.k);
        let slot = slots()
            .find(|&slot| recall(slot) >= self.target)
            .or_else(|| slots().next_back())?;
        Some(Calibration {
            target: self.target,
            k: self.k,
            queries: self.queries,
            held_out: self.held_out,
            ef: EF_LADDER[slot],
            recall: recall(slot),
            papers: self.papers,
        })
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
                vector,
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
        let held_papers: Vec<(&str, &[f32])> = (0..papers.len())
            .filter(|i| held.contains(i))
            .map(|i| papers[i])
            .collect();
        let queries: Vec<&[f32]> = held_papers.iter().map(|&(_, vector)| vector).collect();
        let calibration = self.calibrate(&queries, target, k);
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
        if self.len() < CALIBRATION_MIN_PAPERS || probes.is_empty() || k == 0 {
            return None;
        }
        if !self.is_optimised() {
            self.optimise();
        }
        let this = &*self;
        let tally = probes
            .par_iter()
            .fold(
                || RecallTally::new(target, k),
                |mut tally, probe| {
                    this.tally_probe(probe, &mut tally);
                    tally
                },
            )
            .reduce(|| RecallTally::new(target, k), RecallTally::merged);
        let calibration = tally.calibration()?;
        self.apply_calibration(calibration);
        Some(calibration)
    }

    /// Adds to `tally` a query that is not in the index (a paper about to be inserted): its
    /// exact answers, and how many of them a search finds at each ef of [`EF_LADDER`]. One
    /// query at a time, so that a server can measure between searches, under a read lock
    /// taken for each query.
    pub fn tally_held_out(&self, query: &[f32], tally: &mut RecallTally) {
        if let Ok(vector) = self.unit("(query)", query) {
            self.tally_probe(&Probe { id: None, vector }, tally);
        }
    }

    fn tally_probe(&self, probe: &Probe, tally: &mut RecallTally) {
        let k = tally.k;
        let filter = probe.id.as_deref().map(exclude_self).unwrap_or_default();
        let truth: HashSet<String> = self
            .exact_unit(&probe.vector, k, &filter)
            .into_iter()
            .map(|hit| hit.id)
            .collect();
        tally.queries += 1;
        tally.wanted += truth.len();
        tally.papers = self.len();
        tally.held_out &= probe.id.is_none();
        for (slot, ef) in EF_LADDER.into_iter().enumerate() {
            let found = self.probe(probe, k, ef.max(k));
            tally.found[slot] += found.iter().filter(|id| truth.contains(*id)).count();
        }
    }

    /// The papers the graph finds for a probe at `ef`: a held-out vector through the ordinary
    /// search, a stored paper blocked from its own search.
    fn probe(&self, probe: &Probe, k: usize, ef: usize) -> Vec<String> {
        match &probe.id {
            None => self
                .search_at(&probe.vector, k, &Filter::default(), ef)
                .into_iter()
                .map(|hit| hit.id)
                .collect(),
            Some(id) => self.search_held_out(id, &probe.vector, k, ef),
        }
    }

    /// The `k` papers the graph finds for a stored paper's own vector when the paper itself
    /// is blocked from the search ([`crate::FrozenGraph::search_around`]), tombstones and the
    /// paper left out.
    fn search_held_out(&self, id: &str, vector: &[f32], k: usize, ef: usize) -> Vec<String> {
        let point = self.ids.point_of(id);
        let ef = ef.max(k + 1);
        let found = self
            .frozen
            .search_around(&self.coded.query(vector), &self.coded, ef, point);
        let admitted = found
            .into_iter()
            .map(|(_, p)| p)
            .filter(|&p| self.ids.is_live(p) && Some(p) != point);
        self.rescored(vector, admitted, k)
            .into_iter()
            .map(|hit| hit.id)
            .collect()
    }

    /// Whether ef should be measured again once the index holds `papers_after` live papers:
    /// it never was, or the index will have grown or shrunk by a fifth since.
    pub fn calibration_due(&self, papers_after: usize) -> bool {
        self.calibration
            .is_none_or(|c| !c.is_fresh_for(papers_after))
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
