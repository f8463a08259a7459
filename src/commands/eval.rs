//! `paperscout eval`: judges the ranking methods on a data set in the format of
//! `shared/EVAL.md` ([`paperscout_app::evaluation`]); a table on standard error, the report as
//! JSON on standard output.

use std::io::Write;

use anyhow::Result;
use indicatif::ProgressBar;
use paperscout_app::Settings;
use paperscout_app::evaluation::{Event, Request, evaluate, parse_methods};
use paperscout_rank::HybridParams;
use paperscout_rank::eval::{Options, SectionOptions};

use crate::cli::EvalArgs;

/// Runs the command.
pub fn run(args: &EvalArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if let Some(user) = &args.user {
        return super::query::backtest(user, args.holdout, settings, quiet);
    }
    // clap requires the three files without --user.
    let request = Request {
        methods: parse_methods(&args.method)?,
        papers: args.papers.clone().unwrap_or_default(),
        queries: args.queries.clone().unwrap_or_default(),
        qrels: args.qrels.clone().unwrap_or_default(),
        vectors: args.vectors.clone(),
        max_queries: args.max_queries,
        half: args.half,
        options: Options {
            candidates_since: args.candidates_since.clone(),
            k_max: args.k_max,
            single_paper: args.single_paper,
            hybrid: HybridParams {
                temperature: args.temperature,
                lexical_weight: args.lexical_weight,
                lexical_temperature: args.lexical_temperature,
                recency_decay: args.recency_decay,
                lexical_hubness: args.lexical_hubness,
            },
            char_grams: args.char_grams,
        },
        sections: args.sections.then(|| SectionOptions::for_size(10)),
    };
    let mut bar: Option<ProgressBar> = None;
    let report = evaluate(settings, &request, &mut |event| match event {
        Event::Ingesting {
            bytes,
            len,
            read,
            embedded,
        } => {
            let bar = bar.get_or_insert_with(|| crate::progress::bytes(len, quiet));
            bar.set_position(bytes);
            bar.set_message(format!("{read} papers, {embedded} embedded"));
        }
        Event::Embedded(count) => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            if !quiet {
                eprintln!("embedded {count} papers the store lacked");
            }
        }
        Event::Ranking(method) => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            if !quiet {
                eprintln!("ranking with {method}…");
            }
        }
    })?;
    if !quiet {
        eprint!("\n{}", report.table());
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    Ok(())
}
