//! `paperscout eval`: judges the ranking methods on a data set in the format of
//! `shared/EVAL.md`, with paperscout's own embeddings (cached in the store) or imported ones.

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use paperscout_ingest::{Options as IngestOptions, Progress, Records, TextEmbedder, ingest};
use paperscout_rank::eval::{Corpus, Options, Outcome, Prepared};
use paperscout_rank::{HybridParams, Matrix, Method, Summary, summarise};
use paperscout_store::{SqliteStore, Store};
use serde::Serialize;

use crate::cli::EvalArgs;
use paperscout_app::Settings;
use paperscout_app::eval_set::{imported_vectors, read_papers, read_queries, sample};
use paperscout_app::store_model::StoreModel;

/// Bootstrap resamples for the intervals.
const RESAMPLES: usize = 1000;

#[derive(Clone, Serialize)]
struct MethodReport {
    method: String,
    model: String,
    queries: usize,
    candidates: usize,
    #[serde(flatten)]
    summary: Summary,
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    first: MethodReport,
    /// Every method run, the headline one included, when several were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    methods: Vec<MethodReport>,
    single_paper: bool,
    seconds: f64,
}

/// Runs the command.
pub fn run(args: &EvalArgs, settings: &Settings, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let methods: Vec<Method> = if args.method == "all" {
        Method::ALL.to_vec()
    } else {
        args.method
            .split(',')
            .map(|name| name.trim().parse().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?
    };
    let papers_arg = args.papers.to_string_lossy().into_owned();
    let needs_vectors = methods.iter().any(|m| m.needs_embeddings());

    // Vectors come from a file given, or from the store (embedding what it lacks).
    let (model_name, vectors_by_id) = match (&args.vectors, needs_vectors) {
        (_, false) => ("none".to_owned(), None),
        (Some(path), true) => (format!("imported from {}", path.display()), None),
        (None, true) => {
            let (name, vectors) = store_vectors(&papers_arg, settings, quiet)?;
            (name, Some(vectors))
        }
    };

    let papers = read_papers(&papers_arg)?;
    let index: HashMap<&str, usize> = papers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let vectors = match (&args.vectors, vectors_by_id) {
        _ if !needs_vectors => None,
        (Some(path), _) => Some(imported_vectors(path, papers.len())?),
        (None, Some(mut by_id)) => {
            let dim = by_id.values().next().map_or(384, Vec::len);
            let mut matrix = Matrix::new(dim);
            for paper in &papers {
                let vector = by_id
                    .remove(&paper.id)
                    .with_context(|| format!("the store has no embedding of {}", paper.id))?;
                matrix.push(&vector);
            }
            Some(matrix)
        }
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
    let mut queries = read_queries(&args.queries, &args.qrels, &index)?;
    if let Some(limit) = args.max_queries {
        sample(&mut queries, limit);
    }
    let options = Options {
        candidates_since: args.candidates_since.clone(),
        k_max: args.k_max,
        single_paper: args.single_paper,
        hybrid: HybridParams {
            temperature: args.temperature,
            lexical_weight: args.lexical_weight,
            lexical_temperature: args.lexical_temperature,
            recency_decay: args.recency_decay,
        },
    };
    let prepared = Prepared::new(&corpus, &options);

    let mut reports = Vec::new();
    for method in methods {
        if !quiet {
            eprintln!("ranking with {method}…");
        }
        let Outcome {
            per_query, seconds, ..
        } = prepared.run(&corpus, &queries, method, &options);
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
        });
    }
    if !quiet {
        print_table(&reports);
    }
    // The headline is the default method when it ran, else the first one.
    let headline = reports
        .iter()
        .position(|r| r.method == Method::Hybrid.name())
        .unwrap_or(0);
    let first = reports.get(headline).context("no method to run")?.clone();
    let report = Report {
        first,
        methods: if reports.len() > 1 {
            reports
        } else {
            Vec::new()
        },
        single_paper: args.single_paper,
        seconds: started.elapsed().as_secs_f64(),
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    Ok(())
}

fn print_table(reports: &[MethodReport]) {
    let interval =
        |e: paperscout_rank::Estimate| format!("{:.4} [{:.4}, {:.4}]", e.mean, e.low, e.high);
    eprintln!("\n| method | queries | nDCG@10 | recall@10 | recall@100 | MRR | MAP@100 | s |");
    eprintln!("|---|---:|---|---|---|---|---|---:|");
    for r in reports {
        eprintln!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            r.method,
            r.queries,
            interval(r.summary.ndcg_10),
            interval(r.summary.recall_10),
            interval(r.summary.recall_100),
            interval(r.summary.mrr),
            interval(r.summary.map_100),
            r.seconds
        );
    }
}

/// Ingests the papers into the store, embedding those it lacks, and reads their vectors back.
fn store_vectors(
    papers: &str,
    settings: &Settings,
    quiet: bool,
) -> Result<(String, HashMap<String, Vec<f32>>)> {
    let path = paperscout_store::file_in(&settings.data_dir);
    let mut store = SqliteStore::open(&path)?;
    let model = StoreModel::load(settings)?;
    let input = paperscout_ingest::open(papers)?;
    let bar = crate::progress::bytes(input.len, quiet);
    let consumed = std::sync::Arc::clone(&input.consumed);
    let report = ingest(
        &mut store,
        Records::new(input)?,
        papers,
        Some(&model as &dyn TextEmbedder),
        IngestOptions::default(),
        paperscout_store::now(),
        &mut |progress| {
            if let Progress::Committed(report) = progress {
                bar.set_position(consumed.load(std::sync::atomic::Ordering::Relaxed));
                bar.set_message(format!(
                    "{} papers, {} embedded",
                    report.read, report.written.embedded
                ));
            }
        },
    )?;
    bar.finish_and_clear();
    if !quiet && report.written.embedded > 0 {
        eprintln!(
            "embedded {} papers the store lacked",
            report.written.embedded
        );
    }
    let mut vectors = HashMap::new();
    store.for_each_embedding(model.key(), &mut |id, vector| {
        vectors.insert(id.to_owned(), vector.to_vec());
    })?;
    Ok((model.key().name.clone(), vectors))
}
