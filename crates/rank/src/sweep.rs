//! Ranking many users against one day's candidates at once: the engine behind
//! [`Day::select`] and [`Day::select_many`], so that a digest, the daemon's `recommend` and a
//! batch re-rank of every user score and choose alike (one user is a batch of one).
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

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use crate::dense::Matrix;
use crate::digest::{Day, DigestParams, Pick, UserProfile, fade, shared_terms};
use crate::lexical::{Postings, SparseVec};
use crate::methods::Moments;
use paperscout_linalg::soft_max_rows;

/// How many bytes of similarities one block of candidates may take, unless told otherwise.
pub const DEFAULT_BLOCK_BYTES: usize = 256 << 20;

/// The narrowest block of candidates, however many distinct rows there are.
const MIN_BLOCK: usize = 64;

/// Users whose picks are finished (MMR, explanations) and handed on together.
const FINISH_CHUNK: usize = 4096;

/// The distinct rows that users' profiles refer to.
#[derive(Debug, Clone)]
pub struct ProfileRows {
    /// Unit vectors: of profile items and of disliked papers.
    pub vectors: Matrix,
    /// Texts of profile items (title and abstract, or the statement of interest).
    pub texts: Vec<String>,
}

/// One profile item: its rows in [`ProfileRows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    /// Its vector.
    pub vector: u32,
    /// Its text.
    pub text: u32,
}

/// One user as [`Day::rank`] sees them: [`UserProfile`] with rows referred to, not held.
#[derive(Debug, Clone)]
pub struct SharedProfile<'a> {
    /// The profile items, newest first.
    pub items: Vec<ItemRef>,
    /// The vectors of disliked and dismissed papers.
    pub negatives: Vec<u32>,
    /// Candidates never to choose, by index (see [`UserProfile::excluded`]).
    pub excluded: &'a [usize],
    /// Each item's age in days as feedback; empty: none fades.
    pub item_ages_days: &'a [f32],
    /// Each negative's age in days; empty: none fades.
    pub negative_ages_days: &'a [f32],
    /// Candidates the user's rules lift, with how many rules fired.
    pub boosted: &'a [(usize, usize)],
    /// The user's own floor on the closest item's cosine.
    pub min_similarity: Option<f32>,
}

impl ProfileRows {
    /// No rows yet, of vectors `dim` long.
    pub fn new(dim: usize) -> Self {
        Self {
            vectors: Matrix::new(dim),
            texts: Vec::new(),
        }
    }

    /// Profiles as shared rows, each distinct vector and text stored once.
    pub fn intern<'a>(dim: usize, users: &[UserProfile<'a>]) -> (Self, Vec<SharedProfile<'a>>) {
        let mut rows = Self::new(dim);
        let mut vectors: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut texts: HashMap<&'a str, u32> = HashMap::new();
        let mut vector_row = |rows: &mut Self, vector: &[f32]| -> u32 {
            let key: Vec<u32> = vector.iter().map(|x| x.to_bits()).collect();
            *vectors.entry(key).or_insert_with(|| {
                rows.vectors.push(vector);
                (rows.vectors.rows() - 1) as u32
            })
        };
        let mut shared = Vec::with_capacity(users.len());
        for user in users {
            let mut items = Vec::with_capacity(user.item_vectors.rows());
            for (i, text) in (0..user.item_vectors.rows()).zip(user.item_texts) {
                let vector = vector_row(&mut rows, user.item_vectors.row(i));
                let text = *texts.entry(text.as_str()).or_insert_with(|| {
                    rows.texts.push(text.clone());
                    (rows.texts.len() - 1) as u32
                });
                items.push(ItemRef { vector, text });
            }
            let negatives = (0..user.negative_vectors.rows())
                .map(|n| vector_row(&mut rows, user.negative_vectors.row(n)))
                .collect();
            shared.push(SharedProfile {
                items,
                negatives,
                excluded: user.excluded,
                item_ages_days: user.item_ages_days,
                negative_ages_days: user.negative_ages_days,
                boosted: user.boosted,
                min_similarity: user.min_similarity,
            });
        }
        (rows, shared)
    }
}

/// A candidate in a user's ranking: higher scores first, then lower indices (so that ties
/// break the same way every time).
#[derive(Debug, Clone, Copy)]
struct Ranked {
    score: f32,
    candidate: u32,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.candidate.cmp(&self.candidate))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

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
        let query = (hybrid.lexical_temperature <= 0.0).then(|| {
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
        let floor = match (params.min_similarity, user.min_similarity) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
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
    Moments,
    Head,
}

/// The pooled halves of a user's score over one block.
struct Pooled {
    semantic: Vec<f32>,
    lexical: Vec<f32>,
    /// Which of the block's candidates the user may be offered; `None`: all.
    eligible: Option<Vec<bool>>,
}

impl State {
    fn new(user: &SharedProfile<'_>) -> Self {
        Self {
            moments: vec![Moments::default(); 2 + user.negatives.len()],
            standardisers: Vec::new(),
            head: BinaryHeap::new(),
        }
    }

    fn pool(
        user: &SharedProfile<'_>,
        prepared: &Prepared,
        block: &Block<'_>,
        params: &DigestParams,
    ) -> Pooled {
        let width = block.width;
        let hybrid = params.hybrid;
        let semantic_rows: Vec<&[f32]> = user
            .items
            .iter()
            .map(|item| block.semantic_row(item.vector))
            .collect();
        let mut semantic = vec![0.0f32; width];
        soft_max_rows(
            &semantic_rows,
            &prepared.weights,
            hybrid.temperature,
            &mut semantic,
        );
        let mut lexical = vec![0.0f32; width];
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
                    &mut lexical,
                );
            }
            Some(query) => {
                block
                    .postings
                    .add_scores_in(query, block.start, block.start + width, &mut lexical);
            }
        }
        let end = block.start + width;
        let from = prepared.excluded.partition_point(|&c| c < block.start);
        let to = prepared.excluded.partition_point(|&c| c < end);
        let eligible = (from < to).then(|| {
            let mut mask = vec![true; width];
            for &c in &prepared.excluded[from..to] {
                mask[c - block.start] = false;
            }
            mask
        });
        Pooled {
            semantic,
            lexical,
            eligible,
        }
    }

    /// Takes in one block of one sweep.
    fn take(
        &mut self,
        sweep: Sweep,
        user: &SharedProfile<'_>,
        prepared: &Prepared,
        block: &Block<'_>,
        params: &DigestParams,
        head_size: usize,
    ) {
        if user.items.is_empty() {
            return;
        }
        let pooled = Self::pool(user, prepared, block, params);
        let eligible = pooled.eligible.as_deref();
        if sweep == Sweep::Moments {
            self.moments[0].add(&pooled.semantic, eligible);
            self.moments[1].add(&pooled.lexical, eligible);
            for (moments, &negative) in self.moments[2..].iter_mut().zip(&user.negatives) {
                moments.add(block.semantic_row(negative), eligible);
            }
            return;
        }
        let hybrid = params.hybrid;
        let (semantic_mean, semantic_scale) = self.standardisers[0];
        let (lexical_mean, lexical_scale) = self.standardisers[1];
        let mut relevance: Vec<f32> = pooled
            .semantic
            .iter()
            .zip(&pooled.lexical)
            .map(|(&s, &l)| {
                (s - semantic_mean) * semantic_scale
                    + hybrid.lexical_weight * ((l - lexical_mean) * lexical_scale)
            })
            .collect();
        if !user.negatives.is_empty() {
            // Each dislike pushes down what is unusually close to it, by its own standardised
            // similarity, faded with its age; the strongest push counts.
            let mut penalty = vec![0.0f32; block.width];
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
            for (r, p) in relevance.iter_mut().zip(penalty) {
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
        let closest = prepared.floor.map(|_| {
            let mut top = vec![f32::NEG_INFINITY; block.width];
            for item in &user.items {
                for (m, &s) in top.iter_mut().zip(block.semantic_row(item.vector)) {
                    *m = m.max(s);
                }
            }
            top
        });
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
            if let (Some(floor), Some(closest)) = (prepared.floor, &closest)
                && closest[j] < floor
            {
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

/// A candidate of the MMR pool, by its value so far: an upper bound of its value until its
/// redundancy covers every pick.
#[derive(Debug, Clone, Copy)]
struct Lazy {
    value: Ranked,
    slot: usize,
}

impl Ord for Lazy {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl PartialOrd for Lazy {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Lazy {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Lazy {}

impl Day {
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

    /// [`Day::rank`], handing each user's picks to `sink` (user index, picks) in the users'
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
        let pooled_lexical = params.hybrid.lexical_temperature > 0.0;
        let terms: Vec<SparseVec> = rows
            .texts
            .par_iter()
            .map(|text| self.tfidf.transform(text))
            .collect();
        let prepared: Vec<Prepared> = users
            .par_iter()
            .map(|user| Prepared::new(user, &terms, params))
            .collect();
        let distinct = rows.vectors.rows() + if pooled_lexical { terms.len() } else { 0 };
        let width = (block_bytes / (4 * distinct.max(1)))
            .max(MIN_BLOCK)
            .min(count);
        let blocks = count.div_ceil(width);
        let finishing = users.len().div_ceil(FINISH_CHUNK);
        let steps = 2 * blocks + finishing;
        let mut done = 0;
        // MMR re-orders the head of the ranking; the tail cannot reach a short digest.
        let head_size = (params.size * 10).max(100);
        let mut states: Vec<State> = users.iter().map(State::new).collect();
        let rows_of_terms = if pooled_lexical { terms.len() } else { 0 };
        let (mut semantic, mut lexical) = (Vec::new(), Vec::new());
        // Where each text's postings lists stopped, as the blocks go by.
        let mut cursors: Vec<Vec<u32>> = terms
            .iter()
            .take(rows_of_terms)
            .map(|t| vec![0; t.indices.len()])
            .collect();
        for sweep in [Sweep::Moments, Sweep::Head] {
            cursors.iter_mut().for_each(|c| c.fill(0));
            if sweep == Sweep::Head {
                for state in &mut states {
                    state.standardisers = state.moments.iter().map(Moments::standardiser).collect();
                }
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
                };
                states
                    .par_iter_mut()
                    .zip(users)
                    .zip(&prepared)
                    .with_min_len(16)
                    .for_each(|((state, user), prepared)| {
                        state.take(sweep, user, prepared, &block, params, head_size);
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
                    let chosen = self.mmr(&head, params);
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

    /// Greedy maximal marginal relevance over the head of a ranking (best first), relevance
    /// scaled to [0, 1] over it; the value of a candidate is λ · relevance − (1 − λ) ·
    /// its largest cosine to a pick. Lazily: a candidate's redundancy only grows as picks are
    /// added, so a value computed against some of the picks bounds its value from above, and
    /// only candidates whose bound could win are brought up to date (the same picks as
    /// comparing every candidate with every pick, at a fraction of the products).
    fn mmr(&self, head: &[Ranked], params: &DigestParams) -> Vec<Ranked> {
        let size = params.size.min(head.len());
        if size == 0 {
            return Vec::new();
        }
        let (low, high) = head
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r.score), hi.max(r.score))
            });
        let span = (high - low).max(f32::MIN_POSITIVE);
        // Beyond [0, 1] the bound above would not hold (and λ > 1 would favour redundancy).
        let lambda = params.mmr_lambda.clamp(0.0, 1.0);
        let penalty_weight = 1.0 - lambda;
        let relevance: Vec<f32> = head
            .iter()
            .map(|r| lambda * (r.score - low) / span)
            .collect();
        let vector = |slot: usize| self.vectors.row(head[slot].candidate as usize);
        let value = |slot: usize, redundancy: f32| Ranked {
            score: if penalty_weight > 0.0 {
                relevance[slot] - penalty_weight * redundancy
            } else {
                relevance[slot]
            },
            candidate: head[slot].candidate,
        };
        // The first pick has nothing to be redundant with.
        let first = (0..head.len())
            .max_by_key(|&slot| Ranked {
                score: relevance[slot],
                candidate: head[slot].candidate,
            })
            .unwrap_or(0);
        let mut chosen = vec![first];
        let mut redundancy = vec![f32::NEG_INFINITY; head.len()];
        let mut covered = vec![0usize; head.len()];
        let mut queue: BinaryHeap<Lazy> = (0..head.len())
            .filter(|&slot| slot != first)
            .map(|slot| {
                redundancy[slot] = paperscout_linalg::dot(vector(slot), vector(first));
                covered[slot] = 1;
                Lazy {
                    value: value(slot, redundancy[slot]),
                    slot,
                }
            })
            .collect();
        while chosen.len() < size {
            let Some(best) = queue.pop() else { break };
            let slot = best.slot;
            if covered[slot] == chosen.len() {
                chosen.push(slot);
                continue;
            }
            for &pick in &chosen[covered[slot]..] {
                redundancy[slot] =
                    redundancy[slot].max(paperscout_linalg::dot(vector(slot), vector(pick)));
            }
            covered[slot] = chosen.len();
            queue.push(Lazy {
                value: value(slot, redundancy[slot]),
                slot,
            });
        }
        chosen.into_iter().map(|slot| head[slot]).collect()
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
                    shared_terms: shared_terms(&self.terms[candidate], item_terms, &self.tfidf, 3),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::normalise;
    use crate::methods::{Candidates, Profile, hybrid_scores, standardise_over};

    /// A fixed stream of numbers in [0, 1).
    struct Numbers(u64);

    impl Numbers {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() * bound as f32) as usize % bound
        }

        fn unit(&mut self, dim: usize) -> Vec<f32> {
            let mut v: Vec<f32> = (0..dim).map(|_| self.next() - 0.5).collect();
            normalise(&mut v);
            v
        }

        fn text(&mut self) -> String {
            const WORDS: [&str; 24] = [
                "graph",
                "neural",
                "network",
                "protein",
                "folding",
                "attention",
                "diffusion",
                "model",
                "image",
                "language",
                "retrieval",
                "sparse",
                "kernel",
                "robot",
                "policy",
                "reward",
                "quantum",
                "circuit",
                "compiler",
                "cache",
                "memory",
                "proof",
                "theorem",
                "vision",
            ];
            (0..12)
                .map(|_| WORDS[self.below(WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    const DIM: usize = 16;

    /// The digest of one user as it was computed before the sweep: every score of the
    /// whole day at once, the head by a full sort, MMR comparing every candidate with every
    /// pick. The oracle the engine must agree with.
    fn reference(day: &Day, user: &UserProfile<'_>, params: &DigestParams) -> Vec<(usize, f32)> {
        let count = day.len();
        let items = user.item_vectors.rows();
        let similarities = user.item_vectors.dot_all(&day.vectors, false);
        let item_terms: Vec<SparseVec> = user
            .item_texts
            .iter()
            .map(|t| day.tfidf.transform(t))
            .collect();
        let postings = Postings::new(&day.terms, day.tfidf.len());
        let recency: Vec<usize> = (0..items).collect();
        let weights: Vec<f32> = user
            .item_ages_days
            .iter()
            .map(|&age| fade(age, params.feedback_half_life_days))
            .collect();
        let profile = Profile {
            vectors: user.item_vectors,
            lexical: &item_terms,
            terms: &item_terms,
            recency_rank: &recency,
            item_weights: &weights,
        };
        let candidates = Candidates {
            vectors: &day.vectors,
            lexical: &day.terms,
            postings: &postings,
            term_postings: &postings,
        };
        let mut mask = vec![true; count];
        for &c in user.excluded {
            mask[c] = false;
        }
        let mut relevance = hybrid_scores(
            &similarities,
            &profile,
            &candidates,
            params.hybrid,
            Some(&mask),
        );
        let against = user.negative_vectors.dot_all(&day.vectors, false);
        let mut penalty = vec![0.0f32; count];
        for (n, row) in against.chunks_exact(count).enumerate() {
            let weight = fade(
                user.negative_ages_days.get(n).copied().unwrap_or(0.0),
                params.feedback_half_life_days,
            );
            for (p, z) in penalty.iter_mut().zip(standardise_over(row, Some(&mask))) {
                *p = p.max(weight * z);
            }
        }
        for (r, p) in relevance.iter_mut().zip(penalty) {
            *r -= params.dislike_weight * p;
        }
        for &(c, rules) in user.boosted {
            relevance[c] += params.rule_boost * rules as f32;
        }
        let floor = match (params.min_similarity, user.min_similarity) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let closest = |c: usize| {
            (0..items)
                .map(|i| similarities[i * count + c])
                .fold(f32::NEG_INFINITY, f32::max)
        };
        let mut head: Vec<usize> = (0..count)
            .filter(|&c| mask[c] && floor.is_none_or(|f| closest(c) >= f))
            .collect();
        head.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]).then(a.cmp(&b)));
        head.truncate((params.size * 10).max(100));
        let (low, high) = head
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &c| {
                (l.min(relevance[c]), h.max(relevance[c]))
            });
        let span = (high - low).max(f32::MIN_POSITIVE);
        let lambda = params.mmr_lambda;
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < params.size && chosen.len() < head.len() {
            let value = |c: usize| {
                let redundancy = chosen
                    .iter()
                    .map(|&p| crate::dense::dot(day.vectors.row(c), day.vectors.row(p)))
                    .fold(f32::NEG_INFINITY, f32::max);
                let penalty = if chosen.is_empty() { 0.0 } else { redundancy };
                lambda * (relevance[c] - low) / span - (1.0 - lambda) * penalty
            };
            let best = head
                .iter()
                .copied()
                .filter(|c| !chosen.contains(c))
                .max_by(|&a, &b| value(a).total_cmp(&value(b)).then(b.cmp(&a)))
                .expect("candidates are left");
            chosen.push(best);
        }
        chosen.into_iter().map(|c| (c, relevance[c])).collect()
    }

    struct Owned {
        items: Matrix,
        texts: Vec<String>,
        negatives: Matrix,
        excluded: Vec<usize>,
        ages: Vec<f32>,
        negative_ages: Vec<f32>,
        boosted: Vec<(usize, usize)>,
        floor: Option<f32>,
    }

    /// 600 candidates and 40 users whose items are drawn from 30 shared papers and some of
    /// their own; every fifth user dislikes a paper, some have exclusions, rules and floors.
    fn day_and_users() -> (Day, Vec<Owned>) {
        let mut numbers = Numbers(0x5EED_CAFE);
        let count = 600;
        let mut vectors = Matrix::new(DIM);
        let mut texts = Vec::new();
        for _ in 0..count {
            vectors.push(&numbers.unit(DIM));
            texts.push(numbers.text());
        }
        let day = Day::new(vectors, &texts);
        let library: Vec<(Vec<f32>, String)> = (0..30)
            .map(|_| (numbers.unit(DIM), numbers.text()))
            .collect();
        let users = (0..40)
            .map(|u| {
                let mut items = Matrix::new(DIM);
                let mut item_texts = Vec::new();
                for _ in 0..2 + numbers.below(6) {
                    if numbers.next() < 0.7 {
                        let (vector, text) = &library[numbers.below(library.len())];
                        items.push(vector);
                        item_texts.push(text.clone());
                    } else {
                        items.push(&numbers.unit(DIM));
                        item_texts.push(numbers.text());
                    }
                }
                let mut negatives = Matrix::new(DIM);
                if u % 5 == 0 {
                    negatives.push(&library[numbers.below(library.len())].0);
                    negatives.push(&numbers.unit(DIM));
                }
                let excluded = (0..numbers.below(20))
                    .map(|_| numbers.below(count))
                    .collect();
                let ages = if u % 3 == 0 {
                    (0..items.rows()).map(|_| 400.0 * numbers.next()).collect()
                } else {
                    Vec::new()
                };
                let negative_ages = (0..negatives.rows())
                    .map(|_| 90.0 * numbers.next())
                    .collect();
                let boosted = if u % 4 == 1 {
                    vec![(numbers.below(count), 1), (numbers.below(count), 2)]
                } else {
                    Vec::new()
                };
                let floor = (u % 7 == 3).then_some(0.1);
                Owned {
                    items,
                    texts: item_texts,
                    negatives,
                    excluded,
                    ages,
                    negative_ages,
                    boosted,
                    floor,
                }
            })
            .collect();
        (day, users)
    }

    fn views(users: &[Owned]) -> Vec<UserProfile<'_>> {
        users
            .iter()
            .map(|u| UserProfile {
                item_vectors: &u.items,
                item_texts: &u.texts,
                negative_vectors: &u.negatives,
                excluded: &u.excluded,
                item_ages_days: &u.ages,
                negative_ages_days: &u.negative_ages,
                boosted: &u.boosted,
                min_similarity: u.floor,
            })
            .collect()
    }

    fn assert_same(got: &[Pick], want: &[(usize, f32)], what: &str) {
        let got: Vec<usize> = got.iter().map(|p| p.candidate).collect();
        let ids: Vec<usize> = want.iter().map(|w| w.0).collect();
        assert_eq!(got, ids, "{what}: the picks or their order differ");
    }

    #[test]
    fn the_sweep_chooses_what_scoring_every_candidate_at_once_chooses() {
        let (day, users) = day_and_users();
        let views = views(&users);
        let params = DigestParams {
            size: 12,
            ..DigestParams::default()
        };
        let (rows, shared) = ProfileRows::intern(DIM, &views);
        let held: usize = views.iter().map(|v| v.item_vectors.rows()).sum();
        assert!(
            rows.texts.len() < held,
            "shared items are stored once: {} rows for {held} items",
            rows.texts.len()
        );
        // One block, and blocks of 64 candidates (with moments summed across them).
        let whole = day.rank(&rows, &shared, &params, usize::MAX / 8);
        let blocked = day.rank(&rows, &shared, &params, 1);
        for (u, view) in views.iter().enumerate() {
            let want = reference(&day, view, &params);
            assert_same(&whole[u], &want, &format!("user {u}, one block"));
            assert_same(&blocked[u], &want, &format!("user {u}, blocks of 64"));
            for ((a, b), (_, score)) in whole[u].iter().zip(&blocked[u]).zip(&want) {
                assert!(
                    (a.score - score).abs() < 1e-5,
                    "user {u}: {} vs {score}",
                    a.score
                );
                assert!(
                    (b.score - score).abs() < 1e-5,
                    "user {u}: {} vs {score}",
                    b.score
                );
                assert!(!view.excluded.contains(&a.candidate));
                let similarity = (0..view.item_vectors.rows())
                    .map(|i| {
                        crate::dense::dot(view.item_vectors.row(i), day.vectors.row(a.candidate))
                    })
                    .fold(f32::NEG_INFINITY, f32::max);
                assert!(
                    (a.similarity - similarity).abs() < 1e-5,
                    "the closest item explains"
                );
            }
        }
        assert!(whole.iter().all(|picks| !picks.is_empty()));
        // The one-user path is the same engine.
        for (u, view) in views.iter().enumerate().step_by(7) {
            let alone = day.select(view, &params);
            assert_same(
                &alone,
                &reference(&day, view, &params),
                &format!("user {u} alone"),
            );
        }
    }

    #[test]
    fn mmr_with_lambda_one_ranks_by_relevance_alone() {
        let (day, users) = day_and_users();
        let views = views(&users[..5]);
        let params = DigestParams {
            size: 20,
            mmr_lambda: 1.0,
            ..DigestParams::default()
        };
        for view in &views {
            let picks = day.select(view, &params);
            assert_same(&picks, &reference(&day, view, &params), "lambda 1");
            assert!(picks.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }
}
