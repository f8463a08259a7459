//! Ranking many users against the candidates at once ([`CandidateSet::rank`]): the engine of
//! every digest, the daemon's `recommend` and a batch re-rank of every user, so that they score
//! and choose alike (one user is a batch of one).
//!
//! Users refer to [`ProfileRows`], where each distinct paper or statement of interest is
//! stored once: a paper in a thousand libraries is compared with the candidates once, not a
//! thousand times. The candidates are walked in blocks, twice:
//! 1. the moments sweep sums each user's pooled scores over the candidates the user may be
//!    offered: the mean and deviation that each half of the hybrid score is standardised by;
//! 2. the head sweep scores every candidate and keeps the head of each user's ranking, which
//!    maximal marginal relevance then orders and the profile items explain.
//!
//! Memory: a block's similarities (the distinct rows × the block's width, at most
//! `block_bytes`), plus the head of each user's ranking (about 4 KiB a user for a digest of
//! 50), whatever the number of candidates; picks are handed on as they are finished.

use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use crate::candidates::CandidateSet;
use crate::explain::{Pick, shared_terms};
use crate::lexical::{Postings, SparseVec};
use crate::methods::{Moments, discount_hubness};
use crate::mmr::{Ranked, mmr};
use crate::params::DigestParams;
use crate::profile::{ItemRef, ProfileRows, SharedProfile, fade};
use paperscout_linalg::soft_max_rows;

/// How many bytes of similarities one block of candidates may take, unless told otherwise.
pub const DEFAULT_BLOCK_BYTES: usize = 256 << 20;

/// The narrowest block of candidates, however many distinct rows there are.
const MIN_BLOCK: usize = 64;

/// Users whose picks are finished (MMR, explanations) and handed on together.
const FINISH_CHUNK: usize = 4096;

impl ProfileRows {
    /// The distinct rows a block compares with its candidates.
    fn distinct(&self, params: &DigestParams) -> usize {
        self.vectors.rows()
            + if pools_lexical(params) {
                self.texts.len()
            } else {
                0
            }
    }

    /// The rows these users refer to, alone, and the users referring to them there.
    fn compact<'a>(&self, users: &[SharedProfile<'a>]) -> (Self, Vec<SharedProfile<'a>>) {
        let mut own = Self::new(self.vectors.dim());
        let mut vectors: HashMap<u32, u32> = HashMap::new();
        let mut texts: HashMap<u32, u32> = HashMap::new();
        let mut vector = |own: &mut Self, row: u32| -> u32 {
            *vectors.entry(row).or_insert_with(|| {
                own.vectors.push(self.vectors.row(row as usize));
                (own.vectors.rows() - 1) as u32
            })
        };
        let users = users
            .iter()
            .map(|user| {
                let items = user
                    .items
                    .iter()
                    .map(|item| ItemRef {
                        vector: vector(&mut own, item.vector),
                        text: *texts.entry(item.text).or_insert_with(|| {
                            own.texts.push(self.texts[item.text as usize].clone());
                            (own.texts.len() - 1) as u32
                        }),
                    })
                    .collect();
                let negatives = user
                    .negatives
                    .iter()
                    .map(|&n| vector(&mut own, n))
                    .collect();
                SharedProfile {
                    items,
                    negatives,
                    ..user.clone()
                }
            })
            .collect();
        (own, users)
    }
}

/// Whether the lexical half pools item by item (rows of tf-idf cosines per text), rather than
/// scoring the items' summed term vector.
fn pools_lexical(params: &DigestParams) -> bool {
    params.hybrid.lexical_temperature > 0.0
}

/// The rows of a block a user reads: a vector per item and negative, a text per item when the
/// lexical half pools.
fn rows_read(user: &SharedProfile<'_>, params: &DigestParams) -> usize {
    user.items.len() * (1 + usize::from(pools_lexical(params))) + user.negatives.len()
}

/// What a user needs in every block, worked out once.
struct Prepared {
    /// Each item's weight in the soft maxima.
    weights: Vec<f32>,
    /// Each negative's weight.
    negative_weights: Vec<f32>,
    /// The items' summed term vector, when the lexical half is not pooled item by item.
    query: Option<SparseVec>,
    /// Sorted.
    excluded: Vec<usize>,
    /// Sorted by candidate.
    boosted: Vec<(usize, usize)>,
    floor: Option<f32>,
}

impl Prepared {
    fn new(user: &SharedProfile<'_>, terms: &[SparseVec], params: &DigestParams) -> Self {
        let hybrid = params.hybrid;
        let half_life = params.feedback_half_life_days;
        let weights = (0..user.items.len())
            .map(|item| {
                let own = user
                    .item_ages_days
                    .get(item)
                    .map_or(1.0, |&age| fade(age, half_life));
                own * ((item + 1) as f32).powf(-hybrid.recency_decay)
            })
            .collect();
        let negative_weights = (0..user.negatives.len())
            .map(|n| {
                let age = user.negative_ages_days.get(n).copied().unwrap_or(0.0);
                fade(age, half_life)
            })
            .collect();
        let query = (!pools_lexical(params)).then(|| {
            SparseVec::unit_sum(
                user.items
                    .iter()
                    .map(|item| (&terms[item.text as usize], 1.0)),
            )
        });
        let mut excluded = user.excluded.to_vec();
        excluded.sort_unstable();
        excluded.dedup();
        let mut boosted = user.boosted.to_vec();
        boosted.sort_unstable();
        let floor = params.floor_for(user.min_similarity);
        Self {
            weights,
            negative_weights,
            query,
            excluded,
            boosted,
            floor,
        }
    }
}

/// One block of candidates, compared with every distinct row.
struct Block<'a> {
    /// The first candidate.
    start: usize,
    /// Candidates in the block.
    width: usize,
    /// Distinct vectors × the block's candidates: cosines.
    semantic: &'a [f32],
    /// Distinct texts × the block's candidates: tf-idf cosines (empty when not pooled).
    lexical: &'a [f32],
    /// The day's inverted index.
    postings: &'a Postings,
    /// The block's candidates' lexical hubness.
    hubness: &'a [f32],
}

impl Block<'_> {
    fn semantic_row(&self, vector: u32) -> &[f32] {
        &self.semantic[vector as usize * self.width..][..self.width]
    }

    fn lexical_row(&self, text: u32) -> &[f32] {
        &self.lexical[text as usize * self.width..][..self.width]
    }
}

/// A user's progress through the sweeps.
struct State {
    /// Semantic, lexical, then each negative: over the candidates the user may be offered.
    moments: Vec<Moments>,
    /// (mean, scale) of each, once the moments sweep is over.
    standardisers: Vec<(f32, f32)>,
    /// The best candidates so far, the worst on top.
    head: BinaryHeap<std::cmp::Reverse<Ranked>>,
}

/// Which walk over the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Sums for the standardisation.
    Moments,
    /// The head of each ranking, once the sums are complete.
    Head,
    /// Both at once, when one block holds every candidate.
    Whole,
}

/// A user's pooled scores over one block, and room for the rest of the work: one of these
/// per worker, reused from user to user.
#[derive(Default)]
struct Scratch {
    semantic: Vec<f32>,
    lexical: Vec<f32>,
    /// Which of the block's candidates the user may be offered, when `masked`.
    eligible: Vec<bool>,
    masked: bool,
    relevance: Vec<f32>,
    penalty: Vec<f32>,
    closest: Vec<f32>,
    /// The soft maximum's sums.
    sums: Vec<f32>,
}

impl Scratch {
    /// Pools the user's items over the block.
    fn pool(
        &mut self,
        user: &SharedProfile<'_>,
        prepared: &Prepared,
        block: &Block<'_>,
        params: &DigestParams,
    ) {
        let width = block.width;
        let hybrid = params.hybrid;
        let semantic_rows: Vec<&[f32]> = user
            .items
            .iter()
            .map(|item| block.semantic_row(item.vector))
            .collect();
        self.semantic.resize(width, 0.0);
        soft_max_rows(
            &semantic_rows,
            &prepared.weights,
            hybrid.temperature,
            &mut self.semantic,
            &mut self.sums,
        );
        self.lexical.resize(width, 0.0);
        match &prepared.query {
            None => {
                let lexical_rows: Vec<&[f32]> = user
                    .items
                    .iter()
                    .map(|item| block.lexical_row(item.text))
                    .collect();
                soft_max_rows(
                    &lexical_rows,
                    &prepared.weights,
                    hybrid.lexical_temperature,
                    &mut self.lexical,
                    &mut self.sums,
                );
            }
            Some(query) => {
                self.lexical.fill(0.0);
                block.postings.add_scores_in(
                    query,
                    block.start,
                    block.start + width,
                    &mut self.lexical,
                );
            }
        }
        discount_hubness(&mut self.lexical, block.hubness, hybrid.lexical_hubness);
        let end = block.start + width;
        let from = prepared.excluded.partition_point(|&c| c < block.start);
        let to = prepared.excluded.partition_point(|&c| c < end);
        self.masked = from < to;
        if self.masked {
            self.eligible.clear();
            self.eligible.resize(width, true);
            for &c in &prepared.excluded[from..to] {
                self.eligible[c - block.start] = false;
            }
        }
    }
}

impl State {
    fn new(user: &SharedProfile<'_>) -> Self {
        Self {
            moments: vec![Moments::default(); 2 + user.negatives.len()],
            standardisers: Vec::new(),
            head: BinaryHeap::new(),
        }
    }

    /// The mean and scale of each sum, once every candidate is in them.
    fn standardise(&mut self) {
        self.standardisers = self.moments.iter().map(Moments::standardiser).collect();
    }

    /// Takes in one block of one sweep.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        sweep: Sweep,
        user: &SharedProfile<'_>,
        prepared: &Prepared,
        block: &Block<'_>,
        params: &DigestParams,
        head_size: usize,
        scratch: &mut Scratch,
    ) {
        if user.items.is_empty() {
            return;
        }
        scratch.pool(user, prepared, block, params);
        let eligible = scratch.masked.then_some(scratch.eligible.as_slice());
        if sweep != Sweep::Head {
            self.moments[0].add(&scratch.semantic, eligible);
            self.moments[1].add(&scratch.lexical, eligible);
            for (moments, &negative) in self.moments[2..].iter_mut().zip(&user.negatives) {
                moments.add(block.semantic_row(negative), eligible);
            }
            if sweep == Sweep::Moments {
                return;
            }
            self.standardise();
        }
        let hybrid = params.hybrid;
        let (semantic_mean, semantic_scale) = self.standardisers[0];
        let (lexical_mean, lexical_scale) = self.standardisers[1];
        let relevance = &mut scratch.relevance;
        relevance.clear();
        relevance.extend(
            scratch
                .semantic
                .iter()
                .zip(&scratch.lexical)
                .map(|(&s, &l)| {
                    (s - semantic_mean) * semantic_scale
                        + hybrid.lexical_weight * ((l - lexical_mean) * lexical_scale)
                }),
        );
        if !user.negatives.is_empty() {
            // Each dislike pushes down what is unusually close to it, by its own standardised
            // similarity, faded with its age; the strongest push counts.
            let penalty = &mut scratch.penalty;
            penalty.clear();
            penalty.resize(block.width, 0.0);
            for ((&negative, &weight), &(mean, scale)) in user
                .negatives
                .iter()
                .zip(&prepared.negative_weights)
                .zip(&self.standardisers[2..])
            {
                for (p, &s) in penalty.iter_mut().zip(block.semantic_row(negative)) {
                    *p = p.max(weight * ((s - mean) * scale));
                }
            }
            for (r, p) in relevance.iter_mut().zip(penalty.iter()) {
                *r -= params.dislike_weight * p;
            }
        }
        let end = block.start + block.width;
        let from = prepared.boosted.partition_point(|&(c, _)| c < block.start);
        for &(c, rules) in &prepared.boosted[from..] {
            if c >= end {
                break;
            }
            relevance[c - block.start] += params.rule_boost * rules as f32;
        }
        // The closest item's cosine, for the floor.
        let closest = &mut scratch.closest;
        if prepared.floor.is_some() {
            closest.clear();
            closest.resize(block.width, f32::NEG_INFINITY);
            for item in &user.items {
                for (m, &s) in closest.iter_mut().zip(block.semantic_row(item.vector)) {
                    *m = m.max(s);
                }
            }
        }
        // Within the head sweep candidates come in increasing order, so a candidate that
        // only ties the worst of a full head ranks below it: a plain comparison rejects most.
        let mut worst = self.worst(head_size);
        for (j, &score) in relevance.iter().enumerate() {
            if worst.is_some_and(|worst| score <= worst) {
                continue;
            }
            if eligible.is_some_and(|mask| !mask[j]) {
                continue;
            }
            if prepared.floor.is_some_and(|floor| closest[j] < floor) {
                continue;
            }
            let ranked = Ranked {
                score,
                candidate: (block.start + j) as u32,
            };
            if self.head.len() < head_size {
                self.head.push(std::cmp::Reverse(ranked));
            } else if let Some(mut top) = self.head.peek_mut()
                && ranked > top.0
            {
                *top = std::cmp::Reverse(ranked);
            }
            worst = self.worst(head_size);
        }
    }

    /// The score a candidate must beat to enter a full head; `None` while there is room.
    fn worst(&self, head_size: usize) -> Option<f32> {
        if self.head.len() < head_size {
            return None;
        }
        self.head.peek().map(|r| r.0.score)
    }
}

impl CandidateSet {
    /// Chooses up to `params.size` candidates for each user, best first: the users' hybrid
    /// scores (standardised over the candidates each may be offered), pushed down by their
    /// dislikes, lifted by their rules, cut by their floors, diversified by maximal marginal
    /// relevance and explained. The work runs on every core; a block of candidates holds at
    /// most about `block_bytes` of similarities.
    pub fn rank(
        &self,
        rows: &ProfileRows,
        users: &[SharedProfile<'_>],
        params: &DigestParams,
        block_bytes: usize,
    ) -> Vec<Vec<Pick>> {
        let mut picks = vec![Vec::new(); users.len()];
        self.rank_each(
            rows,
            users,
            params,
            block_bytes,
            &mut |_, _| {},
            &mut |user, chosen| {
                picks[user] = chosen;
            },
        );
        picks
    }

    /// [`CandidateSet::rank`], handing each user's picks to `sink` (user index, picks) in the users'
    /// order as they are ready rather than holding them all, and telling `progress` (steps
    /// done, steps in all) as the work goes.
    pub fn rank_each(
        &self,
        rows: &ProfileRows,
        users: &[SharedProfile<'_>],
        params: &DigestParams,
        block_bytes: usize,
        progress: &mut dyn FnMut(usize, usize),
        sink: &mut dyn FnMut(usize, Vec<Pick>),
    ) {
        let count = self.len();
        if count == 0 {
            for user in 0..users.len() {
                sink(user, Vec::new());
            }
            return;
        }
        if users.is_empty() {
            return;
        }
        let distinct = rows.distinct(params);
        let references: usize = users.iter().map(|user| rows_read(user, params)).sum();
        let fits = distinct.saturating_mul(count).saturating_mul(4) <= block_bytes;
        // Sweeping many blocks computes every distinct row twice and pools every user twice;
        // a block of all candidates for a few users at a time computes each row a user
        // refers to once per user and pools once. The first wins when rows are shared.
        if fits || references >= 2 * distinct + 2 * users.len() {
            self.sweep_all(rows, users, params, block_bytes, progress, sink);
        } else {
            self.rank_in_chunks(rows, users, params, block_bytes, progress, sink);
        }
    }

    /// [`CandidateSet::rank_each`] for users who share few rows: as many users at a time as one block
    /// of every candidate holds the rows of.
    fn rank_in_chunks(
        &self,
        rows: &ProfileRows,
        users: &[SharedProfile<'_>],
        params: &DigestParams,
        block_bytes: usize,
        progress: &mut dyn FnMut(usize, usize),
        sink: &mut dyn FnMut(usize, Vec<Pick>),
    ) {
        let rows_per_chunk = block_bytes / (4 * self.len().max(1));
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < users.len() {
            let (mut end, mut held) = (start, 0);
            while end < users.len() {
                let more = rows_read(&users[end], params);
                if end > start && held + more > rows_per_chunk {
                    break;
                }
                held += more;
                end += 1;
            }
            chunks.push(start..end);
            start = end;
        }
        for (done, chunk) in chunks.iter().enumerate() {
            let (own_rows, own_users) = rows.compact(&users[chunk.clone()]);
            self.sweep_all(
                &own_rows,
                &own_users,
                params,
                usize::MAX,
                &mut |_, _| {},
                &mut |user, picks| sink(chunk.start + user, picks),
            );
            progress(done + 1, chunks.len());
        }
    }

    /// [`CandidateSet::rank_each`] by sweeping the candidates in blocks: once when one block holds them
    /// all, else twice.
    fn sweep_all(
        &self,
        rows: &ProfileRows,
        users: &[SharedProfile<'_>],
        params: &DigestParams,
        block_bytes: usize,
        progress: &mut dyn FnMut(usize, usize),
        sink: &mut dyn FnMut(usize, Vec<Pick>),
    ) {
        let count = self.len();
        let terms: Vec<SparseVec> = rows
            .texts
            .par_iter()
            .map(|text| self.vocabulary.item(text))
            .collect();
        let prepared: Vec<Prepared> = users
            .par_iter()
            .map(|user| Prepared::new(user, &terms, params))
            .collect();
        let width = (block_bytes / (4 * rows.distinct(params).max(1)))
            .max(MIN_BLOCK)
            .min(count);
        let blocks = count.div_ceil(width);
        let sweeps: &[Sweep] = if blocks == 1 {
            &[Sweep::Whole]
        } else {
            &[Sweep::Moments, Sweep::Head]
        };
        let finishing = users.len().div_ceil(FINISH_CHUNK);
        let steps = sweeps.len() * blocks + finishing;
        let mut done = 0;
        // MMR re-orders the head of the ranking; the tail cannot reach a short digest.
        let head_size = (params.size * 10).max(100);
        let mut states: Vec<State> = users.iter().map(State::new).collect();
        let rows_of_terms = if pools_lexical(params) {
            terms.len()
        } else {
            0
        };
        let (mut semantic, mut lexical) = (Vec::new(), Vec::new());
        // Where each text's postings lists stopped, as the blocks go by.
        let mut cursors: Vec<Vec<u32>> = terms
            .iter()
            .take(rows_of_terms)
            .map(|t| vec![0; t.indices.len()])
            .collect();
        for &sweep in sweeps {
            cursors.iter_mut().for_each(|c| c.fill(0));
            if sweep == Sweep::Head {
                states.iter_mut().for_each(State::standardise);
            }
            for start in (0..count).step_by(width) {
                let end = (start + width).min(count);
                let candidates = self.vectors.slice_rows(start, end);
                rows.vectors.dot_all_into(&candidates, true, &mut semantic);
                lexical.clear();
                lexical.resize(rows_of_terms * (end - start), 0.0);
                lexical
                    .par_chunks_mut(end - start)
                    .zip(&terms)
                    .zip(&mut cursors)
                    .for_each(|((row, terms), cursors)| {
                        self.postings
                            .add_scores_from(terms, cursors, start, end, row);
                    });
                let block = Block {
                    start,
                    width: end - start,
                    semantic: &semantic,
                    lexical: &lexical,
                    postings: &self.postings,
                    hubness: &self.hubness[start..end],
                };
                states
                    .par_iter_mut()
                    .zip(users)
                    .zip(&prepared)
                    .with_min_len(16)
                    .for_each_init(Scratch::default, |scratch, ((state, user), prepared)| {
                        state.take(sweep, user, prepared, &block, params, head_size, scratch);
                    });
                done += 1;
                progress(done, steps);
            }
        }
        drop((semantic, lexical, cursors));
        for (chunk, (states, users)) in states
            .chunks_mut(FINISH_CHUNK)
            .zip(users.chunks(FINISH_CHUNK))
            .enumerate()
        {
            let picks: Vec<Vec<Pick>> = states
                .par_iter_mut()
                .zip(users)
                .map(|(state, user)| {
                    let mut head: Vec<Ranked> = std::mem::take(&mut state.head)
                        .into_iter()
                        .map(|r| r.0)
                        .collect();
                    head.sort_unstable_by(|a, b| b.cmp(a));
                    let chosen = mmr(&self.vectors, &head, params);
                    self.explain_picks(rows, &terms, user, &chosen)
                })
                .collect();
            for (i, chosen) in picks.into_iter().enumerate() {
                sink(chunk * FINISH_CHUNK + i, chosen);
            }
            done += 1;
            progress(done, steps);
        }
    }

    /// Each pick with its closest profile item, their cosine and the terms they share.
    fn explain_picks(
        &self,
        rows: &ProfileRows,
        terms: &[SparseVec],
        user: &SharedProfile<'_>,
        chosen: &[Ranked],
    ) -> Vec<Pick> {
        chosen
            .iter()
            .map(|ranked| {
                let candidate = ranked.candidate as usize;
                let vector = self.vectors.row(candidate);
                let (closest_item, similarity) = user
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let row = rows.vectors.row(item.vector as usize);
                        (i, paperscout_linalg::dot(row, vector))
                    })
                    .fold((0, f32::NEG_INFINITY), |best, next| {
                        if next.1 > best.1 { next } else { best }
                    });
                let item_terms = &terms[user.items[closest_item].text as usize];
                Pick {
                    candidate,
                    score: ranked.score,
                    closest_item,
                    similarity,
                    shared_terms: shared_terms(
                        &self.terms[candidate],
                        item_terms,
                        &self.vocabulary,
                        3,
                    ),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
