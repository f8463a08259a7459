//! Lexical evidence: tf-idf over title + abstract, as arxiv-sanity-lite computes it.
//!
//! Words are runs of ASCII letters, digits and `_` that start with a letter or `_` and are at
//! least two long, lower-cased, English stop words dropped; features are those words and the
//! pairs of neighbouring words (1- and 2-grams). The vocabulary keeps terms in at least
//! `min_df` documents and at most `max_df` of them, then the `max_features` most frequent.
//! Weights are sublinear (1 + ln tf) times the smoothed idf ln((1 + n) / (1 + df)) + 1, and each
//! vector is scaled to unit length, so a dot product is a cosine.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use foldhash::fast::RandomState;
use rayon::prelude::*;

/// Maps looked up once per word of every text a profile holds: a fast, non-cryptographic hash
/// (the keys come from paper texts, not from an adversary choosing collisions).
type FastMap<K, V> = HashMap<K, V, RandomState>;

/// A sparse vector: feature indices in increasing order, and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    /// Feature indices, increasing.
    pub indices: Vec<u32>,
    /// Their weights.
    pub values: Vec<f32>,
}

impl SparseVec {
    /// The inner product with another sparse vector.
    pub fn dot(&self, other: &SparseVec) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }

    /// The inner product with a dense vector.
    pub fn dot_dense(&self, dense: &[f32]) -> f32 {
        self.indices
            .iter()
            .zip(&self.values)
            .map(|(&i, &v)| v * dense[i as usize])
            .sum()
    }

    /// The sum of squares.
    pub fn squared_norm(&self) -> f32 {
        self.values.iter().map(|v| v * v).sum()
    }

    /// The weighted sum of several vectors, scaled to unit length.
    pub fn unit_sum<'a>(vectors: impl IntoIterator<Item = (&'a SparseVec, f32)>) -> SparseVec {
        let mut sum: FastMap<u32, f32> = FastMap::default();
        for (vector, weight) in vectors {
            for (&i, &v) in vector.indices.iter().zip(&vector.values) {
                *sum.entry(i).or_default() += weight * v;
            }
        }
        Self::unit_from_pairs(sum.into_iter().filter(|(_, v)| *v != 0.0).collect())
    }

    /// The vector of (feature, weight) pairs in any order, scaled to unit length.
    pub(crate) fn unit_from_pairs(mut pairs: Vec<(u32, f32)>) -> SparseVec {
        pairs.sort_unstable_by_key(|(i, _)| *i);
        let norm = pairs.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        SparseVec {
            indices: pairs.iter().map(|(i, _)| *i).collect(),
            values: pairs.iter().map(|(_, v)| v * scale).collect(),
        }
    }
}

/// How the vocabulary is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TfidfParams {
    /// Fewest documents a term must appear in.
    pub min_df: usize,
    /// Largest share of documents a term may appear in.
    pub max_df: f64,
    /// Most features kept, by frequency over the corpus.
    pub max_features: usize,
}

impl TfidfParams {
    /// paperscout's own vocabulary: every term in two documents or more and at most a fifth of
    /// them. Rare terms (a method's name, a data set) are what an author's papers share.
    pub fn wide() -> Self {
        Self {
            min_df: 2,
            max_df: 0.2,
            max_features: 2_000_000,
        }
    }
}

impl Default for TfidfParams {
    /// arxiv-sanity-lite's settings.
    fn default() -> Self {
        Self {
            min_df: 5,
            max_df: 0.1,
            max_features: 20_000,
        }
    }
}

/// BM25's document weighting: idf · tf (k1 + 1) / (tf + k1 (1 − b + b · len / mean len)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25 {
    /// How fast a term's weight saturates with its count (0: present or not).
    pub k1: f32,
    /// How much a long text's terms are discounted (0: not at all, 1: fully).
    pub b: f32,
}

impl Bm25 {
    /// The weighting of the literature (Robertson's k1 1.2, b 0.75), for the `bm25` baseline.
    pub fn classic() -> Self {
        Self { k1: 1.2, b: 0.75 }
    }

    /// paperscout's candidate side of the hybrid: a term's count barely matters, and a long
    /// abstract's terms count for less. Chosen on the tune half of the shared author split
    /// (see benches/README.md): k1 0.5 and b 1 beat the sublinear tf-idf by 3.5 % nDCG@10 on
    /// author profiles and 5 % on one-paper queries.
    pub fn hybrid() -> Self {
        Self { k1: 0.5, b: 1.0 }
    }
}

/// A fitted tf-idf model: vocabulary and idf weights.
#[derive(Debug, Clone)]
pub struct Tfidf {
    words: FastMap<String, u32>,
    /// Term key (see [`term_key`]) → feature index.
    features: FastMap<u64, u32>,
    idf: Vec<f32>,
    names: Vec<String>,
}

const UNIGRAM: u64 = (u32::MAX as u64) << 32;

/// A unigram's key is its word id under a marker; a bigram's is both ids.
fn term_key(first: u32, second: Option<u32>) -> u64 {
    match second {
        None => UNIGRAM | u64::from(first),
        Some(second) => (u64::from(first) << 32) | u64::from(second),
    }
}

impl Tfidf {
    /// Fits the vocabulary and idf on a corpus of texts.
    pub fn fit(texts: &[String], params: TfidfParams) -> Self {
        let mut words: FastMap<String, u32> = FastMap::default();
        let mut lower = String::new();
        let docs: Vec<Vec<u32>> = texts
            .iter()
            .map(|text| {
                let mut doc = Vec::new();
                for_each_word(text, &mut lower, |word| {
                    let id = match words.get(word) {
                        Some(&id) => id,
                        None => {
                            let id = words.len() as u32;
                            words.insert(word.to_owned(), id);
                            id
                        }
                    };
                    doc.push(id);
                });
                doc
            })
            .collect();
        // Term → (documents containing it, occurrences).
        let mut counts: FastMap<u64, (u32, u32)> = FastMap::default();
        let mut seen: FastMap<u64, u32> = FastMap::default();
        for doc in &docs {
            seen.clear();
            for_each_term(doc, |key| *seen.entry(key).or_default() += 1);
            for (&key, &occurrences) in &seen {
                let entry = counts.entry(key).or_default();
                entry.0 += 1;
                entry.1 += occurrences;
            }
        }
        let n = docs.len();
        let max_df = (params.max_df * n as f64).floor() as u32;
        let mut kept: Vec<(u64, u32, u32)> = counts
            .into_iter()
            .filter(|(_, (df, _))| *df as usize >= params.min_df && *df <= max_df)
            .map(|(key, (df, tf))| (key, df, tf))
            .collect();
        // Most frequent first; ties broken by key so the vocabulary is deterministic.
        kept.sort_unstable_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        kept.truncate(params.max_features);
        kept.sort_unstable_by_key(|(key, _, _)| *key);

        let mut by_id: Vec<&str> = vec![""; words.len()];
        for (word, &id) in &words {
            by_id[id as usize] = word;
        }
        let name = |key: u64| -> String {
            if key & UNIGRAM == UNIGRAM {
                by_id[(key & 0xFFFF_FFFF) as usize].to_owned()
            } else {
                format!(
                    "{} {}",
                    by_id[(key >> 32) as usize],
                    by_id[(key & 0xFFFF_FFFF) as usize]
                )
            }
        };
        let features = kept
            .iter()
            .enumerate()
            .map(|(i, (key, _, _))| (*key, i as u32))
            .collect();
        let idf = kept
            .iter()
            .map(|(_, df, _)| (((1 + n) as f64 / (1 + *df) as f64).ln() + 1.0) as f32)
            .collect();
        let names = kept.iter().map(|(key, _, _)| name(*key)).collect();
        Self {
            words,
            features,
            idf,
            names,
        }
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// A feature's text: a word, or two words with a space.
    pub fn feature_name(&self, index: u32) -> &str {
        &self.names[index as usize]
    }

    /// The unit tf-idf vector of a text.
    ///
    /// A profile's every paper goes through here for every batch of users it is ranked in, so
    /// no word is allocated and no count kept in a map: the features found are sorted, and
    /// each run of one feature is its term frequency.
    pub fn transform(&self, text: &str) -> SparseVec {
        let (counts, _) = self.counts(text);
        let pairs: Vec<(u32, f32)> = counts
            .into_iter()
            .map(|(feature, tf)| {
                (
                    feature,
                    (1.0 + (tf as f32).ln()) * self.idf[feature as usize],
                )
            })
            .collect();
        SparseVec::unit_from_pairs(pairs)
    }

    /// A text's features and their counts, in feature order, with how many it has in all.
    fn counts(&self, text: &str) -> (Vec<(u32, u32)>, usize) {
        let mut ids: Vec<u32> = Vec::new();
        let mut lower = String::new();
        for_each_word(text, &mut lower, |word| {
            ids.push(self.words.get(word).copied().unwrap_or(u32::MAX));
        });
        let mut found: Vec<u32> = Vec::with_capacity(2 * ids.len());
        for_each_term(&ids, |key| {
            if let Some(&feature) = self.features.get(&key) {
                found.push(feature);
            }
        });
        found.sort_unstable();
        let counts = found
            .chunk_by(|a, b| a == b)
            .map(|run| (run[0], run.len() as u32))
            .collect();
        (counts, found.len())
    }

    /// The BM25 weights of many texts (their mean length is the texts' own), on every core;
    /// each scaled to unit length when `unit`, so a dot product with a unit query stays a
    /// cosine-like score.
    pub fn bm25_all(&self, texts: &[String], bm25: Bm25, unit: bool) -> Vec<SparseVec> {
        let counted: Vec<(Vec<(u32, u32)>, usize)> =
            texts.par_iter().map(|text| self.counts(text)).collect();
        let mean_len =
            counted.iter().map(|(_, len)| *len as f32).sum::<f32>() / counted.len().max(1) as f32;
        counted
            .into_par_iter()
            .map(|(counts, len)| {
                let norm = bm25.k1 * (1.0 - bm25.b + bm25.b * len as f32 / mean_len.max(1.0));
                let pairs: Vec<(u32, f32)> = counts
                    .into_iter()
                    .map(|(feature, tf)| {
                        let tf = tf as f32;
                        let weight = tf * (bm25.k1 + 1.0) / (tf + norm);
                        (feature, weight * self.idf[feature as usize])
                    })
                    .collect();
                if unit {
                    SparseVec::unit_from_pairs(pairs)
                } else {
                    let (indices, values) = pairs.into_iter().unzip();
                    SparseVec { indices, values }
                }
            })
            .collect()
    }

    /// [`Self::transform`] of many texts, on every core.
    pub fn transform_all(&self, texts: &[String]) -> Vec<SparseVec> {
        texts.par_iter().map(|text| self.transform(text)).collect()
    }
}

/// Calls `visit` with every unigram and bigram key of a document's word ids. Unknown words
/// (`u32::MAX`) produce no terms and break bigrams.
fn for_each_term(ids: &[u32], mut visit: impl FnMut(u64)) {
    for (i, &id) in ids.iter().enumerate() {
        if id == u32::MAX {
            continue;
        }
        visit(term_key(id, None));
        if let Some(&next) = ids.get(i + 1)
            && next != u32::MAX
        {
            visit(term_key(id, Some(next)));
        }
    }
}

/// Calls `visit` with each word of a text in turn, lower-cased, stop words dropped, without
/// allocating: a word with capitals is lower-cased into `lower`, which is reused.
fn for_each_word(text: &str, lower: &mut String, mut visit: impl FnMut(&str)) {
    let pieces = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.len() >= 2);
    for piece in pieces {
        // A word starts with a letter or `_`: "3d" splits off nothing, "2023" is not a word.
        let Some(start) = piece.find(|c: char| c.is_ascii_alphabetic() || c == '_') else {
            continue;
        };
        let mut word = &piece[start..];
        if word.len() < 2 {
            continue;
        }
        if word.bytes().any(|b| b.is_ascii_uppercase()) {
            lower.clear();
            lower.push_str(word);
            lower.make_ascii_lowercase();
            word = lower.as_str();
        }
        if !is_stop_word(word) {
            visit(word);
        }
    }
}

/// Common English function words, which carry no topic. Every word of every text is looked up
/// here, so the list is a hash set, built once: a binary search of it cost a tenth of a
/// digest's time in string comparisons.
fn is_stop_word(word: &str) -> bool {
    static SET: LazyLock<HashSet<&'static str, RandomState>> =
        LazyLock::new(|| STOP_WORDS.iter().copied().collect());
    // No stop word is longer than 10 letters: most topic words are rejected before hashing.
    word.len() <= 10 && SET.contains(word)
}

/// The stop words, sorted.
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "either",
    "etc", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here",
    "hers", "him", "his", "how", "however", "if", "in", "into", "is", "it", "its", "itself",
    "just", "may", "me", "might", "more", "most", "much", "must", "my", "neither", "no", "nor",
    "not", "now", "of", "off", "on", "once", "one", "only", "or", "other", "our", "ours", "out",
    "over", "own", "same", "shall", "she", "should", "so", "some", "such", "than", "that", "the",
    "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through",
    "thus", "to", "too", "under", "until", "up", "upon", "us", "very", "was", "we", "were", "what",
    "when", "where", "whether", "which", "while", "who", "whom", "whose", "why", "will", "with",
    "within", "without", "would", "yet", "you", "your", "yours",
];

/// An inverted index over many sparse vectors, for scoring them all against one query.
#[derive(Debug, Clone, Default)]
pub struct Postings {
    lists: Vec<Vec<(u32, f32)>>,
    documents: usize,
}

impl Postings {
    /// Indexes `vectors`; document `i` is `vectors[i]`.
    pub fn new(vectors: &[SparseVec], features: usize) -> Self {
        let mut lists: Vec<Vec<(u32, f32)>> = vec![Vec::new(); features];
        for (doc, vector) in vectors.iter().enumerate() {
            for (&i, &v) in vector.indices.iter().zip(&vector.values) {
                lists[i as usize].push((doc as u32, v));
            }
        }
        Self {
            lists,
            documents: vectors.len(),
        }
    }

    /// The number of features indexed; a query's features beyond them are in no document.
    pub fn features(&self) -> usize {
        self.lists.len()
    }

    /// Every document's inner product with `query`.
    pub fn scores(&self, query: &SparseVec) -> Vec<f32> {
        let mut scores = vec![0.0; self.documents];
        self.add_scores(query, &mut scores);
        scores
    }

    /// Adds the inner products of documents `start..end` with `query` to `scores`, one slot
    /// per document from `start` on.
    pub fn add_scores_in(&self, query: &SparseVec, start: usize, end: usize, scores: &mut [f32]) {
        let scores = &mut scores[..end - start];
        let (start, end) = (start as u32, end as u32);
        for (&i, &q) in query.indices.iter().zip(&query.values) {
            let list = &self.lists[i as usize];
            let from = list.partition_point(|&(doc, _)| doc < start);
            for &(doc, v) in &list[from..] {
                if doc >= end {
                    break;
                }
                scores[(doc - start) as usize] += q * v;
            }
        }
    }

    /// [`Postings::add_scores_in`] for blocks of documents walked in order: `cursors` (one per
    /// feature of `query`, 0 before the first block) keeps where each list stopped, so no
    /// list is searched.
    pub fn add_scores_from(
        &self,
        query: &SparseVec,
        cursors: &mut [u32],
        start: usize,
        end: usize,
        scores: &mut [f32],
    ) {
        let scores = &mut scores[..end - start];
        let (start, end) = (start as u32, end as u32);
        for ((&i, &q), cursor) in query.indices.iter().zip(&query.values).zip(cursors) {
            let list = &self.lists[i as usize];
            let mut at = *cursor as usize;
            while let Some(&(doc, v)) = list.get(at) {
                if doc >= end {
                    break;
                }
                if doc >= start {
                    scores[(doc - start) as usize] += q * v;
                }
                at += 1;
            }
            *cursor = at as u32;
        }
    }

    /// Adds every document's inner product with `query` to `scores`, one slot per document.
    pub fn add_scores(&self, query: &SparseVec, scores: &mut [f32]) {
        let scores = &mut scores[..self.documents];
        for (&i, &q) in query.indices.iter().zip(&query.values) {
            for &(doc, v) in &self.lists[i as usize] {
                scores[doc as usize] += q * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_recognised_and_none_is_longer_than_ten_letters() {
        assert!(is_stop_word("the") && is_stop_word("yours") && !is_stop_word("graph"));
        assert!(
            STOP_WORDS
                .iter()
                .all(|word| is_stop_word(word) && word.len() <= 10)
        );
        assert!(STOP_WORDS.is_sorted());
    }

    #[test]
    fn tokens_follow_arxiv_sanitys_pattern() {
        let mut words: Vec<String> = Vec::new();
        for_each_word(
            "The 3D U-Net, in 2023: a GNN_v2 model!",
            &mut String::new(),
            |word| words.push(word.to_owned()),
        );
        assert_eq!(words, ["net", "gnn_v2", "model"]);
    }

    #[test]
    fn tfidf_weights_rare_terms_and_pairs() {
        let mut texts: Vec<String> = (0..20)
            .map(|i| format!("filler{i} common words here"))
            .collect();
        texts.extend((0..5).map(|_| "graph neural networks".to_owned()));
        texts.extend((0..5).map(|_| "neural radiance fields".to_owned()));
        let tfidf = Tfidf::fit(
            &texts,
            TfidfParams {
                min_df: 2,
                max_df: 0.5,
                max_features: 100,
            },
        );
        let names: Vec<&str> = (0..tfidf.len() as u32)
            .map(|i| tfidf.feature_name(i))
            .collect();
        assert!(
            names.contains(&"graph neural") && names.contains(&"neural"),
            "{names:?}"
        );
        assert!(!names.contains(&"common"), "in every document: over max_df");
        let a = tfidf.transform("graph neural networks");
        let b = tfidf.transform("neural radiance fields");
        assert!((a.squared_norm() - 1.0).abs() < 1e-5);
        let shared = a.dot(&b);
        assert!(
            shared > 0.0 && shared < 0.5,
            "only `neural` is shared: {shared}"
        );
        let postings = Postings::new(&[a.clone(), b.clone()], tfidf.len());
        let scores = postings.scores(&a);
        assert!((scores[0] - 1.0).abs() < 1e-5 && (scores[1] - shared).abs() < 1e-6);
    }
}
