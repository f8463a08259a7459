//! Conveniences over the engine for tests and benchmarks: a digest chosen from vectors and
//! texts the caller holds, for one user or many ([`CandidateSet::rank`] does the work).
//!
//! A digest: the candidates scored by the hybrid method against a user's profile, pushed down
//! by what the user disliked, diversified by maximal marginal relevance, and each pick
//! explained by the profile item it is closest to and the terms they share.

use crate::candidates::CandidateSet;
use crate::dense::Matrix;
use crate::explain::Pick;
use crate::params::DigestParams;
use crate::profile::{ProfileRows, UserProfile};
use crate::sweep::DEFAULT_BLOCK_BYTES;

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

impl CandidateSet {
    /// Chooses one digest per user, on every core: the same choice as [`CandidateSet::select`] for
    /// each. Each distinct profile item is compared with the candidates once, however many
    /// users hold it ([`CandidateSet::rank`]).
    pub fn select_many(&self, users: &[UserProfile<'_>], params: &DigestParams) -> Vec<Vec<Pick>> {
        let (rows, shared) = ProfileRows::intern(self.vectors.dim(), users);
        self.rank(&rows, &shared, params, DEFAULT_BLOCK_BYTES)
    }

    /// Chooses up to `params.size` candidates for a user, best first: ranked by the hybrid
    /// score, pushed down by dislikes, lifted by rules, cut by floors, diversified by MMR,
    /// explained ([`CandidateSet::rank`] with one user).
    pub fn select(&self, user: &UserProfile<'_>, params: &DigestParams) -> Vec<Pick> {
        self.select_many(std::slice::from_ref(user), params)
            .pop()
            .unwrap_or_default()
    }
}

/// Chooses up to `params.size` candidates for one user, best first (a [`CandidateSet`] of one use).
pub fn select(input: &DigestInput<'_>, params: &DigestParams) -> Vec<Pick> {
    let day = CandidateSet::new(input.candidate_vectors.clone(), input.candidate_texts);
    let user = UserProfile::new(
        input.item_vectors,
        input.item_texts,
        input.negative_vectors,
        &[],
    );
    day.select(&user, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::fade;

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
        let day = CandidateSet::new(candidates, &texts);
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
        let day = CandidateSet::new(candidates, &texts);
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
