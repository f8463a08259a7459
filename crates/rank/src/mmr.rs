//! Maximal marginal relevance: the head of a user's ranking re-ordered so that each pick is
//! relevant and unlike the picks before it. Lazily: a candidate is compared with the newer
//! picks only when it could be the next one.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::dense::Matrix;
use crate::params::DigestParams;

/// A candidate in a user's ranking: higher scores first, then lower indices (so that ties
/// break the same way every time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranked {
    /// The score.
    pub(crate) score: f32,
    /// The candidate's index.
    pub(crate) candidate: u32,
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

/// Greedy maximal marginal relevance over the head of a ranking (best first), relevance
/// scaled to [0, 1] over it; the value of a candidate is λ · relevance − (1 − λ) ·
/// its largest cosine to a pick. Lazily: a candidate's redundancy only grows as picks are
/// added, so a value computed against some of the picks bounds its value from above, and
/// only candidates whose bound could win are brought up to date (the same picks as
/// comparing every candidate with every pick, at a fraction of the products).
pub(crate) fn mmr(vectors: &Matrix, head: &[Ranked], params: &DigestParams) -> Vec<Ranked> {
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
    let vector = |slot: usize| vectors.row(head[slot].candidate as usize);
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
    // A cosine is at least -1 (lower ones, from rounding, count as -1): before its first
    // comparison a candidate's value is at most its relevance + (1 - λ).
    let mut redundancy = vec![-1.0f32; head.len()];
    let mut covered = vec![0usize; head.len()];
    let mut queue: BinaryHeap<Lazy> = (0..head.len())
        .filter(|&slot| slot != first)
        .map(|slot| Lazy {
            value: value(slot, redundancy[slot]),
            slot,
        })
        .collect();
    while chosen.len() < size {
        let Some(best) = queue.pop() else { break };
        let slot = best.slot;
        // Without a penalty the relevance alone decides: nothing to compare.
        if covered[slot] == chosen.len() || penalty_weight == 0.0 {
            chosen.push(slot);
            continue;
        }
        for &pick in &chosen[covered[slot]..] {
            let cosine = paperscout_linalg::dot(vector(slot), vector(pick));
            redundancy[slot] = redundancy[slot].max(cosine);
        }
        covered[slot] = chosen.len();
        queue.push(Lazy {
            value: value(slot, redundancy[slot]),
            slot,
        });
    }
    chosen.into_iter().map(|slot| head[slot]).collect()
}
