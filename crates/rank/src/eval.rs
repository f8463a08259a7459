//! The evaluation of `shared/EVAL.md`, over a corpus held in memory.
//!
//! Each query's profile papers are ranked against the candidates (papers dated on or after a
//! day, or all papers) with a [`Method`]; the query's own profile papers are never candidates.
//! Queries without a relevant candidate are left out, as the format says. Profile papers count
//! only through their text and embedding: no author, category or id is read here.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rayon::prelude::*;

use crate::dense::Matrix;
use crate::facets::{FacetParams, allot, cluster, good_depth};
use crate::hubness::lexical_hubness;
use crate::lexical::{Bm25, Postings, SparseVec, Tfidf, TfidfParams};
use crate::methods::{Background, Candidates, HybridParams, Method, Profile, hybrid_scores, score};
use crate::metrics::{QueryMetrics, evaluate, top_k};
use crate::terms::HybridTerms;

/// The papers of an evaluation, row i of every field being paper i.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Title and abstract, the only text a method may read.
    pub texts: Vec<String>,
    /// Announcement days (`YYYY-MM-DD`), where known.
    pub dates: Vec<Option<String>>,
    /// Unit embeddings, when a method needs them.
    pub vectors: Option<Matrix>,
}

/// One query: its profile papers and the graded relevance of papers, by corpus row.
#[derive(Debug, Clone)]
pub struct Query {
    /// The query's name.
    pub id: String,
    /// Profile papers.
    pub profile: Vec<usize>,
    /// Relevance grades (≥ 1 is relevant).
    pub relevance: HashMap<usize, f64>,
}

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Candidates are papers dated on or after this day; `None`: every paper.
    pub candidates_since: Option<String>,
    /// How deep each ranking goes.
    pub k_max: usize,
    /// Keep only each profile's newest paper: a `similar <paper>` query.
    pub single_paper: bool,
    /// The hybrid's knobs.
    pub hybrid: HybridParams,
    /// How much the hybrid's rare character n-grams count ([`crate::terms`]); 0 leaves
    /// them out.
    pub char_grams: f32,
}

/// What one method scored.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The method.
    pub method: Method,
    /// Per evaluated query.
    pub per_query: Vec<QueryMetrics>,
    /// Seconds spent ranking.
    pub seconds: f64,
}

/// Everything the methods share, prepared once per corpus.
pub struct Prepared {
    candidates: Vec<usize>,
    position: HashMap<usize, usize>,
    candidate_vectors: Option<Matrix>,
    lexical: Vec<SparseVec>,
    candidate_lexical: Vec<SparseVec>,
    postings: Postings,
    features: usize,
    terms: Vec<SparseVec>,
    term_postings: Postings,
    bm25_postings: Postings,
    lexical_hubness: Vec<f32>,
}

impl Prepared {
    /// Fits tf-idf on the whole corpus (as arxiv-sanity-lite does) and indexes the candidates.
    pub fn new(corpus: &Corpus, options: &Options) -> Self {
        let candidates: Vec<usize> = (0..corpus.texts.len())
            .filter(|&i| match (&options.candidates_since, &corpus.dates[i]) {
                (None, _) => true,
                (Some(since), Some(date)) => date.as_str() >= since.as_str(),
                (Some(_), None) => false,
            })
            .collect();
        let position: HashMap<usize, usize> = candidates
            .iter()
            .enumerate()
            .map(|(p, &row)| (row, p))
            .collect();
        let tfidf = Tfidf::fit(&corpus.texts, TfidfParams::default());
        let lexical = tfidf.transform_all(&corpus.texts);
        let candidate_lexical: Vec<SparseVec> =
            candidates.iter().map(|&row| lexical[row].clone()).collect();
        let postings = Postings::new(&candidate_lexical, tfidf.len());
        let wide = Tfidf::fit(&corpus.texts, TfidfParams::wide());
        let candidate_texts: Vec<String> = candidates
            .iter()
            .map(|&row| corpus.texts[row].clone())
            .collect();
        // Words are weighed against the whole corpus (as arxiv-sanity-lite does); n-grams are
        // rare among the candidates, as a digest finds them among the day's papers.
        let vocabulary = HybridTerms::with_grams_of(wide, &candidate_texts, options.char_grams);
        // A candidate's texts are read once, for both its item and its candidate vector.
        let (candidate_queries, candidate_terms) =
            vocabulary.items_and_candidates(&candidate_texts);
        let terms: Vec<SparseVec> = (0..corpus.texts.len())
            .into_par_iter()
            .map(|row| match position.get(&row) {
                Some(&p) => candidate_queries[p].clone(),
                None => vocabulary.item(&corpus.texts[row]),
            })
            .collect();
        let term_postings = Postings::new(&candidate_terms, vocabulary.len());
        let wide = vocabulary.words();
        let lexical_hubness = lexical_hubness(&candidate_queries, &term_postings);
        let classic = wide.bm25_all(&candidate_texts, Bm25::classic(), false);
        let bm25_postings = Postings::new(&classic, wide.len());
        Self {
            terms,
            term_postings,
            bm25_postings,
            lexical_hubness,
            candidate_vectors: corpus.vectors.as_ref().map(|v| v.select(&candidates)),
            candidates,
            position,
            lexical,
            candidate_lexical,
            postings,
            features: tfidf.len(),
        }
    }

    /// How many candidates there are.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// Whether a query has a relevant candidate (queries without one are not evaluated).
    pub fn is_answerable(&self, query: &Query) -> bool {
        query.relevance.iter().any(|(row, &grade)| {
            grade > 0.0 && self.position.contains_key(row) && !query.profile.contains(row)
        })
    }

    /// Ranks every answerable query with `method` and scores the rankings.
    pub fn run(
        &self,
        corpus: &Corpus,
        queries: &[Query],
        method: Method,
        options: &Options,
    ) -> Outcome {
        let started = Instant::now();
        let empty = Matrix::new(corpus.vectors.as_ref().map_or(1, Matrix::dim));
        let candidates = self.candidates(&empty);
        let candidate_set: HashSet<usize> = self.candidates.iter().copied().collect();
        let per_query: Vec<QueryMetrics> = queries
            .par_iter()
            .filter(|query| self.is_answerable(query))
            .map(|query| {
                let held = self.profile_of(corpus, query, options, &empty);
                let profile = held.profile();
                let own: HashSet<usize> = query.profile.iter().copied().collect();
                let background = (method == Method::TfidfSvm).then(|| Background {
                    lexical: (0..corpus.texts.len())
                        .filter(|row| !candidate_set.contains(row) && !own.contains(row))
                        .map(|row| &self.lexical[row])
                        .collect(),
                    features: self.features,
                });
                let mut scores = score(
                    method,
                    &profile,
                    &candidates,
                    background.as_ref(),
                    options.hybrid,
                );
                self.hide_own(query, &mut scores);
                let ranking: Vec<usize> = top_k(&scores, options.k_max)
                    .into_iter()
                    .map(|p| self.candidates[p])
                    .collect();
                evaluate(&ranking, &self.relevance_of(query))
            })
            .collect();
        Outcome {
            method,
            per_query,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// How a sectioned list ([`crate::facets`]) is judged against the flat ranking it is cut from.
#[derive(Debug, Clone, Copy)]
pub struct SectionOptions {
    /// The list's length (a digest's size).
    pub size: usize,
    /// How deep into the flat ranking the sections may reach.
    pub depth: usize,
    /// A facet is good when one of its papers ranks this high (see [`crate::facets::allot`]).
    pub good_depth: usize,
    /// How facets are found.
    pub facets: FacetParams,
}

impl SectionOptions {
    /// Lists of `size` cut from the first 100 papers, with the digest's facets and good depth.
    pub fn for_size(size: usize) -> Self {
        Self {
            size,
            depth: 100.max(size),
            good_depth: good_depth(size),
            facets: FacetParams::default(),
        }
    }
}

/// The flat and the sectioned lists of every answerable query (hybrid method), side by side.
#[derive(Debug, Clone, Default)]
pub struct SectionOutcome {
    /// The flat ranking's metrics.
    pub flat: Vec<QueryMetrics>,
    /// The sectioned list's metrics, its papers in the flat ranking's order.
    pub sectioned: Vec<QueryMetrics>,
    /// The sectioned list's metrics in the order a digest shows it: section by section.
    pub shown: Vec<QueryMetrics>,
    /// Each query's number of facets.
    pub facets: Vec<usize>,
    /// Distinct facets among the flat ranking's first `size` papers.
    pub flat_distinct: Vec<usize>,
    /// Distinct facets in the sectioned list.
    pub sectioned_distinct: Vec<usize>,
}

impl Prepared {
    /// Each answerable query's profile cut into facets, and the first `size` papers of its
    /// hybrid ranking beside the sectioned list of `size` cut from the same ranking. Each paper
    /// belongs to the facet of its closest profile paper; a facet's share is its number of
    /// papers (an author's papers all count alike).
    pub fn run_sections(
        &self,
        corpus: &Corpus,
        queries: &[Query],
        options: &Options,
        sections: &SectionOptions,
    ) -> SectionOutcome {
        let empty = Matrix::new(corpus.vectors.as_ref().map_or(1, Matrix::dim));
        let candidates = self.candidates(&empty);
        let candidate_vectors = candidates.vectors;
        let count = candidate_vectors.rows();
        let judged: Vec<_> = queries
            .par_iter()
            .filter(|query| self.is_answerable(query))
            .map(|query| {
                let held = self.profile_of(corpus, query, options, &empty);
                let profile = held.profile();
                let similarities = held.vectors.dot_all(candidate_vectors, false);
                let mut scores =
                    hybrid_scores(&similarities, &profile, &candidates, options.hybrid, None);
                self.hide_own(query, &mut scores);
                let top = top_k(&scores, sections.depth.max(options.k_max));
                let facets = cluster(&held.vectors, &sections.facets);
                let facet_of: Vec<usize> = top
                    .iter()
                    .take(sections.depth)
                    .map(|&p| {
                        let closest = (0..held.rows.len())
                            .max_by(|&a, &b| {
                                similarities[a * count + p].total_cmp(&similarities[b * count + p])
                            })
                            .unwrap_or(0);
                        facets.of_item.get(closest).copied().unwrap_or(0)
                    })
                    .collect();
                let shares: Vec<f32> = facets.sizes().iter().map(|&s| s as f32).collect();
                let kept = allot(&facet_of, &shares, sections.size, sections.good_depth);
                let shown: Vec<usize> = crate::facets::sections(&kept, &facet_of)
                    .into_iter()
                    .flat_map(|(_, positions)| positions)
                    .collect();
                let distinct = |positions: &mut dyn Iterator<Item = usize>| {
                    let mut seen: Vec<usize> = positions.map(|p| facet_of[p]).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    seen.len()
                };
                let after = |first: &[usize]| -> Vec<usize> {
                    let mut list: Vec<usize> = first.iter().map(|&p| top[p]).collect();
                    list.extend(
                        top.iter()
                            .enumerate()
                            .filter(|(p, _)| !first.contains(p))
                            .map(|(_, &c)| c),
                    );
                    list.into_iter().map(|c| self.candidates[c]).collect()
                };
                let relevance = self.relevance_of(query);
                let flat_top = sections.size.min(facet_of.len());
                (
                    evaluate(&after(&[]), &relevance),
                    evaluate(&after(&kept), &relevance),
                    evaluate(&after(&shown), &relevance),
                    facets.count(),
                    distinct(&mut (0..flat_top)),
                    distinct(&mut kept.iter().copied()),
                )
            })
            .collect();
        let mut outcome = SectionOutcome::default();
        for (flat, sectioned, shown, facets, flat_distinct, sectioned_distinct) in judged {
            outcome.flat.push(flat);
            outcome.sectioned.push(sectioned);
            outcome.shown.push(shown);
            outcome.facets.push(facets);
            outcome.flat_distinct.push(flat_distinct);
            outcome.sectioned_distinct.push(sectioned_distinct);
        }
        outcome
    }
}

/// A query's profile papers as the methods read them, newest first.
struct HeldProfile {
    rows: Vec<usize>,
    /// Each paper's place in time, 0 the newest: its position.
    recency: Vec<usize>,
    vectors: Matrix,
    lexical: Vec<SparseVec>,
    terms: Vec<SparseVec>,
}

impl HeldProfile {
    fn profile(&self) -> Profile<'_> {
        Profile {
            vectors: &self.vectors,
            lexical: &self.lexical,
            terms: &self.terms,
            recency_rank: &self.recency,
            item_weights: &[],
        }
    }
}

impl Prepared {
    /// The query's profile papers, newest first (so recency ranks are positions); only the
    /// newest for a single-paper run.
    fn profile_of(
        &self,
        corpus: &Corpus,
        query: &Query,
        options: &Options,
        empty: &Matrix,
    ) -> HeldProfile {
        let mut rows = query.profile.clone();
        rows.sort_by(|a, b| corpus.dates[*b].cmp(&corpus.dates[*a]).then(a.cmp(b)));
        if options.single_paper {
            rows.truncate(1);
        }
        HeldProfile {
            vectors: corpus
                .vectors
                .as_ref()
                .map_or_else(|| empty.clone(), |v| v.select(&rows)),
            lexical: rows.iter().map(|&r| self.lexical[r].clone()).collect(),
            terms: rows.iter().map(|&r| self.terms[r].clone()).collect(),
            recency: (0..rows.len()).collect(),
            rows,
        }
    }

    /// The candidates as the methods read them; `empty` stands in for vectors not given.
    fn candidates<'a>(&'a self, empty: &'a Matrix) -> Candidates<'a> {
        Candidates {
            vectors: self.candidate_vectors.as_ref().unwrap_or(empty),
            lexical: &self.candidate_lexical,
            postings: &self.postings,
            term_postings: &self.term_postings,
            bm25_postings: &self.bm25_postings,
            lexical_hubness: &self.lexical_hubness,
        }
    }

    /// Scores the query's own profile papers out of its ranking.
    fn hide_own(&self, query: &Query, scores: &mut [f32]) {
        for row in &query.profile {
            if let Some(&p) = self.position.get(row) {
                scores[p] = f32::NEG_INFINITY;
            }
        }
    }

    /// The query's graded candidates, its own profile papers left out.
    fn relevance_of(&self, query: &Query) -> HashMap<usize, f64> {
        query
            .relevance
            .iter()
            .filter(|(row, _)| self.position.contains_key(row) && !query.profile.contains(row))
            .map(|(&row, &grade)| (row, grade))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two topics in 2-d: papers on the x axis and on the y axis.
    fn corpus() -> Corpus {
        let texts = [
            "graph neural networks for molecules",
            "protein folding with deep learning",
            "graph neural networks predict molecular properties",
            "deep learning for protein structure prediction",
            "street photography composition tips",
        ]
        .map(str::to_owned)
        .to_vec();
        let vectors = Matrix::from_data(
            2,
            vec![1.0, 0.0, 0.0, 1.0, 0.98, 0.2, 0.2, 0.98, -0.7, -0.7],
        );
        let dates = [
            "2025-01-01",
            "2025-02-01",
            "2026-01-05",
            "2026-01-06",
            "2026-01-07",
        ]
        .map(|d| Some(d.to_owned()))
        .to_vec();
        Corpus {
            texts,
            dates,
            vectors: Some(vectors),
        }
    }

    #[test]
    fn a_two_interest_profile_finds_both_topics() {
        let corpus = corpus();
        let options = Options {
            candidates_since: Some("2026-01-01".into()),
            k_max: 3,
            single_paper: false,
            hybrid: HybridParams::default(),
            char_grams: crate::terms::GRAM_WEIGHT,
        };
        let prepared = Prepared::new(&corpus, &options);
        assert_eq!(prepared.candidate_count(), 3);
        let query = Query {
            id: "q".into(),
            profile: vec![0, 1],
            relevance: HashMap::from([(2, 1.0), (3, 1.0)]),
        };
        for method in [
            Method::MaxSim,
            Method::Zotero,
            Method::Centroid,
            Method::Hybrid,
        ] {
            let outcome = prepared.run(&corpus, std::slice::from_ref(&query), method, &options);
            assert_eq!(outcome.per_query.len(), 1);
            assert!(
                (outcome.per_query[0].ndcg_10 - 1.0).abs() < 1e-9,
                "{method}: {:?}",
                outcome.per_query
            );
        }
        // Asked about one paper only, the other topic is not relevant any more, and the paper
        // of its own topic comes first.
        let single = Options {
            single_paper: true,
            ..options.clone()
        };
        let outcome = prepared.run(
            &corpus,
            std::slice::from_ref(&query),
            Method::MaxSim,
            &single,
        );
        assert_eq!(outcome.per_query[0].reciprocal_rank, 1.0);
        // Two profile papers are one facet: the sectioned list is the flat one.
        let sections =
            prepared.run_sections(&corpus, &[query], &options, &SectionOptions::for_size(2));
        assert_eq!(sections.facets, [1]);
        assert_eq!(sections.flat, sections.sectioned);
        assert_eq!(
            (sections.flat_distinct[0], sections.sectioned_distinct[0]),
            (1, 1)
        );
        assert!((sections.flat[0].ndcg_10 - 1.0).abs() < 1e-9);
    }
}
