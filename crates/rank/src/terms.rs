//! The hybrid's lexical vectors: words and word pairs ([`Tfidf`]), then rare character
//! n-grams ([`CharGrams`]), joined in one sparse vector, so that one inner product (one
//! postings walk) sums both: `word cosine + GRAM_WEIGHT × n-gram cosine`.
//!
//! A profile item's words keep sublinear tf-idf; a candidate's are BM25 weights of unit
//! length ([`Bm25::hybrid`]); both sides' n-grams are unit tf-idf vectors scaled by
//! √[`GRAM_WEIGHT`]. The n-gram features follow the word features, so a feature index below
//! [`HybridTerms::word_count`] is a word or pair with a name, and one above is an n-gram.

use rayon::prelude::*;

use crate::char_grams::{CharGramParams, CharGrams};
use crate::lexical::{Bm25, SparseVec, Tfidf};

/// How much the n-gram cosine counts against the word cosine. Chosen on the tune half of the
/// shared author split (benches/README.md): 0.05 / 0.15 / 0.25 / 0.35 read nDCG@10 0.1420 /
/// 0.1433 / 0.1414 / 0.1378 on profiles with every n-gram of two texts or more kept; with
/// rare ones only, 0.15 against 0.3 read 0.1504 against 0.1463.
pub const GRAM_WEIGHT: f32 = 0.15;

/// Words and n-grams, fitted.
#[derive(Debug, Clone)]
pub struct HybridTerms {
    words: Tfidf,
    grams: CharGrams,
    gram_scale: f32,
}

impl HybridTerms {
    /// Joins a word model and an n-gram model; `gram_weight` 0 leaves the n-grams out.
    pub fn new(words: Tfidf, grams: CharGrams, gram_weight: f32) -> Self {
        let grams = if gram_weight > 0.0 {
            grams
        } else {
            CharGrams::default()
        };
        Self {
            words,
            grams,
            gram_scale: gram_weight.max(0.0).sqrt(),
        }
    }

    /// Joins a word model and n-grams fitted on `texts` with the default settings.
    pub fn with_grams_of(words: Tfidf, texts: &[String], gram_weight: f32) -> Self {
        let grams = if gram_weight > 0.0 {
            CharGrams::fit(texts, CharGramParams::default())
        } else {
            CharGrams::default()
        };
        Self::new(words, grams, gram_weight)
    }

    /// The word model.
    pub fn words(&self) -> &Tfidf {
        &self.words
    }

    /// The number of word features; n-gram features follow them.
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// The number of features, words and n-grams.
    pub fn len(&self) -> usize {
        self.words.len() + self.grams.len()
    }

    /// Whether there are no features at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A word feature's text; `None` for an n-gram.
    pub fn feature_name(&self, index: u32) -> Option<&str> {
        ((index as usize) < self.words.len()).then(|| self.words.feature_name(index))
    }

    /// A profile item's vector: its unit tf-idf words, then its n-grams.
    pub fn item(&self, text: &str) -> SparseVec {
        self.join(self.words.transform(text), text)
    }

    /// [`Self::item`] of many texts, on every core.
    pub fn items(&self, texts: &[String]) -> Vec<SparseVec> {
        texts.par_iter().map(|text| self.item(text)).collect()
    }

    /// The candidates' vectors: unit BM25 words ([`Bm25::hybrid`], the texts' own mean
    /// length), then their n-grams.
    pub fn candidates(&self, texts: &[String]) -> Vec<SparseVec> {
        self.words
            .bm25_all(texts, Bm25::hybrid(), true)
            .into_par_iter()
            .zip(texts.par_iter())
            .map(|(words, text)| self.join(words, text))
            .collect()
    }

    /// The same texts as items ([`Self::item`]) and as candidates ([`Self::candidates`]),
    /// each text's n-grams found once.
    pub fn items_and_candidates(&self, texts: &[String]) -> (Vec<SparseVec>, Vec<SparseVec>) {
        let grams: Vec<SparseVec> = texts
            .par_iter()
            .map(|text| self.grams.transform(text))
            .collect();
        let items = texts
            .par_iter()
            .zip(&grams)
            .map(|(text, grams)| self.append(self.words.transform(text), grams))
            .collect();
        let candidates = self
            .words
            .bm25_all(texts, Bm25::hybrid(), true)
            .into_par_iter()
            .zip(&grams)
            .map(|(words, grams)| self.append(words, grams))
            .collect();
        (items, candidates)
    }

    /// `words` followed by the text's n-grams, scaled.
    fn join(&self, words: SparseVec, text: &str) -> SparseVec {
        if self.grams.is_empty() {
            return words;
        }
        self.append(words, &self.grams.transform(text))
    }

    /// `words` followed by `grams`, offset and scaled.
    fn append(&self, mut words: SparseVec, grams: &SparseVec) -> SparseVec {
        let offset = self.words.len() as u32;
        words
            .indices
            .extend(grams.indices.iter().map(|i| i + offset));
        words
            .values
            .extend(grams.values.iter().map(|v| v * self.gram_scale));
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexical::TfidfParams;

    fn texts() -> Vec<String> {
        [
            "RxnBench evaluates language models on chemical reactions",
            "We extend RxnBench-2 to reaction yields",
            "street photography composition tips",
            "gardening in small spaces",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect()
    }

    fn words(texts: &[String]) -> Tfidf {
        Tfidf::fit(
            texts,
            TfidfParams {
                min_df: 1,
                max_df: 1.0,
                ..TfidfParams::wide()
            },
        )
    }

    /// N-grams fitted on a few texts (the default needs 100).
    fn grams(texts: &[String]) -> CharGrams {
        let params = CharGramParams {
            min_texts: 0,
            ..CharGramParams::default()
        };
        CharGrams::fit(texts, params)
    }

    #[test]
    fn the_dot_product_is_the_word_cosine_plus_the_weighted_gram_cosine() {
        let texts = texts();
        let joined = HybridTerms::new(words(&texts), grams(&texts), 0.5);
        let plain = HybridTerms::new(words(&texts), grams(&texts), 0.0);
        let grams = grams(&texts);
        let item = joined.item(&texts[0]);
        let candidates = joined.candidates(&texts);
        let word_item = plain.item(&texts[0]);
        let word_candidates = plain.candidates(&texts);
        assert_eq!(plain.len(), plain.word_count());
        assert!(joined.len() > joined.word_count());
        for (c, text) in texts.iter().enumerate() {
            let expected = word_item.dot(&word_candidates[c])
                + 0.5 * grams.transform(&texts[0]).dot(&grams.transform(text));
            assert!((item.dot(&candidates[c]) - expected).abs() < 1e-5);
        }
        let (items, both) = joined.items_and_candidates(&texts);
        assert_eq!(both, candidates);
        assert_eq!(items, joined.items(&texts));
        // "RxnBench" and "RxnBench-2" are one word apart as words, close as spellings.
        assert!(item.dot(&candidates[1]) > word_item.dot(&word_candidates[1]));
    }

    #[test]
    fn only_word_features_have_names() {
        let texts = texts();
        let joined = HybridTerms::new(words(&texts), grams(&texts), GRAM_WEIGHT);
        let item = joined.item(&texts[0]);
        let names: Vec<Option<&str>> = item
            .indices
            .iter()
            .map(|&i| joined.feature_name(i))
            .collect();
        assert!(names.contains(&Some("rxnbench")));
        assert!(names.iter().any(Option::is_none));
        assert!(
            item.indices
                .iter()
                .all(|&i| joined.feature_name(i).is_some() == ((i as usize) < joined.word_count()))
        );
    }
}
