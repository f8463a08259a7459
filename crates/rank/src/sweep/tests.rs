//! The sweep against the all-at-once computation it replaced.

use super::*;
use crate::dense::Matrix;
use crate::dense::normalise;
use crate::methods::{Candidates, Profile, hybrid_scores, standardise_over};
use crate::profile::UserProfile;

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
        let words = (0..12)
            .map(|_| WORDS[self.below(WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ");
        // A name shared by one or two texts in 600, so that rare character n-grams count.
        format!("{words} Zq{}", self.below(400))
    }
}

const DIM: usize = 16;

/// Where a run of the engine hands its picks.
type Sink<'a> = dyn FnMut(usize, Vec<Pick>) + 'a;

/// The digest of one user as it was computed before the sweep: every score of the
/// whole day at once, the head by a full sort, MMR comparing every candidate with every
/// pick. The oracle the engine must agree with.
fn reference(
    day: &CandidateSet,
    user: &UserProfile<'_>,
    params: &DigestParams,
) -> Vec<(usize, f32)> {
    let count = day.len();
    let items = user.item_vectors.rows();
    let similarities = user.item_vectors.dot_all(&day.vectors, false);
    let item_terms: Vec<SparseVec> = user
        .item_texts
        .iter()
        .map(|t| day.vocabulary.item(t))
        .collect();
    let postings = Postings::new(&day.terms, day.vocabulary.len());
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
        bm25_postings: &postings,
        lexical_hubness: &day.hubness,
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
fn day_and_users() -> (CandidateSet, Vec<Owned>) {
    let mut numbers = Numbers(0x5EED_CAFE);
    let count = 600;
    let mut vectors = Matrix::new(DIM);
    let mut texts = Vec::new();
    for _ in 0..count {
        vectors.push(&numbers.unit(DIM));
        texts.push(numbers.text());
    }
    let day = CandidateSet::new(vectors, &texts);
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
    // Every way the engine can go: one block of all candidates for everyone; blocks of 64
    // candidates, moments summed across them; a few users at a time, their rows alone.
    let whole = day.rank(&rows, &shared, &params, usize::MAX / 8);
    let collect = |run: &dyn Fn(&mut Sink<'_>)| {
        let mut picks = vec![Vec::new(); shared.len()];
        run(&mut |user, chosen| picks[user] = chosen);
        picks
    };
    let blocked = collect(&|sink| day.sweep_all(&rows, &shared, &params, 1, &mut |_, _| {}, sink));
    let chunked = collect(&|sink| {
        day.rank_in_chunks(&rows, &shared, &params, 4 * 600 * 20, &mut |_, _| {}, sink);
    });
    for (u, view) in views.iter().enumerate() {
        let want = reference(&day, view, &params);
        for (way, got) in [
            ("one block", &whole),
            ("blocks of 64", &blocked),
            ("chunks", &chunked),
        ] {
            assert_same(&got[u], &want, &format!("user {u}, {way}"));
            for (pick, (_, score)) in got[u].iter().zip(&want) {
                assert!(
                    (pick.score - score).abs() < 1e-5,
                    "user {u}, {way}: {} vs {score}",
                    pick.score
                );
            }
        }
        for a in &whole[u] {
            assert!(!view.excluded.contains(&a.candidate));
            let similarity = (0..view.item_vectors.rows())
                .map(|i| crate::dense::dot(view.item_vectors.row(i), day.vectors.row(a.candidate)))
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
