//! Choosing a digest: the day's candidates scored by the hybrid method against a user's
//! profile, pushed down by what the user disliked, diversified by maximal marginal relevance,
//! and each pick explained by the profile item it is closest to and the terms they share.

use serde::Serialize;

use crate::dense::Matrix;
use crate::lexical::{Postings, SparseVec, Tfidf, TfidfParams};
use crate::methods::{Candidates, HybridParams, Method, Profile, score, standardise};

/// The papers a digest may choose from, and what the user told us.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    /// Unit embeddings of the candidates.
    pub candidate_vectors: &'a Matrix,
    /// Title and abstract of each candidate.
    pub candidate_texts: &'a [String],
    /// Unit embeddings of the profile items (papers, interests, likes, saves), newest first.
    pub item_vectors: &'a Matrix,
    /// The text of each profile item.
    pub item_texts: &'a [String],
    /// Unit embeddings of disliked and dismissed papers.
    pub negative_vectors: &'a Matrix,
}

/// How to choose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DigestParams {
    /// Papers in the digest at most.
    pub size: usize,
    /// Maximal marginal relevance: 1 ranks by relevance only, lower values favour variety.
    pub mmr_lambda: f32,
    /// Leave out papers whose cosine to every profile item is below this ("send nothing
    /// rather than noise"); `None` keeps everything.
    pub min_similarity: Option<f32>,
    /// How strongly similarity to disliked papers pushes a candidate down.
    pub dislike_weight: f32,
    /// The hybrid method's knobs.
    pub hybrid: HybridParams,
}

impl Default for DigestParams {
    fn default() -> Self {
        Self {
            size: 10,
            mmr_lambda: 0.7,
            min_similarity: None,
            dislike_weight: 1.0,
            hybrid: HybridParams::default(),
        }
    }
}

/// One chosen paper and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pick {
    /// Index into the candidates.
    pub candidate: usize,
    /// The hybrid score (standardised over the day's candidates; higher is better).
    pub score: f32,
    /// The profile item it is closest to (index into the items).
    pub closest_item: usize,
    /// Its cosine to that item.
    pub similarity: f32,
    /// The terms it shares with that item, strongest first.
    pub shared_terms: Vec<String>,
}

/// Chooses up to `params.size` candidates, best first.
pub fn select(input: &DigestInput<'_>, params: &DigestParams) -> Vec<Pick> {
    let count = input.candidate_vectors.rows();
    if count == 0 || input.item_vectors.rows() == 0 {
        return Vec::new();
    }
    // The vocabulary of the day: candidates and profile together. Against a day's papers
    // rather than a whole archive, a term is common only past half of them.
    let corpus: Vec<String> = input
        .candidate_texts
        .iter()
        .chain(input.item_texts)
        .cloned()
        .collect();
    let tfidf = Tfidf::fit(
        &corpus,
        TfidfParams {
            max_df: 0.5,
            ..TfidfParams::wide()
        },
    );
    let candidate_terms = tfidf.transform_all(input.candidate_texts);
    let item_terms = tfidf.transform_all(input.item_texts);
    let postings = Postings::new(&candidate_terms, tfidf.len());
    let recency: Vec<usize> = (0..input.item_vectors.rows()).collect();
    let profile = Profile {
        vectors: input.item_vectors,
        lexical: &item_terms,
        terms: &item_terms,
        recency_rank: &recency,
    };
    let candidates = Candidates {
        vectors: input.candidate_vectors,
        lexical: &candidate_terms,
        postings: &postings,
        term_postings: &postings,
    };
    let mut relevance = score(Method::Hybrid, &profile, &candidates, None, params.hybrid);
    if input.negative_vectors.rows() > 0 {
        let against = input
            .negative_vectors
            .dot_all(input.candidate_vectors, false);
        let closest: Vec<f32> = (0..count)
            .map(|c| {
                (0..input.negative_vectors.rows())
                    .map(|n| against[n * count + c])
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect();
        for (r, penalty) in relevance.iter_mut().zip(standardise(&closest)) {
            *r -= params.dislike_weight * penalty.max(0.0);
        }
    }
    let similarities = input.item_vectors.dot_all(input.candidate_vectors, false);
    let closest_item = |c: usize| -> (usize, f32) {
        (0..input.item_vectors.rows())
            .map(|i| (i, similarities[i * count + c]))
            .fold((0, f32::NEG_INFINITY), |best, next| {
                if next.1 > best.1 { next } else { best }
            })
    };

    let eligible: Vec<usize> = (0..count)
        .filter(|&c| {
            params
                .min_similarity
                .is_none_or(|floor| closest_item(c).1 >= floor)
        })
        .collect();
    let order = mmr(&eligible, &relevance, input.candidate_vectors, params);
    order
        .into_iter()
        .map(|c| {
            let (item, similarity) = closest_item(c);
            Pick {
                candidate: c,
                score: relevance[c],
                closest_item: item,
                similarity,
                shared_terms: shared_terms(&candidate_terms[c], &item_terms[item], &tfidf, 3),
            }
        })
        .collect()
}

/// Greedy maximal marginal relevance over `eligible`, relevance scaled to [0, 1].
fn mmr(
    eligible: &[usize],
    relevance: &[f32],
    vectors: &Matrix,
    params: &DigestParams,
) -> Vec<usize> {
    let (low, high) = eligible
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &c| {
            (lo.min(relevance[c]), hi.max(relevance[c]))
        });
    let span = (high - low).max(f32::MIN_POSITIVE);
    let mut chosen: Vec<usize> = Vec::new();
    let mut redundancy: Vec<f32> = vec![f32::NEG_INFINITY; relevance.len()];
    let mut left: Vec<usize> = eligible.to_vec();
    while chosen.len() < params.size && !left.is_empty() {
        let value = |c: usize| {
            let penalty = if chosen.is_empty() {
                0.0
            } else {
                redundancy[c]
            };
            params.mmr_lambda * (relevance[c] - low) / span - (1.0 - params.mmr_lambda) * penalty
        };
        let (at, &best) = left
            .iter()
            .enumerate()
            .max_by(|a, b| value(*a.1).total_cmp(&value(*b.1)).then(b.1.cmp(a.1)))
            .expect("left is not empty");
        left.swap_remove(at);
        chosen.push(best);
        for &c in &left {
            let similarity = crate::dense::dot(vectors.row(c), vectors.row(best));
            redundancy[c] = redundancy[c].max(similarity);
        }
    }
    chosen
}

/// The features two vectors share, by the product of their weights.
fn shared_terms(a: &SparseVec, b: &SparseVec, tfidf: &Tfidf, count: usize) -> Vec<String> {
    let mut shared: Vec<(u32, f32)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.indices.len() && j < b.indices.len() {
        match a.indices[i].cmp(&b.indices[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared.push((a.indices[i], a.values[i] * b.values[j]));
                i += 1;
                j += 1;
            }
        }
    }
    shared.sort_by(|x, y| y.1.total_cmp(&x.1));
    shared
        .into_iter()
        .take(count)
        .map(|(feature, _)| tfidf.feature_name(feature).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(x: f32, y: f32, z: f32) -> [f32; 3] {
        let n = (x * x + y * y + z * z).sqrt();
        [x / n, y / n, z / n]
    }

    fn matrix(rows: &[[f32; 3]]) -> Matrix {
        Matrix::from_data(3, rows.iter().flatten().copied().collect())
    }

    /// Candidates: two near-copies of topic A, one of topic B, one of neither.
    fn input_rows() -> (Matrix, Vec<String>) {
        let candidates = matrix(&[
            unit(1.0, 0.05, 0.0),
            unit(1.0, 0.06, 0.0),
            unit(0.05, 1.0, 0.0),
            unit(0.0, 0.0, 1.0),
        ]);
        let texts = [
            "graph neural networks for molecular property prediction",
            "graph neural networks for molecular property regression",
            "protein folding with attention models",
            "street photography in low light",
        ]
        .map(str::to_owned)
        .to_vec();
        (candidates, texts)
    }

    #[test]
    fn both_interests_reach_the_top_and_each_pick_is_explained() {
        let (candidates, texts) = input_rows();
        let items = matrix(&[unit(1.0, 0.0, 0.0), unit(0.0, 1.0, 0.0)]);
        let item_texts = ["graph neural networks for molecules", "protein folding"]
            .map(str::to_owned)
            .to_vec();
        let input = DigestInput {
            candidate_vectors: &candidates,
            candidate_texts: &texts,
            item_vectors: &items,
            item_texts: &item_texts,
            negative_vectors: &Matrix::new(3),
        };
        let picks = select(
            &input,
            &DigestParams {
                size: 2,
                ..DigestParams::default()
            },
        );
        let chosen: Vec<usize> = picks.iter().map(|p| p.candidate).collect();
        // MMR takes one of the two near-copies and then the other interest, not the copy.
        assert!(
            chosen.contains(&2) && (chosen.contains(&0) ^ chosen.contains(&1)),
            "{picks:?}"
        );
        let protein = picks.iter().find(|p| p.candidate == 2).expect("picked");
        assert_eq!(protein.closest_item, 1);
        assert!(protein.similarity > 0.99);
        let graph = picks.iter().find(|p| p.candidate != 2).expect("picked");
        assert_eq!(graph.closest_item, 0);
        assert!(
            graph
                .shared_terms
                .iter()
                .any(|t| t.contains("graph") || t.contains("neural")),
            "{graph:?}"
        );
    }

    #[test]
    fn dislikes_push_down_and_a_floor_sends_nothing_rather_than_noise() {
        let (candidates, texts) = input_rows();
        let items = matrix(&[unit(1.0, 0.3, 0.3)]);
        let item_texts = vec!["graph neural networks".to_owned()];
        let disliked = matrix(&[unit(0.05, 1.0, 0.0)]);
        let mut input = DigestInput {
            candidate_vectors: &candidates,
            candidate_texts: &texts,
            item_vectors: &items,
            item_texts: &item_texts,
            negative_vectors: &Matrix::new(3),
        };
        let params = DigestParams {
            size: 4,
            mmr_lambda: 1.0,
            ..DigestParams::default()
        };
        let before = select(&input, &params);
        let rank_of = |picks: &[Pick], c: usize| picks.iter().position(|p| p.candidate == c);
        input.negative_vectors = &disliked;
        let after = select(&input, &params);
        assert!(
            rank_of(&after, 2) > rank_of(&before, 2),
            "{before:?} {after:?}"
        );

        let strict = DigestParams {
            min_similarity: Some(0.999),
            ..params
        };
        assert!(select(&input, &strict).is_empty());
    }
}
