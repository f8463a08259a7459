//! Choosing a digest: the day's candidates scored by the hybrid method against a user's
//! profile, pushed down by what the user disliked, diversified by maximal marginal relevance,
//! and each pick explained by the profile item it is closest to and the terms they share.

use serde::Serialize;

use crate::dense::Matrix;
use crate::lexical::{Postings, SparseVec, Tfidf, TfidfParams};
use crate::methods::HybridParams;
use crate::sweep::{DEFAULT_BLOCK_BYTES, ProfileRows, SharedProfile};

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

/// A day's candidates, prepared once for every user: the vocabulary of the day, the
/// candidates' term vectors and their inverted index.
pub struct Day {
    pub(crate) vectors: Matrix,
    pub(crate) tfidf: Tfidf,
    pub(crate) terms: Vec<SparseVec>,
    pub(crate) postings: Postings,
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
        Self {
            vectors,
            tfidf,
            terms,
            postings,
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
    /// each. Each distinct profile item is compared with the candidates once, however many
    /// users hold it ([`Day::rank`]).
    pub fn select_many(&self, users: &[UserProfile<'_>], params: &DigestParams) -> Vec<Vec<Pick>> {
        let (rows, shared) = ProfileRows::intern(self.vectors.dim(), users);
        self.rank(&rows, &shared, params, DEFAULT_BLOCK_BYTES)
    }

    /// The `top` candidates closest to each user's centroid (the normalised mean of the
    /// profile items), best first, each explained by its closest item: the fast method of a
    /// batch re-rank. No lexical evidence, no dislikes, no diversification; one matrix product
    /// per chunk of users, on every core. The items' texts are not read.
    pub fn centroid_many(&self, users: &[UserProfile<'_>], top: usize) -> Vec<Vec<Pick>> {
        let (rows, shared) = ProfileRows::intern(self.vectors.dim(), users);
        self.centroid_shared(&rows, &shared, top)
    }

    /// [`Day::centroid_many`] for users whose rows are shared.
    pub fn centroid_shared(
        &self,
        rows: &ProfileRows,
        users: &[SharedProfile<'_>],
        top: usize,
    ) -> Vec<Vec<Pick>> {
        use rayon::prelude::*;
        let count = self.len();
        let mut picks = Vec::with_capacity(users.len());
        let users_per_chunk = ((16 << 20) / count.max(1)).max(1);
        for chunk in users.chunks(users_per_chunk) {
            let mut centroids = Matrix::new(self.vectors.dim());
            for user in chunk {
                let mut mean = vec![0.0f32; self.vectors.dim()];
                for item in &user.items {
                    for (m, x) in mean.iter_mut().zip(rows.vectors.row(item.vector as usize)) {
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
                    self.explain(rows, user, &order, row)
                },
            ));
        }
        picks
    }

    /// Picks for chosen candidates, each with its closest profile item and their cosine;
    /// no shared terms (tokenising the items took most of the method's time).
    fn explain(
        &self,
        rows: &ProfileRows,
        user: &SharedProfile<'_>,
        chosen: &[usize],
        scores: &[f32],
    ) -> Vec<Pick> {
        if user.items.is_empty() {
            return Vec::new();
        }
        let mut item_vectors = Matrix::new(self.vectors.dim());
        for item in &user.items {
            item_vectors.push(rows.vectors.row(item.vector as usize));
        }
        let chosen_vectors = self.vectors.select(chosen);
        let similarities = item_vectors.dot_all(&chosen_vectors, false);
        let n = chosen.len();
        chosen
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                let (item, similarity) = (0..user.items.len())
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

    /// Chooses up to `params.size` candidates for a user, best first: ranked by the hybrid
    /// score, pushed down by dislikes, lifted by rules, cut by floors, diversified by MMR,
    /// explained ([`Day::rank`] with one user).
    pub fn select(&self, user: &UserProfile<'_>, params: &DigestParams) -> Vec<Pick> {
        self.select_many(std::slice::from_ref(user), params)
            .pop()
            .unwrap_or_default()
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
pub(crate) fn shared_terms(
    a: &SparseVec,
    b: &SparseVec,
    tfidf: &Tfidf,
    count: usize,
) -> Vec<String> {
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
    // Strongest first, ties in feature order; only the first `count` are ordered.
    let order = |x: &(u32, f32), y: &(u32, f32)| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0));
    if shared.len() > count {
        shared.select_nth_unstable_by(count, order);
        shared.truncate(count);
    }
    shared.sort_unstable_by(order);
    shared
        .into_iter()
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
