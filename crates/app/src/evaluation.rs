//! `eval`: the ranking methods judged on a data set in the format of `shared/EVAL.md`
//! ([`crate::eval_set`] reads it), with paperscout's own embeddings (cached in the store,
//! embedding what it lacks) or imported ones.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use paperscout_ingest::{Options as IngestOptions, Progress, Records, TextEmbedder, ingest};
use paperscout_rank::eval::{Corpus, Options, Outcome, Prepared, SectionOptions, SectionOutcome};
use paperscout_rank::{Estimate, Matrix, Method, Summary, paired_difference, summarise};
use paperscout_store::{SqliteStore, Store};
use serde::Serialize;

use crate::eval_set::{EvalPaper, imported_vectors, read_papers, read_queries, sample};
use crate::store_model::StoreModel;
use crate::{AppError, Result, Settings};

/// Bootstrap resamples for the intervals.
const RESAMPLES: usize = 1000;

/// Texts per call to the model for papers the store cannot keep.
const EMBED_BATCH: usize = 256;

/// What to judge, on what.
#[derive(Debug, Clone)]
pub struct Request {
    /// The methods, in the order they are reported.
    pub methods: Vec<Method>,
    /// Papers, JSONL or JSONL.gz.
    pub papers: PathBuf,
    /// Profiles: `query_id<TAB>paper_id` lines.
    pub queries: PathBuf,
    /// Relevance: `query_id<TAB>paper_id<TAB>relevance` lines.
    pub qrels: PathBuf,
    /// Float16 vectors, row i for paper i, instead of the store's.
    pub vectors: Option<PathBuf>,
    /// Evaluate this many queries, spread evenly over the file.
    pub max_queries: Option<usize>,
    /// Only the queries of one half (see [`Half`]), before `max_queries` samples them.
    pub half: Option<Half>,
    /// The candidates, depth and hybrid's knobs.
    pub options: Options,
    /// Also judge the digest's sections against the flat ranking (hybrid method).
    pub sections: Option<SectionOptions>,
}

/// One of two halves of a data set's queries, fixed by each query's id alone (FNV-1a, mixed), so
/// that constants chosen on one half can be reported on the other, which they never saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Half {
    /// The queries whose id hashes even: where constants are chosen.
    Tune,
    /// The queries whose id hashes odd: where they are reported.
    Report,
}

impl Half {
    /// The half a query belongs to.
    pub fn of(query_id: &str) -> Self {
        let hash = paperscout_types::fnv1a(query_id.as_bytes());
        // FNV's low and high bits follow the last bytes too closely (`q0`…`q4` all land
        // together on its top bit): SplitMix64's finaliser mixes every bit into the last.
        let mut mixed = hash ^ (hash >> 30);
        mixed = mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed ^= mixed >> 27;
        mixed = mixed.wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        if mixed.is_multiple_of(2) {
            Self::Tune
        } else {
            Self::Report
        }
    }
}

impl std::str::FromStr for Half {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "tune" => Ok(Self::Tune),
            "report" => Ok(Self::Report),
            _ => Err(format!("{text:?} is no half: give tune or report")),
        }
    }
}

/// Parses `--method`: a method, several joined by commas, or `all`.
pub fn parse_methods(text: &str) -> Result<Vec<Method>> {
    if text == "all" {
        return Ok(Method::ALL.to_vec());
    }
    text.split(',')
        .map(|name| name.trim().parse().map_err(AppError::Usage))
        .collect()
}

/// One method's scores.
#[derive(Debug, Clone, Serialize)]
pub struct MethodReport {
    /// The method's name.
    pub method: String,
    /// Where its vectors came from (`none` for a lexical method).
    pub model: String,
    /// Queries judged.
    pub queries: usize,
    /// Candidates each query ranked.
    pub candidates: usize,
    /// nDCG, recall, MRR and MAP with bootstrap intervals.
    #[serde(flatten)]
    pub summary: Summary,
    /// Seconds the ranking took.
    pub seconds: f64,
    /// The headline method's per-query advantage over this one (headline minus this, query
    /// by query, with a paired bootstrap interval); none for the headline itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline_minus_this: Option<Summary>,
}

/// The whole evaluation: the headline method's figures at the top level (hybrid when it ran),
/// every method's when several ran.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The headline method.
    #[serde(flatten)]
    pub first: MethodReport,
    /// Every method run, the headline one included, when several were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<MethodReport>,
    /// Whether each query kept only its newest profile paper.
    pub single_paper: bool,
    /// The half of the queries judged, when only one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half: Option<Half>,
    /// The sectioned list against the flat one, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<SectionReport>,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// The digest's sections judged against the flat ranking they are cut from: the same queries,
/// the same hybrid scores, `size` papers each.
#[derive(Debug, Clone, Serialize)]
pub struct SectionReport {
    /// Papers in each list.
    pub size: usize,
    /// Queries judged.
    pub queries: usize,
    /// Queries whose profile fell into two facets or more.
    pub multi_facet_queries: usize,
    /// The mean number of facets per profile.
    pub facets_mean: f64,
    /// The flat ranking's first `size`.
    pub flat: Summary,
    /// The sectioned list, in the flat ranking's order.
    pub sectioned: Summary,
    /// The sectioned list as a digest shows it, section by section.
    pub shown: Summary,
    /// Sectioned minus flat, query by query (paired bootstrap).
    pub sectioned_minus_flat: Summary,
    /// Over the multi-facet queries: the mean number of distinct facets in the flat list.
    pub flat_distinct_facets: f64,
    /// Over the multi-facet queries: the same for the sectioned list.
    pub sectioned_distinct_facets: f64,
}

impl SectionReport {
    fn new(outcome: &SectionOutcome, size: usize) -> Self {
        let multi: Vec<usize> = (0..outcome.facets.len())
            .filter(|&q| outcome.facets[q] > 1)
            .collect();
        let mean = |values: &[usize], over: &[usize]| {
            over.iter().map(|&q| values[q] as f64).sum::<f64>() / over.len().max(1) as f64
        };
        let all: Vec<usize> = (0..outcome.facets.len()).collect();
        Self {
            size,
            queries: outcome.flat.len(),
            multi_facet_queries: multi.len(),
            facets_mean: mean(&outcome.facets, &all),
            flat: summarise(&outcome.flat, RESAMPLES, 0x5EED),
            sectioned: summarise(&outcome.sectioned, RESAMPLES, 0x5EED),
            shown: summarise(&outcome.shown, RESAMPLES, 0x5EED),
            sectioned_minus_flat: paired_difference(
                &outcome.sectioned,
                &outcome.flat,
                RESAMPLES,
                0x5EED,
            ),
            flat_distinct_facets: mean(&outcome.flat_distinct, &multi),
            sectioned_distinct_facets: mean(&outcome.sectioned_distinct, &multi),
        }
    }

    /// The comparison as a Markdown table.
    pub fn table(&self) -> String {
        let interval = |e: Estimate| format!("{:.4} [{:.4}, {:.4}]", e.mean, e.low, e.high);
        let d = self.sectioned_minus_flat.ndcg_10;
        format!(
            "\n{queries} queries, {multi} with two facets or more ({facets:.2} facets a profile)\n\n\
             | top-{size} | nDCG@10 | distinct facets (multi-facet profiles) |\n|---|---|---:|\n\
             | flat | {flat} | {flat_distinct:.2} |\n\
             | sectioned | {sectioned} | {sectioned_distinct:.2} |\n\
             | sectioned, as shown | {shown} | |\n\
             | sectioned minus flat | {d_mean:+.4} [{d_low:+.4}, {d_high:+.4}] | |\n",
            queries = self.queries,
            multi = self.multi_facet_queries,
            facets = self.facets_mean,
            size = self.size,
            flat = interval(self.flat.ndcg_10),
            flat_distinct = self.flat_distinct_facets,
            sectioned = interval(self.sectioned.ndcg_10),
            sectioned_distinct = self.sectioned_distinct_facets,
            shown = interval(self.shown.ndcg_10),
            d_mean = d.mean,
            d_low = d.low,
            d_high = d.high,
        )
    }
}

impl Report {
    /// Every method's figures as a Markdown table for people, then the headline method's
    /// paired differences against each other method when several ran.
    pub fn table(&self) -> String {
        let all = if self.methods.is_empty() {
            std::slice::from_ref(&self.first)
        } else {
            &self.methods
        };
        let interval = |e: Estimate| format!("{:.4} [{:.4}, {:.4}]", e.mean, e.low, e.high);
        let mut out = String::from(
            "| method | queries | nDCG@10 | recall@10 | recall@100 | MRR | MAP@100 | s |\n\
             |---|---:|---|---|---|---|---|---:|\n",
        );
        for r in all {
            let s = &r.summary;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                r.method,
                r.queries,
                interval(s.ndcg_10),
                interval(s.recall_10),
                interval(s.recall_100),
                interval(s.mrr),
                interval(s.map_100),
                r.seconds
            );
        }
        let signed = |e: Estimate| format!("{:+.4} [{:+.4}, {:+.4}]", e.mean, e.low, e.high);
        let paired: Vec<_> = all
            .iter()
            .filter_map(|r| Some((r, r.headline_minus_this?)))
            .collect();
        if !paired.is_empty() {
            let _ = write!(
                out,
                "\n| {} minus | nDCG@10 | recall@10 | MRR | MAP@100 |\n|---|---|---|---|---|\n",
                self.first.method
            );
            for (r, d) in paired {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    r.method,
                    signed(d.ndcg_10),
                    signed(d.recall_10),
                    signed(d.mrr),
                    signed(d.map_100)
                );
            }
        }
        if let Some(sections) = &self.sections {
            out += &sections.table();
        }
        out
    }
}

/// What a running evaluation tells its caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// Ingesting the papers into the store: bytes read of the file's length, papers read and
    /// embedded so far.
    Ingesting {
        /// Bytes of the input consumed.
        bytes: u64,
        /// The input's length, when known.
        len: Option<u64>,
        /// Papers read.
        read: usize,
        /// Papers embedded.
        embedded: usize,
    },
    /// The store lacked this many vectors and now has them.
    Embedded(usize),
    /// A method starts ranking.
    Ranking(&'a str),
}

/// Runs the evaluation.
pub fn evaluate(
    settings: &Settings,
    request: &Request,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<Report> {
    let started = Instant::now();
    let papers_arg = request.papers.to_string_lossy().into_owned();
    let needs_vectors = request.methods.iter().any(|m| m.needs_embeddings());
    // Vectors come from a file given, or from the store (embedding what it lacks).
    let (model_name, vectors_by_key) = match (&request.vectors, needs_vectors) {
        (_, false) => ("none".to_owned(), None),
        (Some(path), true) => (format!("imported from {}", path.display()), None),
        (None, true) => {
            let (model, vectors) = store_vectors(&papers_arg, settings, events)?;
            (model.key().name.clone(), Some((model, vectors)))
        }
    };
    let papers = read_papers(&papers_arg)?;
    let index: HashMap<&str, usize> = papers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let vectors = match (&request.vectors, vectors_by_key) {
        _ if !needs_vectors => None,
        (Some(path), _) => Some(imported_vectors(path, papers.len())?),
        (None, Some((model, by_key))) => Some(gather_vectors(&papers, &model, by_key, events)?),
        (None, None) => None,
    };
    let corpus = Corpus {
        texts: papers
            .iter()
            .map(|p| format!("{} {}", p.title, p.abstract_text))
            .collect(),
        dates: papers.iter().map(|p| p.date.clone()).collect(),
        vectors,
    };
    let mut queries = read_queries(&request.queries, &request.qrels, &index)?;
    if let Some(half) = request.half {
        queries.retain(|query| Half::of(&query.id) == half);
    }
    if let Some(limit) = request.max_queries {
        sample(&mut queries, limit);
    }
    let options = &request.options;
    let prepared = Prepared::new(&corpus, options);
    let mut reports = Vec::new();
    let mut outcomes = Vec::new();
    for &method in &request.methods {
        events(Event::Ranking(method.name()));
        let Outcome {
            per_query, seconds, ..
        } = prepared.run(&corpus, &queries, method, options);
        if per_query.is_empty() {
            return Err(AppError::DataSet(format!(
                "no query has a relevant paper among the {} candidates{}: nothing to judge",
                prepared.candidate_count(),
                options
                    .candidates_since
                    .as_ref()
                    .map_or_else(String::new, |day| format!(
                        " (papers dated {day} or later); an earlier --candidates-since may help"
                    ))
            )));
        }
        reports.push(MethodReport {
            method: method.name().to_owned(),
            model: if method.needs_embeddings() {
                model_name.clone()
            } else {
                "none".to_owned()
            },
            queries: per_query.len(),
            candidates: prepared.candidate_count(),
            summary: summarise(&per_query, RESAMPLES, 0x5EED),
            seconds,
            headline_minus_this: None,
        });
        outcomes.push(per_query);
    }
    // The headline is the default method when it ran, else the first one.
    let headline = reports
        .iter()
        .position(|r| r.method == Method::Hybrid.name())
        .unwrap_or(0);
    // Every method judged the same queries, in the same order: the differences are paired.
    for (i, report) in reports.iter_mut().enumerate() {
        if i != headline {
            report.headline_minus_this = Some(paired_difference(
                &outcomes[headline],
                &outcomes[i],
                RESAMPLES,
                0x5EED,
            ));
        }
    }
    let first = reports
        .get(headline)
        .cloned()
        .ok_or_else(|| AppError::Usage("no method to run: name one with --method".to_owned()))?;
    Ok(Report {
        first,
        methods: if reports.len() > 1 {
            reports
        } else {
            Vec::new()
        },
        single_paper: options.single_paper,
        half: request.half,
        sections: request.sections.as_ref().map(|sections| {
            events(Event::Ranking("sections"));
            let outcome = prepared.run_sections(&corpus, &queries, options, sections);
            SectionReport::new(&outcome, sections.size)
        }),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Ingests the papers into the store, embedding those it lacks, and reads their vectors back
/// by the store's key, with the model for the papers the store cannot key. A paper with
/// neither an arXiv id nor a DOI is a bad record to ingest, skipped there without a word:
/// [`gather_vectors`] embeds it.
fn store_vectors(
    papers: &str,
    settings: &Settings,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<(StoreModel, HashMap<String, Vec<f32>>)> {
    let mut store = SqliteStore::open(&paperscout_store::file_in(&settings.data_dir))?;
    let model = StoreModel::load(settings)?;
    let input = paperscout_ingest::open(papers)?;
    let len = input.len;
    let consumed = Arc::clone(&input.consumed);
    let report = ingest(
        &mut store,
        Records::new(input)?,
        papers,
        Some(&model as &dyn TextEmbedder),
        IngestOptions::default(),
        paperscout_store::now(),
        &mut |progress| {
            if let Progress::Committed(report) = progress {
                events(Event::Ingesting {
                    bytes: consumed.load(Ordering::Relaxed),
                    len,
                    read: report.read,
                    embedded: report.written.embedded,
                });
            }
        },
    )?;
    if report.written.embedded > 0 {
        events(Event::Embedded(report.written.embedded));
    }
    let mut vectors = HashMap::new();
    store.for_each_embedding(model.key(), &mut |id, vector| {
        vectors.insert(id.to_owned(), vector.to_vec());
    })?;
    Ok((model, vectors))
}

/// Each paper's vector, row i for paper i: the store's, by key, and for the papers it has
/// none of (no arXiv id or DOI to key them by), the model's, computed for this run only.
fn gather_vectors(
    papers: &[EvalPaper],
    model: &StoreModel,
    mut by_key: HashMap<String, Vec<f32>>,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<Matrix> {
    let mut rows: Vec<Option<Vec<f32>>> = papers
        .iter()
        .map(|paper| paper.key.as_ref().and_then(|key| by_key.remove(key)))
        .collect();
    let missing: Vec<usize> = (0..papers.len()).filter(|&i| rows[i].is_none()).collect();
    for chunk in missing.chunks(EMBED_BATCH) {
        let texts: Vec<String> = chunk.iter().map(|&i| papers[i].embedding_text()).collect();
        let vectors = model.embed_texts(&texts).map_err(AppError::Embedding)?;
        for (&i, vector) in chunk.iter().zip(vectors) {
            rows[i] = Some(vector);
        }
    }
    if !missing.is_empty() {
        events(Event::Embedded(missing.len()));
    }
    let dim = rows.iter().flatten().next().map_or(384, Vec::len);
    let mut matrix = Matrix::new(dim);
    for row in rows.iter().flatten() {
        matrix.push(row);
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_split_queries_by_id_alone() {
        let ids: Vec<String> = (0..1000).map(|i| format!("dev-author-{i:05}")).collect();
        let tune = ids.iter().filter(|id| Half::of(id) == Half::Tune).count();
        assert!((450..550).contains(&tune), "{tune} of 1000");
        let short: Vec<Half> = ["q0", "q1", "q2", "q3", "q4"].map(Half::of).to_vec();
        assert!(
            short.contains(&Half::Tune) && short.contains(&Half::Report),
            "{short:?}"
        );
        assert_eq!(Half::of("q1"), Half::of("q1"));
        assert_eq!("report".parse::<Half>(), Ok(Half::Report));
        assert!("both".parse::<Half>().is_err());
    }

    #[test]
    fn methods_parse_alone_in_lists_and_all() {
        assert_eq!(parse_methods("all").expect("all"), Method::ALL.to_vec());
        assert_eq!(
            parse_methods("hybrid, tfidf").expect("two"),
            vec![Method::Hybrid, Method::Tfidf]
        );
        let err = parse_methods("hybrid,bm42").expect_err("unknown");
        assert_eq!(err.fault(), paperscout_types::Fault::User);
    }
}
