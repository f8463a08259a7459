//! Ranking quality: nDCG@10, recall@10 and @100, reciprocal rank, average precision@100, and
//! bootstrap confidence intervals over queries.

use std::collections::HashMap;

use serde::Serialize;

/// One query's scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QueryMetrics {
    /// Normalised discounted cumulative gain of the top 10, gains 2^rel − 1.
    pub ndcg_10: f64,
    /// Share of the relevant papers in the top 10.
    pub recall_10: f64,
    /// Share of the relevant papers in the top 100.
    pub recall_100: f64,
    /// 1 / rank of the first relevant paper in the ranking (0 if none).
    pub reciprocal_rank: f64,
    /// Average precision over the top 100, divided by min(relevant, 100).
    pub average_precision_100: f64,
}

/// Scores a ranking (best first) against graded relevance (missing = 0).
pub fn evaluate(ranking: &[usize], relevance: &HashMap<usize, f64>) -> QueryMetrics {
    let relevant = relevance.values().filter(|&&r| r > 0.0).count();
    if relevant == 0 {
        return QueryMetrics::default();
    }
    let gain = |r: f64| 2f64.powf(r) - 1.0;
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let grade = |doc: &usize| relevance.get(doc).copied().unwrap_or(0.0);

    let dcg: f64 = ranking
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| gain(grade(d)) * discount(i))
        .sum();
    let mut ideal: Vec<f64> = relevance.values().copied().filter(|&r| r > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, &r)| gain(r) * discount(i))
        .sum();

    let hits = |k: usize| ranking.iter().take(k).filter(|d| grade(d) > 0.0).count() as f64;
    let first = ranking.iter().position(|d| grade(d) > 0.0);
    let mut found = 0.0;
    let mut precision_sum = 0.0;
    for (i, doc) in ranking.iter().take(100).enumerate() {
        if grade(doc) > 0.0 {
            found += 1.0;
            precision_sum += found / (i + 1) as f64;
        }
    }
    QueryMetrics {
        ndcg_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        recall_10: hits(10) / relevant as f64,
        recall_100: hits(100) / relevant as f64,
        reciprocal_rank: first.map_or(0.0, |i| 1.0 / (i + 1) as f64),
        average_precision_100: precision_sum / relevant.min(100) as f64,
    }
}

/// The indices of the `k` largest scores, best first; ties go to the lower index.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(order.len());
    let by_score = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if k < order.len() {
        order.select_nth_unstable_by(k, by_score);
        order.truncate(k);
    }
    order.sort_by(by_score);
    order
}

/// A mean with its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The mean over queries.
    pub mean: f64,
    /// 2.5th percentile of the bootstrap means.
    pub low: f64,
    /// 97.5th percentile of the bootstrap means.
    pub high: f64,
}

/// Every metric's mean and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// nDCG@10.
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: Estimate,
    /// Recall@10.
    #[serde(rename = "recall@10")]
    pub recall_10: Estimate,
    /// Recall@100.
    #[serde(rename = "recall@100")]
    pub recall_100: Estimate,
    /// Mean reciprocal rank.
    pub mrr: Estimate,
    /// Mean average precision@100.
    #[serde(rename = "map@100")]
    pub map_100: Estimate,
}

/// Means over queries with 95% intervals from `resamples` bootstrap resamples (fixed seed).
pub fn summarise(per_query: &[QueryMetrics], resamples: usize, seed: u64) -> Summary {
    let n = per_query.len();
    let mut state = seed;
    let mut draws: Vec<Vec<usize>> = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        draws.push(
            (0..n)
                .map(|_| (split_mix(&mut state) % n.max(1) as u64) as usize)
                .collect(),
        );
    }
    let estimate = |field: fn(&QueryMetrics) -> f64| -> Estimate {
        // Summed from +0.0: an empty sum of `f64`s is -0.0, which prints as "-0.0000".
        let average = |values: &mut dyn Iterator<Item = f64>| {
            values.fold(0.0, |total, value| total + value) / n.max(1) as f64
        };
        let mean = average(&mut per_query.iter().map(field));
        let mut means: Vec<f64> = draws
            .iter()
            .map(|draw| average(&mut draw.iter().map(|&i| field(&per_query[i]))))
            .collect();
        means.sort_by(f64::total_cmp);
        let at = |q: f64| {
            means
                .get(((means.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(mean)
        };
        Estimate {
            mean,
            low: at(0.025),
            high: at(0.975),
        }
    };
    Summary {
        ndcg_10: estimate(|m| m.ndcg_10),
        recall_10: estimate(|m| m.recall_10),
        recall_100: estimate(|m| m.recall_100),
        mrr: estimate(|m| m.reciprocal_rank),
        map_100: estimate(|m| m.average_precision_100),
    }
}

/// How much better `a` did than `b` on the same queries (`a[i]` and `b[i]` are one query's
/// metrics under two methods): each metric's mean per-query difference, with a 95% interval
/// from resampling the queries, each resample taking the same queries for both (a paired
/// bootstrap). Differences are what tell a real gain from the noise of a few hundred queries:
/// two methods' own intervals can overlap while one is better on nearly every query.
///
/// # Panics
/// If `a` and `b` hold different numbers of queries.
pub fn paired_difference(
    a: &[QueryMetrics],
    b: &[QueryMetrics],
    resamples: usize,
    seed: u64,
) -> Summary {
    assert_eq!(
        a.len(),
        b.len(),
        "a paired difference needs the same queries"
    );
    let differences: Vec<QueryMetrics> = a
        .iter()
        .zip(b)
        .map(|(a, b)| QueryMetrics {
            ndcg_10: a.ndcg_10 - b.ndcg_10,
            recall_10: a.recall_10 - b.recall_10,
            recall_100: a.recall_100 - b.recall_100,
            reciprocal_rank: a.reciprocal_rank - b.reciprocal_rank,
            average_precision_100: a.average_precision_100 - b.average_precision_100,
        })
        .collect();
    summarise(&differences, resamples, seed)
}

/// SplitMix64: a tiny, well-mixed generator; good enough to draw bootstrap samples.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_a_known_ranking() {
        // Relevant: 3 (grade 1) and 7 (grade 1); ranked 2nd and 4th.
        let relevance = HashMap::from([(3, 1.0), (7, 1.0)]);
        let m = evaluate(&[1, 3, 5, 7, 9], &relevance);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg_10 - dcg / idcg).abs() < 1e-12);
        assert_eq!((m.recall_10, m.reciprocal_rank), (1.0, 0.5));
        assert!((m.average_precision_100 - (0.5 + 0.5) / 2.0).abs() < 1e-12);
        let perfect = evaluate(&[3, 7], &relevance);
        assert!((perfect.ndcg_10 - 1.0).abs() < 1e-12);
        assert_eq!(evaluate(&[1, 2], &relevance).recall_100, 0.0);
    }

    #[test]
    fn top_k_is_best_first_with_stable_ties() {
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9, 0.0], 3), [1, 3, 2]);
        assert_eq!(top_k(&[0.3, 0.2], 5), [0, 1]);
    }

    #[test]
    fn a_paired_difference_sees_a_small_steady_gain_that_overlapping_intervals_hide() {
        // Queries of very different difficulty; `a` is better than `b` by 0.02 on every one.
        let b: Vec<QueryMetrics> = (0..200)
            .map(|i| QueryMetrics {
                ndcg_10: f64::from(i % 10) / 10.0,
                ..QueryMetrics::default()
            })
            .collect();
        let a: Vec<QueryMetrics> = b
            .iter()
            .map(|m| QueryMetrics {
                ndcg_10: m.ndcg_10 + 0.02,
                ..*m
            })
            .collect();
        let (own_a, own_b) = (summarise(&a, 500, 7).ndcg_10, summarise(&b, 500, 7).ndcg_10);
        assert!(own_a.low < own_b.high, "the methods' own intervals overlap");
        let difference = paired_difference(&a, &b, 500, 7).ndcg_10;
        assert!((difference.mean - 0.02).abs() < 1e-12);
        assert!(difference.low > 0.0 && (difference.high - difference.low) < 1e-9);
        let reverse = paired_difference(&b, &a, 500, 7).ndcg_10;
        assert!((reverse.mean + 0.02).abs() < 1e-12);
    }

    #[test]
    fn no_query_summarises_to_zeros_that_print_without_a_sign() {
        let empty = summarise(&[], 10, 7).ndcg_10;
        for value in [empty.mean, empty.low, empty.high] {
            assert_eq!(format!("{value:.4}"), "0.0000");
        }
    }

    #[test]
    fn intervals_contain_the_mean_and_shrink_with_more_queries() {
        let queries: Vec<QueryMetrics> = (0..400)
            .map(|i| QueryMetrics {
                ndcg_10: f64::from(i % 2),
                ..QueryMetrics::default()
            })
            .collect();
        let wide = summarise(&queries[..40], 500, 7).ndcg_10;
        let narrow = summarise(&queries, 500, 7).ndcg_10;
        assert!(wide.low <= wide.mean && wide.mean <= wide.high);
        assert!((narrow.mean - 0.5).abs() < 1e-12);
        assert!(narrow.high - narrow.low < wide.high - wide.low);
    }
}
