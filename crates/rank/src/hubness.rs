//! Hubness: how close a candidate stands to the other candidates on the lexical side.
//!
//! A paper written in the field's common stock of words (a survey, a broad benchmark, an
//! abstract of generic phrases) shares terms with almost every profile, so its pooled lexical
//! score is high for everyone and it crowds the top of many rankings: a hub. Its hubness is the
//! mean of its [`NEIGHBOURS`] highest lexical cosines with the other candidates; the hybrid
//! subtracts a share of it from the candidate's pooled lexical score, leaving what a profile
//! shares with the paper beyond what everyone does (cross-domain similarity local scaling, done
//! on terms). On the shared author split this raised nDCG@10 by 3.4 % for profiles and 1.8 %
//! for single papers on the half its weight was chosen on, 2.8 % and 1.0 % on the other
//! (benches/README, issue 24).
//!
//! It is a property of the candidates alone, computed once per candidate set: the day's papers
//! of a digest measure each other. A larger set (months of papers for a re-rank or an
//! evaluation) is cut into runs of at most [`BLOCK`] consecutive candidates, each measured
//! within itself, so the cost grows with the number of candidates, not its square; on the
//! shared author split, runs of 1,898 ranked within 0.001 of nDCG@10 of all 13,285 at once.

use rayon::prelude::*;

use crate::lexical::{Postings, SparseVec};

/// How many of a candidate's closest candidates its hubness averages.
pub const NEIGHBOURS: usize = 10;

/// The most candidates measured against each other: a day and a half of arXiv's papers.
pub const BLOCK: usize = 2_000;

/// Each candidate's hubness: the mean of its [`NEIGHBOURS`] highest scores against the other
/// candidates of its block (fewer where there are fewer others; 0 when alone). `queries[i]` is
/// candidate `i` as a profile item would be (its unit tf-idf vector), `postings` indexes the
/// candidates as they are scored (the hybrid's unit BM25 vectors), in the same order. The
/// candidates are cut into the fewest blocks of at most [`BLOCK`], of equal sizes (give or
/// take one), so no candidate is measured against a handful of leftovers.
pub fn lexical_hubness(queries: &[SparseVec], postings: &Postings) -> Vec<f32> {
    let count = queries.len();
    let blocks = count.div_ceil(BLOCK).max(1);
    let width = count.div_ceil(blocks).max(1);
    queries
        .par_iter()
        .enumerate()
        .map_init(
            || vec![0.0f32; width],
            |scores, (own, query)| {
                let start = own / width * width;
                let end = (start + width).min(count);
                let others = (end - start - 1).min(NEIGHBOURS);
                if others == 0 {
                    return 0.0;
                }
                let scores = &mut scores[..end - start];
                scores.fill(0.0);
                postings.add_scores_in(query, start, end, scores);
                scores[own - start] = f32::NEG_INFINITY;
                mean_of_largest(scores, others)
            },
        )
        .collect()
}

/// The mean of the `k` largest values (`0 < k <= values.len()`), in one pass.
fn mean_of_largest(values: &[f32], k: usize) -> f32 {
    // The k best so far, in increasing order: a value past the smallest of them takes its
    // place. k is small, so shifting beats a heap.
    let mut best = vec![f32::NEG_INFINITY; k];
    for &v in values {
        if v > best[0] {
            let at = best.partition_point(|&b| b < v);
            best.copy_within(1..at, 0);
            best[at - 1] = v;
        }
    }
    best.iter().sum::<f32>() / k as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::CandidateSet;
    use crate::dense::Matrix;
    use crate::lexical::{Bm25, Tfidf, TfidfParams};
    use crate::methods::{Candidates, HybridParams, Method, Profile, score};

    #[test]
    fn the_mean_of_the_largest_matches_a_sort() {
        let values: Vec<f32> = (0..200).map(|i| ((i * 7919) % 211) as f32 / 10.0).collect();
        for k in [1, 3, 10, 200] {
            let mut sorted = values.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let expected = sorted[..k].iter().sum::<f32>() / k as f32;
            assert!(
                (mean_of_largest(&values, k) - expected).abs() < 1e-5,
                "k {k}"
            );
        }
    }

    #[test]
    fn a_paper_of_common_words_is_a_hub_and_a_specific_one_is_not() {
        let texts: Vec<String> = [
            "a survey of deep learning models for vision language and graphs",
            "deep learning models for vision",
            "deep learning models for language",
            "learning models for graphs",
            "vision language models",
            "deep graphs",
            "cryogenic superconducting qubit readout resonators",
        ]
        .map(String::from)
        .to_vec();
        let tfidf = Tfidf::fit(
            &texts,
            TfidfParams {
                min_df: 1,
                max_df: 1.0,
                ..TfidfParams::wide()
            },
        );
        let queries = tfidf.transform_all(&texts);
        let terms = tfidf.bm25_all(&texts, Bm25::hybrid(), true);
        let hubness = lexical_hubness(&queries, &Postings::new(&terms, tfidf.len()));
        assert_eq!(hubness.len(), texts.len());
        let survey = hubness[0];
        for (i, &h) in hubness.iter().enumerate().skip(1) {
            assert!(survey > h, "the survey {survey} against paper {i}'s {h}");
        }
        assert_eq!(
            hubness[6], 0.0,
            "the qubit paper shares no word with the others"
        );
    }

    #[test]
    fn the_hybrid_discounts_a_hub_against_a_specific_match() {
        let texts: Vec<String> = [
            "a survey of deep learning models for vision language graphs and benchmarks",
            "deep learning models for vision benchmarks",
            "deep learning models for language benchmarks",
            "learning models for graphs and benchmarks",
            "vision language models and deep learning",
            "retinal fundus images graded by ophthalmologists",
        ]
        .map(String::from)
        .to_vec();
        let day = CandidateSet::new(Matrix::from_data(1, vec![1.0; texts.len()]), &texts);
        let item = [day
            .vocabulary
            .item("deep learning models for retinal fundus images")];
        let vectors = Matrix::from_data(1, vec![1.0]);
        let profile = Profile {
            vectors: &vectors,
            lexical: &item,
            terms: &item,
            recency_rank: &[0],
            item_weights: &[],
        };
        let candidates = Candidates {
            vectors: &day.vectors,
            lexical: &day.terms,
            postings: &day.postings,
            term_postings: &day.postings,
            bm25_postings: &day.postings,
            lexical_hubness: &day.hubness,
        };
        let gap = |weight: f32| {
            let hybrid = HybridParams {
                lexical_hubness: weight,
                ..HybridParams::default()
            };
            let scores = score(Method::Hybrid, &profile, &candidates, None, hybrid);
            scores[5] - scores[0]
        };
        assert!(day.hubness[0] > day.hubness[5]);
        assert!(
            gap(0.25) > gap(0.0),
            "the specific paper's lead over the survey: {} with the discount, {} without",
            gap(0.25),
            gap(0.0)
        );
    }

    #[test]
    fn a_large_set_is_measured_in_blocks() {
        // Every candidate holds term 0, except the first and the last, which share term 1: in
        // one set the first would have the last among its neighbours, but three blocks part them.
        let count = BLOCK * 2 + 7;
        let vectors: Vec<SparseVec> = (0..count)
            .map(|i| SparseVec {
                indices: vec![u32::from(i == 0 || i == count - 1)],
                values: vec![1.0],
            })
            .collect();
        let hubness = lexical_hubness(&vectors, &Postings::new(&vectors, 2));
        assert_eq!(hubness.len(), count);
        assert_eq!((hubness[0], hubness[count - 1]), (0.0, 0.0));
        assert!(hubness[1..count - 1].iter().all(|&h| h == 1.0));
    }

    #[test]
    fn one_candidate_or_none_has_no_hubness() {
        assert!(lexical_hubness(&[], &Postings::default()).is_empty());
        let one = [SparseVec {
            indices: vec![0],
            values: vec![1.0],
        }];
        let postings = Postings::new(&one, 1);
        assert_eq!(lexical_hubness(&one, &postings), vec![0.0]);
    }
}
