//! Ranking for paperscout: pure functions over embeddings and text, shared by the digest, the
//! daemon's `recommend`, the batch re-ranker and `paperscout eval`.
//!
//! - [`dense`]: unit vectors in one matrix; all similarities of a profile by one product.
//! - [`lexical`]: tf-idf over title + abstract (1-2 grams), sparse vectors, an inverted index.
//! - [`svm`]: a per-user linear SVM (the arxiv-sanity-lite baseline).
//! - [`methods`]: the scoring methods, baselines and paperscout's own, behind one function.
//! - [`metrics`]: nDCG, recall, MRR, MAP and bootstrap intervals.
//! - [`digest`]: choosing, diversifying and explaining a digest.
//! - [`sweep`]: the engine of every digest: many users against a day's candidates in blocks,
//!   each distinct profile item compared with the candidates once.
//! - [`eval`]: the evaluation of `shared/EVAL.md` over an in-memory corpus.

#![forbid(unsafe_code)]

pub mod dense;
pub mod digest;
pub mod eval;
pub mod lexical;
pub mod methods;
pub mod metrics;
mod mmr;
pub mod rules;
pub mod svm;
pub mod sweep;

pub use dense::Matrix;
pub use lexical::{Postings, SparseVec, Tfidf, TfidfParams};
pub use methods::{Background, Candidates, HybridParams, Method, Profile, score};
pub use metrics::{Estimate, QueryMetrics, Summary, evaluate, summarise, top_k};
pub use rules::{CompiledRules, PaperFacts, Verdict};
