//! The candidates of a ranking, prepared once for every user: their vectors, the vocabulary
//! of their own texts, their term vectors, an inverted index and how generic each one's words
//! are. A day's papers for a digest, or months of them for a batch re-rank.

use crate::dense::Matrix;
use crate::hubness::lexical_hubness;
use crate::lexical::{Postings, SparseVec, Tfidf, TfidfParams};
use crate::terms::{GRAM_WEIGHT, HybridTerms};

/// The candidates, prepared once for every user: the vocabulary of their texts (words and
/// rare character n-grams, [`HybridTerms`]), their term vectors, their inverted index and
/// their lexical hubness.
pub struct CandidateSet {
    pub(crate) vectors: Matrix,
    pub(crate) vocabulary: HybridTerms,
    pub(crate) terms: Vec<SparseVec>,
    pub(crate) postings: Postings,
    /// Each candidate's lexical hubness among the candidates ([`crate::hubness`]).
    pub(crate) hubness: Vec<f32>,
}

impl CandidateSet {
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
        // The n-grams too are the day's: rare among the day's papers (at most two of them).
        let vocabulary = HybridTerms::with_grams_of(tfidf, texts, GRAM_WEIGHT);
        let (items, terms) = vocabulary.items_and_candidates(texts);
        let postings = Postings::new(&terms, vocabulary.len());
        let hubness = lexical_hubness(&items, &postings);
        Self {
            vectors,
            vocabulary,
            terms,
            postings,
            hubness,
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

    /// The unit vector of candidate `i`.
    pub fn vector(&self, i: usize) -> &[f32] {
        self.vectors.row(i)
    }
}
