//! What a ranking hands back for each chosen candidate: the [`Pick`], with the profile item it
//! came from, their cosine and the terms they share.

use serde::Serialize;

use crate::lexical::SparseVec;
use crate::terms::HybridTerms;

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

/// The words and word pairs two vectors share, by the product of their weights (character
/// n-grams have no readable name and are left out).
pub(crate) fn shared_terms(
    a: &SparseVec,
    b: &SparseVec,
    vocabulary: &HybridTerms,
    count: usize,
) -> Vec<String> {
    let mut shared: Vec<(u32, f32)> = Vec::new();
    let words = vocabulary.word_count() as u32;
    let (mut i, mut j) = (0, 0);
    while i < a.indices.len() && j < b.indices.len() && a.indices[i] < words {
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
        .filter_map(|(feature, _)| vocabulary.feature_name(feature).map(str::to_owned))
        .collect()
}
