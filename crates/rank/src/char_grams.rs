//! Character n-grams of words: the spelling-level evidence that whole words miss.
//!
//! A paper's words name its method ("RxnBench"), its family of models ("Step 3.5 Flash" after
//! "Step-DeepResearch"), its variants ("benchmarking", "benchmarks") and the habits of its
//! writers (hyphenation, capitals). Runs of three to five characters inside each word, the
//! word padded with a space on each side and its case kept, match all of these where the
//! tokens of [`crate::lexical`] (lower-cased whole words) do not. Only rare n-grams are
//! features (in at most two of a day's papers): what two papers share there names something.
//! In the hybrid ([`crate::terms`]) they took the report half of the shared author split from
//! nDCG@10 0.1396 to 0.1502 on profiles and 0.0508 to 0.0524 on one-paper queries
//! (benches/README.md).
//!
//! Weights are as in [`crate::lexical`]: sublinear tf times the smoothed idf, the `keep`
//! heaviest n-grams of a text kept and scaled to unit length. An n-gram is known by a 64-bit
//! hash of its text, so no string is stored.

use std::collections::HashMap;
use std::fmt;

use foldhash::fast::RandomState;
use paperscout_types::{FNV_OFFSET, fnv1a, fnv1a_from};
use rayon::prelude::*;

use crate::lexical::SparseVec;

type FastMap<K, V> = HashMap<K, V, RandomState>;
type HashSet<K> = std::collections::HashSet<K, RandomState>;

/// The n-gram lengths.
const SHORTEST: usize = 3;
const LONGEST: usize = 5;

/// How the n-gram vocabulary is chosen and how much of each text is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CharGramParams {
    /// Fewest texts an n-gram must appear in.
    pub min_df: usize,
    /// Largest share of texts an n-gram may appear in ...
    pub max_df: f64,
    /// ... but never fewer than this many texts.
    pub max_df_floor: usize,
    /// The heaviest n-grams of a text kept in its vector.
    pub keep: usize,
    /// Fewest texts to fit on: among a handful, nearly every n-gram is rare and rarity says
    /// nothing (" mo" would join "models" to "molecules"), so fewer give no features.
    pub min_texts: usize,
}

impl Default for CharGramParams {
    /// Rare n-grams only: in at most 2 texts of a day's candidates (or 0.02 % of a larger
    /// set), so that what is shared names something. Chosen on the tune half of the shared
    /// author split (benches/README.md): the rarer the n-grams kept, the more they helped,
    /// down to those in a handful of texts; keeping a text's 1,000 heaviest rather than 200
    /// helped no more.
    fn default() -> Self {
        Self {
            min_df: 1,
            max_df: 0.0002,
            max_df_floor: 2,
            keep: 200,
            min_texts: 100,
        }
    }
}

/// A fitted n-gram model: which n-grams are features, and their idf.
#[derive(Clone, Default)]
pub struct CharGrams {
    features: FastMap<u64, u32>,
    /// One bit per slot of the features' hashes (`FILTER_BITS` slots): most n-grams a text
    /// has are not features, and a bit in a table that stays in cache says so before the
    /// larger map is probed.
    filter: Vec<u64>,
    idf: Vec<f32>,
    keep: usize,
    /// The hashes of words in more texts than `max_df`. Each n-gram of such a word is in
    /// every text the word is in, so none is a feature: a word looked up once spares
    /// looking up its dozen or more n-grams (most of a text's words are common).
    common_words: HashSet<u64>,
}

impl fmt::Debug for CharGrams {
    /// The sizes, not the megabyte of filter and map behind them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CharGrams")
            .field("features", &self.features.len())
            .field("common_words", &self.common_words.len())
            .field("keep", &self.keep)
            .finish()
    }
}

impl CharGrams {
    /// Fits the vocabulary and idf on a corpus of texts.
    pub fn fit(texts: &[String], params: CharGramParams) -> Self {
        if texts.len() < params.min_texts {
            return Self::default();
        }
        let n = texts.len();
        let max_df = ((params.max_df * n as f64).floor() as usize).max(params.max_df_floor) as u32;
        let word_counts = texts
            .par_iter()
            .fold(FastMap::<u64, u32>::default, |mut counts, text| {
                let mut words: Vec<u64> = text
                    .split_whitespace()
                    .map(|w| fnv1a(w.as_bytes()))
                    .collect();
                words.sort_unstable();
                words.dedup();
                for word in words {
                    *counts.entry(word).or_default() += 1;
                }
                counts
            })
            .reduce(FastMap::default, merge);
        let common_words: HashSet<u64> = word_counts
            .into_iter()
            .filter(|&(_, df)| df > max_df)
            .map(|(word, _)| word)
            .collect();
        // An n-gram of a common word is in more than `max_df` texts wherever else it occurs,
        // so only the rare words' n-grams are counted, less those that common words have too.
        let mut common_grams: HashSet<u64> = HashSet::default();
        let mut done: HashSet<u64> = HashSet::default();
        for word in texts.iter().flat_map(|text| text.split_whitespace()) {
            let word_hash = fnv1a(word.as_bytes());
            if common_words.contains(&word_hash) && done.insert(word_hash) {
                common_grams.extend(grams_of(word, |_| false));
            }
        }
        let counts = texts
            .par_iter()
            .fold(FastMap::<u64, u32>::default, |mut counts, text| {
                let mut grams = grams_of(text, |word| common_words.contains(&word));
                grams.retain(|gram| !common_grams.contains(gram));
                grams.sort_unstable();
                grams.dedup();
                for gram in grams {
                    *counts.entry(gram).or_default() += 1;
                }
                counts
            })
            .reduce(FastMap::default, merge);
        let mut kept: Vec<(u64, u32)> = counts
            .into_iter()
            .filter(|&(_, df)| df as usize >= params.min_df && df <= max_df)
            .collect();
        kept.sort_unstable();
        let mut filter = vec![0u64; FILTER_BITS / 64];
        for &(gram, _) in &kept {
            let slot = filter_slot(gram);
            filter[slot / 64] |= 1 << (slot % 64);
        }
        Self {
            common_words,
            filter,
            features: kept
                .iter()
                .enumerate()
                .map(|(i, &(gram, _))| (gram, i as u32))
                .collect(),
            idf: kept
                .iter()
                .map(|&(_, df)| (((1 + n) as f64 / (1 + df) as f64).ln() + 1.0) as f32)
                .collect(),
            keep: params.keep,
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

    /// The unit vector of a text's heaviest n-grams.
    pub fn transform(&self, text: &str) -> SparseVec {
        if self.features.is_empty() {
            return SparseVec::default();
        }
        let mut found: Vec<u32> = Vec::new();
        for_each_gram(
            text,
            |word| self.common_words.contains(&word),
            |gram| {
                let slot = filter_slot(gram);
                if self.filter[slot / 64] & (1 << (slot % 64)) == 0 {
                    return;
                }
                if let Some(&feature) = self.features.get(&gram) {
                    found.push(feature);
                }
            },
        );
        found.sort_unstable();
        let mut pairs: Vec<(u32, f32)> = found
            .chunk_by(|a, b| a == b)
            .map(|run| {
                let tf = run.len() as f32;
                (run[0], (1.0 + tf.ln()) * self.idf[run[0] as usize])
            })
            .collect();
        if pairs.len() > self.keep {
            pairs.select_nth_unstable_by(self.keep, |a, b| b.1.total_cmp(&a.1));
            pairs.truncate(self.keep);
        }
        SparseVec::unit_from_pairs(pairs)
    }

    /// [`Self::transform`] of many texts, on every core.
    pub fn transform_all(&self, texts: &[String]) -> Vec<SparseVec> {
        texts.par_iter().map(|text| self.transform(text)).collect()
    }
}

/// Adds the counts of `b` to `a`.
fn merge(a: FastMap<u64, u32>, b: FastMap<u64, u32>) -> FastMap<u64, u32> {
    let (mut a, b) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (key, count) in b {
        *a.entry(key).or_default() += count;
    }
    a
}

/// The hash of every n-gram of a text, repeats included ([`for_each_gram`]).
fn grams_of(text: &str, skip: impl Fn(u64) -> bool) -> Vec<u64> {
    let mut grams = Vec::with_capacity(3 * text.len());
    for_each_gram(text, skip, |gram| grams.push(gram));
    grams
}

/// Calls `visit` with the hash of every n-gram of a text, repeats included: for each
/// whitespace-separated word, padded with a space on each side, every run of 3, 4 and 5
/// characters (a padded word of 4 characters gives two runs of 3 and itself). Words whose
/// hash `skip` accepts give none. The runs starting at one character are hashed as one
/// stream, each longer run continuing the shorter one's hash.
fn for_each_gram(text: &str, skip: impl Fn(u64) -> bool, mut visit: impl FnMut(u64)) {
    let mut ends: Vec<usize> = Vec::new();
    for word in text.split_whitespace() {
        if skip(fnv1a(word.as_bytes())) {
            continue;
        }
        ends.clear();
        ends.extend(word.char_indices().map(|(i, c)| i + c.len_utf8()));
        let chars = ends.len() + 2;
        for start in 0..chars {
            let mut state = FNV_OFFSET;
            for (length, k) in (start..chars.min(start + LONGEST)).enumerate() {
                state = fnv1a_from(state, padded_char(word.as_bytes(), &ends, k));
                if length + 1 >= SHORTEST {
                    visit(state);
                }
            }
        }
    }
}

/// Character `k` of a word padded with a space on each side, as bytes; `ends` holds where
/// each of the word's characters ends.
fn padded_char<'a>(word: &'a [u8], ends: &[usize], k: usize) -> &'a [u8] {
    if k == 0 || k == ends.len() + 1 {
        return b" ";
    }
    let start = if k == 1 { 0 } else { ends[k - 2] };
    &word[start..ends[k - 1]]
}

/// Slots of [`CharGrams`]' filter, as a power of two: 2^23 bits, 1 MiB.
const FILTER_LOG2: u32 = 23;
const FILTER_BITS: usize = 1 << FILTER_LOG2;

/// An n-gram's slot in the filter: the top bits of its hash, mixed again (FNV's low bits
/// are its weakest).
fn filter_slot(gram: u64) -> usize {
    (gram.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FILTER_LOG2)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default settings, for a corpus of a few texts.
    fn small() -> CharGramParams {
        CharGramParams {
            min_texts: 0,
            ..CharGramParams::default()
        }
    }

    #[test]
    fn a_word_gives_its_padded_runs_of_three_to_five_characters() {
        let mut expected: Vec<u64> = [" ab", "abc", "bc ", " abc", "abc ", " abc "]
            .iter()
            .map(|g| fnv1a(g.as_bytes()))
            .collect();
        expected.sort_unstable();
        let mut grams = grams_of("abc", |_| false);
        grams.sort_unstable();
        assert_eq!(grams, expected);
        // A one-letter word padded is three characters: itself, once.
        assert_eq!(grams_of("a", |_| false), vec![fnv1a(b" a ")]);
        // Case is kept and characters, not bytes, are counted.
        assert_ne!(grams_of("Step", |_| false), grams_of("step", |_| false));
        assert_eq!(
            grams_of("éé", |_| false).len(),
            grams_of("ee", |_| false).len()
        );
        assert!(grams_of("xéy", |_| false).contains(&fnv1a(" xé".as_bytes())));
        assert!(grams_of("xéy", |_| false).contains(&fnv1a("xéy ".as_bytes())));
    }

    #[test]
    fn shared_spellings_score_where_whole_words_differ() {
        let texts: Vec<String> = [
            "RxnBench evaluates models on chemical reactions",
            "RxnBench-2 extends the benchmark to reaction yields",
            "street photography composition tips",
            "a survey of gardening in small spaces",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let params = CharGramParams {
            max_df: 0.5,
            ..small()
        };
        let grams = CharGrams::fit(&texts, params);
        let vectors = grams.transform_all(&texts);
        let related = vectors[0].dot(&vectors[1]);
        assert!(related > 0.1, "{related}");
        assert!(related > 3.0 * vectors[0].dot(&vectors[2]));
        assert!(related > 3.0 * vectors[0].dot(&vectors[3]));
        for v in &vectors {
            assert!((v.squared_norm() - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn a_text_keeps_its_heaviest_grams() {
        let texts: Vec<String> = (0..20)
            .map(|i| format!("common words everywhere unique{i}word"))
            .collect();
        let params = CharGramParams {
            max_df: 1.0,
            keep: 5,
            ..small()
        };
        let grams = CharGrams::fit(&texts, params);
        let vector = grams.transform(&texts[3]);
        assert_eq!(vector.indices.len(), 5);
        // The n-grams kept are the text's own (df 1), none of the shared words'.
        let shared = grams.transform("common words everywhere");
        assert_eq!(vector.dot(&shared), 0.0);
    }

    #[test]
    fn the_features_are_the_grams_within_the_df_limits() {
        let texts: Vec<String> = [
            "the model of the day",
            "the model of graphs sing",
            "the Model and a day",
            "one more model of the Theory",
            "singing Zqing graphs Yodel",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let params = small();
        let grams = CharGrams::fit(&texts, params);
        // Counted the plain way: every n-gram of every text.
        let mut df: FastMap<u64, usize> = FastMap::default();
        for text in &texts {
            let mut all = grams_of(text, |_| false);
            all.sort_unstable();
            all.dedup();
            for gram in all {
                *df.entry(gram).or_default() += 1;
            }
        }
        let mut expected: Vec<u64> = df
            .into_iter()
            .filter(|&(_, df)| (params.min_df..=2).contains(&df))
            .map(|(gram, _)| gram)
            .collect();
        expected.sort_unstable();
        let mut found: Vec<u64> = grams.features.keys().copied().collect();
        found.sort_unstable();
        assert_eq!(found, expected);
        // "odel " is in one rare word ("Yodel") and in the common "model" (three texts): not a
        // feature, though counting the rare words alone would find it in one text.
        assert!(!grams.features.contains_key(&fnv1a(b"odel ")));
        assert!(grams.features.contains_key(&fnv1a(b" Yod")));
    }

    #[test]
    fn skipping_common_words_changes_no_vector() {
        let texts: Vec<String> = [
            "the model of the day",
            "the model of graphs",
            "the Model and a day",
            "one more model of the Theory",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let grams = CharGrams::fit(&texts, small());
        assert!(grams.common_words.contains(&fnv1a(b"the")));
        for text in texts
            .iter()
            .map(String::as_str)
            .chain(["the theory of models"])
        {
            let mut all: Vec<u32> = grams_of(text, |_| false)
                .into_iter()
                .filter_map(|gram| grams.features.get(&gram).copied())
                .collect();
            let mut skipped: Vec<u32> = grams_of(text, |w| grams.common_words.contains(&w))
                .into_iter()
                .filter_map(|gram| grams.features.get(&gram).copied())
                .collect();
            all.sort_unstable();
            skipped.sort_unstable();
            assert_eq!(all, skipped, "{text}");
        }
    }

    #[test]
    fn common_grams_past_max_df_are_dropped() {
        let texts: Vec<String> = ["the cat", "the dog", "the owl", "the hen"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        // At most 2 of the 4 texts (the floor): "the" is in all of them.
        let grams = CharGrams::fit(&texts, small());
        assert!(grams.transform("the").indices.is_empty());
        assert!(!grams.transform("cat").indices.is_empty());
        let loose = CharGrams::fit(
            &texts,
            CharGramParams {
                max_df: 1.0,
                ..small()
            },
        );
        assert!(!loose.transform("the").indices.is_empty());
        assert!(CharGrams::default().is_empty() && !grams.is_empty());
        assert_eq!(
            format!("{:?}", CharGrams::default()),
            "CharGrams { features: 0, common_words: 0, keep: 0 }"
        );
        // Too few texts to tell a rare n-gram from a common one: no features at all.
        let few = CharGrams::fit(&texts, CharGramParams::default());
        assert!(few.is_empty() && few.transform("cat").indices.is_empty());
    }
}
