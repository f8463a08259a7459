//! The fast method of a batch re-rank: each user's centroid (the normalised mean of the
//! profile items) against the candidates, one matrix product per chunk of users.

use crate::candidates::CandidateSet;
use crate::dense::Matrix;
use crate::explain::Pick;
use crate::profile::{ProfileRows, SharedProfile};

impl CandidateSet {
    /// The `top` candidates closest to each user's centroid (the normalised mean of the
    /// profile items), best first, each explained by its closest item. No lexical evidence,
    /// no dislikes, no diversification; one matrix product per chunk of users, on every core.
    /// The items' texts are not read.
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
}
