//! Choosing a digest: the day's candidates scored by the hybrid method against a user's
//! profile, pushed down by what the user disliked, diversified by maximal marginal relevance,
//! and each pick explained by the profile item it is closest to and the terms they share.

use serde::Serialize;

use crate::dense::Matrix;
use crate::lexical::{Postings, SparseVec, Tfidf, TfidfParams};
use crate::methods::{Candidates, HybridParams, Profile, hybrid_scores, standardise_over};

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
    /// Feedback (likes, saves, dislikes, dismissals) counts half as much after this many
    /// days; 0 keeps it at full weight forever. Papers and interests the user added never fade.
    pub feedback_half_life_days: f32,
    /// How far each keyword or author rule that fires lifts a paper, in standard deviations
    /// of the score.
    pub rule_boost: f32,
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
            feedback_half_life_days: 180.0,
            rule_boost: 1.0,
            hybrid: HybridParams::default(),
        }
    }
}

/// One chosen paper and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pick {
    /// Index into the candidates.
    pub candidate: usize,
    /// The hybrid score (standardised over the day's candidates the user may be offered;
    /// higher is better).
    pub score: f32,
    /// The profile item it is closest to (index into the items).
    pub closest_item: usize,
    /// Its cosine to that item.
    pub similarity: f32,
    /// The terms it shares with that item, strongest first.
    pub shared_terms: Vec<String>,
}

/// Above this many candidates, MMR computes similarities as it goes instead of holding the
/// candidates' similarity matrix (count² floats).
const PAIRWISE_LIMIT: usize = 4000;

/// A day's candidates, prepared once for every user: the vocabulary of the day, the
/// candidates' term vectors and inverted index, and their pairwise similarities for MMR.
pub struct Day {
    vectors: Matrix,
    tfidf: Tfidf,
    terms: Vec<SparseVec>,
    postings: Postings,
    pairwise: Option<Vec<f32>>,
}

/// One user as a digest sees them.
#[derive(Debug, Clone, Copy)]
pub struct UserProfile<'a> {
    /// Unit embeddings of the profile items (papers, interests, likes, saves), newest first.
    pub item_vectors: &'a Matrix,
    /// The text of each profile item.
    pub item_texts: &'a [String],
    /// Unit embeddings of disliked and dismissed papers.
    pub negative_vectors: &'a Matrix,
    /// Candidates never to choose (sent before, rated, in the profile, ruled out by the
    /// user's rules), by index. They stay out of the mean and deviation the scores are
    /// standardised by, in the batch and the one-user path alike, so the two agree.
    pub excluded: &'a [usize],
    /// Each profile item's age in days as feedback (a like or a save); 0 for what the user
    /// added, which never fades. Empty: none fades.
    pub item_ages_days: &'a [f32],
    /// Each disliked or dismissed paper's age in days. Empty: none fades.
    pub negative_ages_days: &'a [f32],
    /// Candidates the user's keyword and author rules lift, with how many rules fired.
    pub boosted: &'a [(usize, usize)],
    /// The user's own floor on the closest profile item's cosine; the stricter of it and
    /// [`DigestParams::min_similarity`] applies.
    pub min_similarity: Option<f32>,
}

impl<'a> UserProfile<'a> {
    /// A profile with no ages, boosts or floor of its own.
    pub fn new(
        item_vectors: &'a Matrix,
        item_texts: &'a [String],
        negative_vectors: &'a Matrix,
        excluded: &'a [usize],
    ) -> Self {
        Self {
            item_vectors,
            item_texts,
            negative_vectors,
            excluded,
            item_ages_days: &[],
            negative_ages_days: &[],
            boosted: &[],
            min_similarity: None,
        }
    }
}

/// How much feedback `age_days` old counts: 1 when new, ½ after one half-life; always 1 when
/// the half-life is 0 (no fading).
pub fn fade(age_days: f32, half_life_days: f32) -> f32 {
    if half_life_days > 0.0 && age_days > 0.0 {
        0.5f32.powf(age_days / half_life_days)
    } else {
        1.0
    }
}

impl Day {
    /// Prepares the candidates (unit vectors and title + abstract texts, in the same order).
    pub fn new(vectors: Matrix, texts: &[String]) -> Self {
        // The vocabulary is the day's: a term in a single candidate is the strongest evidence
        // when a profile shares it, and against a day's papers rather than a whole archive a
        // term is common only past half of them.
        let tfidf = Tfidf::fit(
            texts,
            TfidfParams {
                min_df: 1,
                max_df: 0.5,
                ..TfidfParams::wide()
            },
        );
        let terms = tfidf.transform_all(texts);
        let postings = Postings::new(&terms, tfidf.len());
        let pairwise = (vectors.rows() <= PAIRWISE_LIMIT).then(|| vectors.dot_all(&vectors, true));
        Self {
            vectors,
            tfidf,
            terms,
            postings,
            pairwise,
        }
    }

    /// The number of candidates.
    pub fn len(&self) -> usize {
        self.vectors.rows()
    }

    /// Whether there are no candidates.
    pub fn is_empty(&self) -> bool {
        self.vectors.rows() == 0
    }

    /// Chooses one digest per user, on every core: the same choice as [`Day::select`] for
    /// each. The users' profile items are stacked, a chunk of users at a time, into one
    /// matrix product with the candidates (the bulk of the work, run near the machine's
    /// peak), whose rows then serve both the scores and the explanations.
    pub fn select_many(&self, users: &[UserProfile<'_>], params: &DigestParams) -> Vec<Vec<Pick>> {
        use rayon::prelude::*;
        let count = self.len();
        let mut picks = Vec::with_capacity(users.len());
        // About 64 MiB of similarities per chunk, whatever the number of users.
        let rows_per_chunk = ((16 << 20) / count.max(1)).max(1);
        let mut start = 0;
        while start < users.len() {
            let mut end = start;
            let mut rows = 0;
            while end < users.len()
                && (end == start || rows + users[end].item_vectors.rows() <= rows_per_chunk)
            {
                rows += users[end].item_vectors.rows();
                end += 1;
            }
            let chunk = &users[start..end];
            let mut stacked = Matrix::new(self.vectors.dim());
            for user in chunk {
                for item in 0..user.item_vectors.rows() {
                    stacked.push(user.item_vectors.row(item));
                }
            }
            let similarities = stacked.dot_all(&self.vectors, true);
            let mut offsets = Vec::with_capacity(chunk.len());
            let mut offset = 0;
            for user in chunk {
                offsets.push(offset);
                offset += user.item_vectors.rows() * count;
            }
            picks.par_extend(chunk.par_iter().zip(offsets).map(|(user, offset)| {
                let own = &similarities[offset..offset + user.item_vectors.rows() * count];
                self.select_with(user, own, params)
            }));
            start = end;
        }
        picks
    }

    /// The `top` candidates closest to each user's centroid (the normalised mean of the
    /// profile items), best first, each explained by its closest item: the fast method of a
    /// batch re-rank. No lexical evidence, no dislikes, no diversification; one matrix product
    /// per chunk of users, on every core. The items' texts are not read.
    pub fn centroid_many(&self, users: &[UserProfile<'_>], top: usize) -> Vec<Vec<Pick>> {
        use rayon::prelude::*;
        let count = self.len();
        let mut picks = Vec::with_capacity(users.len());
        let users_per_chunk = ((16 << 20) / count.max(1)).max(1);
        for chunk in users.chunks(users_per_chunk) {
            let mut centroids = Matrix::new(self.vectors.dim());
            for user in chunk {
                let mut mean = vec![0.0f32; self.vectors.dim()];
                for item in 0..user.item_vectors.rows() {
                    for (m, x) in mean.iter_mut().zip(user.item_vectors.row(item)) {
                        *m += x;
                    }
                }
                centroids.push(&mean);
            }
            centroids.normalise_rows();
            let scores = centroids.dot_all(&self.vectors, true);
            picks.par_extend(chunk.par_iter().zip(scores.par_chunks(count.max(1))).map(
                |(user, row)| {
                    let mut eligible = vec![true; count];
                    for &c in user.excluded {
                        if let Some(slot) = eligible.get_mut(c) {
                            *slot = false;
                        }
                    }
                    let mut order: Vec<usize> = (0..count).filter(|&c| eligible[c]).collect();
                    if order.len() > top {
                        order.select_nth_unstable_by(top, |a, b| {
                            row[*b].total_cmp(&row[*a]).then(a.cmp(b))
                        });
                        order.truncate(top);
                    }
                    order.sort_by(|a, b| row[*b].total_cmp(&row[*a]).then(a.cmp(b)));
                    self.explain(user, &order, row)
                },
            ));
        }
        picks
    }

    /// Picks for chosen candidates, each with its closest profile item and their cosine;
    /// no shared terms (tokenising the items took most of the method's time).
    fn explain(&self, user: &UserProfile<'_>, chosen: &[usize], scores: &[f32]) -> Vec<Pick> {
        if user.item_vectors.rows() == 0 {
            return Vec::new();
        }
        let chosen_vectors = self.vectors.select(chosen);
        let similarities = user.item_vectors.dot_all(&chosen_vectors, false);
        let n = chosen.len();
        chosen
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                let (item, similarity) = (0..user.item_vectors.rows())
                    .map(|i| (i, similarities[i * n + j]))
                    .fold((0, f32::NEG_INFINITY), |best, next| {
                        if next.1 > best.1 { next } else { best }
                    });
                Pick {
                    candidate: c,
                    score: scores[c],
                    closest_item: item,
                    similarity,
                    shared_terms: Vec::new(),
                }
            })
            .collect()
    }

    /// Chooses up to `params.size` candidates for a user, best first.
    pub fn select(&self, user: &UserProfile<'_>, params: &DigestParams) -> Vec<Pick> {
        let similarities = user.item_vectors.dot_all(&self.vectors, false);
        self.select_with(user, &similarities, params)
    }

    /// [`Day::select`] given the cosines of the user's items with every candidate
    /// (item-major).
    fn select_with(
        &self,
        user: &UserProfile<'_>,
        similarities: &[f32],
        params: &DigestParams,
    ) -> Vec<Pick> {
        let count = self.len();
        let items = user.item_vectors.rows();
        if count == 0 || items == 0 {
            return Vec::new();
        }
        let item_terms: Vec<SparseVec> = user
            .item_texts
            .iter()
            .map(|t| self.tfidf.transform(t))
            .collect();
        let recency: Vec<usize> = (0..items).collect();
        let half_life = params.feedback_half_life_days;
        let item_weights: Vec<f32> = user
            .item_ages_days
            .iter()
            .map(|&age| fade(age, half_life))
            .collect();
        let profile = Profile {
            vectors: user.item_vectors,
            lexical: &item_terms,
            terms: &item_terms,
            recency_rank: &recency,
            item_weights: &item_weights,
        };
        let candidates = Candidates {
            vectors: &self.vectors,
            lexical: &self.terms,
            postings: &self.postings,
            term_postings: &self.postings,
        };
        let mut eligible_mask = vec![true; count];
        for &c in user.excluded {
            if let Some(slot) = eligible_mask.get_mut(c) {
                *slot = false;
            }
        }
        let mut relevance = hybrid_scores(
            similarities,
            &profile,
            &candidates,
            params.hybrid,
            Some(&eligible_mask),
        );
        if user.negative_vectors.rows() > 0 {
            // Each dislike pushes down what is unusually close to it, by its own standardised
            // similarity, faded with its age; the strongest push counts.
            let against = user.negative_vectors.dot_all(&self.vectors, false);
            let mut penalty = vec![0.0f32; count];
            for (n, row) in against.chunks_exact(count).enumerate() {
                let weight = fade(
                    user.negative_ages_days.get(n).copied().unwrap_or(0.0),
                    half_life,
                );
                for (p, z) in penalty
                    .iter_mut()
                    .zip(standardise_over(row, Some(&eligible_mask)))
                {
                    *p = p.max(weight * z);
                }
            }
            for (r, p) in relevance.iter_mut().zip(penalty) {
                *r -= params.dislike_weight * p;
            }
        }
        for &(c, rules) in user.boosted {
            if let Some(r) = relevance.get_mut(c) {
                *r += params.rule_boost * rules as f32;
            }
        }
        let closest_item = |c: usize| -> (usize, f32) {
            (0..items).map(|i| (i, similarities[i * count + c])).fold(
                (0, f32::NEG_INFINITY),
                |best, next| {
                    if next.1 > best.1 { next } else { best }
                },
            )
        };
        let floor = match (params.min_similarity, user.min_similarity) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let eligible: Vec<usize> = (0..count)
            .filter(|&c| eligible_mask[c] && floor.is_none_or(|floor| closest_item(c).1 >= floor))
            .collect();
        // MMR re-orders the head of the ranking; the tail cannot reach a short digest.
        let pool_size = (params.size * 10).max(100);
        let mut pool = eligible;
        if pool.len() > pool_size {
            pool.select_nth_unstable_by(pool_size, |a, b| relevance[*b].total_cmp(&relevance[*a]));
            pool.truncate(pool_size);
        }
        self.mmr(&pool, &relevance, params)
            .into_iter()
            .map(|c| {
                let (item, similarity) = closest_item(c);
                Pick {
                    candidate: c,
                    score: relevance[c],
                    closest_item: item,
                    similarity,
                    shared_terms: shared_terms(&self.terms[c], &item_terms[item], &self.tfidf, 3),
                }
            })
            .collect()
    }

    /// Greedy maximal marginal relevance over `pool`, relevance scaled to [0, 1].
    fn mmr(&self, pool: &[usize], relevance: &[f32], params: &DigestParams) -> Vec<usize> {
        let (low, high) = pool
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &c| {
                (lo.min(relevance[c]), hi.max(relevance[c]))
            });
        let span = (high - low).max(f32::MIN_POSITIVE);
        let mut chosen: Vec<usize> = Vec::new();
        // Without the day's pairwise matrix, the pool's vectors side by side.
        let gathered = self.pairwise.is_none().then(|| self.vectors.select(pool));
        let mut redundancy: Vec<f32> = vec![f32::NEG_INFINITY; pool.len()];
        let mut left: Vec<usize> = (0..pool.len()).collect();
        while chosen.len() < params.size && !left.is_empty() {
            let value = |slot: usize| {
                let penalty = if chosen.is_empty() {
                    0.0
                } else {
                    redundancy[slot]
                };
                params.mmr_lambda * (relevance[pool[slot]] - low) / span
                    - (1.0 - params.mmr_lambda) * penalty
            };
            let (at, &best) = left
                .iter()
                .enumerate()
                .max_by(|a, b| {
                    value(*a.1)
                        .total_cmp(&value(*b.1))
                        .then(pool[*b.1].cmp(&pool[*a.1]))
                })
                .expect("left is not empty");
            left.swap_remove(at);
            chosen.push(pool[best]);
            if let Some(pairwise) = &self.pairwise {
                let count = self.len();
                for &slot in &left {
                    redundancy[slot] =
                        redundancy[slot].max(pairwise[pool[slot] * count + pool[best]]);
                }
            } else if let Some(vectors) = &gathered {
                // The pick against the whole pool in one product.
                let pick = Matrix::from_data(vectors.dim(), vectors.row(best).to_vec());
                let similarities = vectors.dot_all(&pick, false);
                for &slot in &left {
                    redundancy[slot] = redundancy[slot].max(similarities[slot]);
                }
            }
        }
        chosen
    }
}

/// Chooses up to `params.size` candidates for one user, best first (a [`Day`] of one use).
pub fn select(input: &DigestInput<'_>, params: &DigestParams) -> Vec<Pick> {
    let day = Day::new(input.candidate_vectors.clone(), input.candidate_texts);
    let user = UserProfile::new(
        input.item_vectors,
        input.item_texts,
        input.negative_vectors,
        &[],
    );
    day.select(&user, params)
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
    #[test]
    fn rules_lift_papers_and_a_users_own_floor_applies() {
        let (candidates, texts) = input_rows();
        let day = Day::new(candidates, &texts);
        let items = matrix(&[unit(1.0, 0.2, 0.0)]);
        let item_texts = vec!["graph neural networks".to_owned()];
        let negatives = Matrix::new(3);
        let params = DigestParams {
            size: 4,
            mmr_lambda: 1.0,
            ..DigestParams::default()
        };
        let plain = UserProfile::new(&items, &item_texts, &negatives, &[]);
        let order = |picks: Vec<Pick>| picks.iter().map(|p| p.candidate).collect::<Vec<_>>();
        let before = order(day.select(&plain, &params));
        let mut head = before[..2].to_vec();
        head.sort_unstable();
        assert_eq!(head, [0, 1]);
        // Two rules fire for the unrelated paper: it rises above the protein paper.
        let boosted = [(3, 2)];
        let lifted = UserProfile {
            boosted: &boosted,
            ..plain
        };
        let after = order(day.select(&lifted, &params));
        let rank = |list: &[usize], c: usize| list.iter().position(|&x| x == c);
        assert!(rank(&after, 3) < rank(&before, 3), "{before:?} {after:?}");
        // The user's floor keeps only what is close to the profile.
        let picky = UserProfile {
            min_similarity: Some(0.9),
            ..plain
        };
        let mut kept = order(day.select(&picky, &params));
        kept.sort_unstable();
        assert_eq!(kept, vec![0, 1]);
    }

    #[test]
    fn old_feedback_fades_and_a_zero_half_life_keeps_it() {
        assert_eq!(fade(0.0, 180.0), 1.0);
        assert!((fade(180.0, 180.0) - 0.5).abs() < 1e-6);
        assert_eq!(fade(1000.0, 0.0), 1.0);
        // Two interests: topic A (added), topic B (a like). Candidates: one of each.
        let candidates = matrix(&[
            unit(1.0, 0.1, 0.0),
            unit(0.1, 1.0, 0.0),
            unit(0.0, 0.0, 1.0),
        ]);
        let texts = ["alpha", "beta", "gamma"].map(str::to_owned).to_vec();
        let day = Day::new(candidates, &texts);
        let items = matrix(&[unit(1.0, 0.0, 0.0), unit(0.0, 1.0, 0.0)]);
        let item_texts = ["alpha", "beta"].map(str::to_owned).to_vec();
        let negatives = Matrix::new(3);
        let params = DigestParams {
            size: 3,
            mmr_lambda: 1.0,
            ..DigestParams::default()
        };
        let score_of = |ages: &[f32], c: usize, params: &DigestParams| {
            let user = UserProfile {
                item_ages_days: ages,
                ..UserProfile::new(&items, &item_texts, &negatives, &[])
            };
            day.select(&user, params)
                .into_iter()
                .find(|p| p.candidate == c)
                .map(|p| p.score)
                .expect("chosen")
        };
        let fresh = score_of(&[0.0, 0.0], 1, &params);
        let faded = score_of(&[0.0, 3650.0], 1, &params);
        assert!(faded < fresh, "{faded} {fresh}");
        let forever = DigestParams {
            feedback_half_life_days: 0.0,
            ..params
        };
        assert!((score_of(&[0.0, 3650.0], 1, &forever) - fresh).abs() < 1e-6);
    }
}
