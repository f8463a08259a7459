//! Ranking for paperscout: pure functions over embeddings and text, shared by the digest, the
//! daemon's `recommend`, the batch re-ranker and `paperscout eval`.
//!
//! - [`dense`]: unit vectors in one matrix; all similarities of a profile by one product.
//! - [`lexical`]: tf-idf over title + abstract (1-2 grams), sparse vectors, an inverted index.
//! - [`char_grams`]: character n-grams of words, the spelling-level evidence words miss.
//! - [`terms`]: the hybrid's lexical vectors, words then rare n-grams, in one sparse vector.
//! - [`hubness`]: how close a candidate stands to all the others in words, which the hybrid
//!   discounts.
//! - [`svm`]: a per-user linear SVM (the arxiv-sanity-lite baseline).
//! - [`methods`]: the scoring methods, baselines and paperscout's own, behind one function.
//! - [`metrics`]: nDCG, recall, MRR, MAP and bootstrap intervals.
//! - [`eval`]: the evaluation of `shared/EVAL.md` over an in-memory corpus.
//! - [`rules`]: a user's hard rules, judged against each candidate.
//! - [`facets`]: a profile's interests found as facets, named, and a ranking cut into sections.
//!
//! The digest engine is one entry point, [`CandidateSet::rank`]: the candidates prepared once
//! ([`CandidateSet`]), the users' [`ProfileRows`] and [`SharedProfile`]s, and the
//! [`DigestParams`]; it hands back [`Pick`]s. Its parts are private modules, one idea each:
//! `params`, `candidates`, `profile` (users and the rows they share), `sweep` (the engine),
//! `mmr` (diversity), `explain` (a pick and its shared terms) and `centroid` (the batch's fast
//! method, [`CandidateSet::centroid_shared`]). `digest` holds conveniences for tests and
//! benchmarks (choosing from vectors the caller holds), behind the `testing` feature.

#![forbid(unsafe_code)]

mod candidates;
mod centroid;
pub mod char_grams;
pub mod dense;
#[cfg(any(test, feature = "testing"))]
mod digest;
pub mod eval;
mod explain;
pub mod facets;
pub mod hubness;
pub mod lexical;
pub mod methods;
pub mod metrics;
mod mmr;
mod params;
mod profile;
pub mod rules;
pub mod svm;
mod sweep;
pub mod terms;

pub use candidates::CandidateSet;
#[cfg(any(test, feature = "testing"))]
pub use digest::{DigestInput, select};
pub use explain::Pick;
pub use facets::{FacetParams, Facets};
pub use params::DigestParams;
pub use profile::{ItemRef, ProfileRows, SharedProfile, UserProfile, fade};
pub use sweep::DEFAULT_BLOCK_BYTES;

pub use dense::Matrix;
pub use lexical::{Bm25, Postings, SparseVec, Tfidf, TfidfParams};
pub use methods::{Background, Candidates, HybridParams, Method, Profile, score};
pub use metrics::{Estimate, QueryMetrics, Summary, evaluate, paired_difference, summarise, top_k};
pub use rules::{CompiledRules, PaperFacts, Verdict};
