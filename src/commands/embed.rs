//! `paperscout embed`: JSONL records in, one vector per record out, in input order; or the
//! store's missing vectors, or the whole store under a new model ([`paperscout_app::embedding`]).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use paperscout_app::Settings;
use paperscout_app::embedding::{StreamEvent, VectorFormat, embed_missing, embed_stream};
use paperscout_app::store_model::StoreModel;

use crate::cli::{EmbedArgs, OutputFormat};

/// `embed --missing`: embeds every stored paper that lacks a current embedding under the model.
pub fn run_missing(settings: &Settings, quiet: bool) -> Result<()> {
    let mut store = settings.store.open()?;
    let model = StoreModel::load(settings)?;
    fill_missing(&mut store, &model, quiet)
}

/// `paperscout embed --all`: every paper embedded with the settings' model, its index built
/// in its own folder, then the data directory switched to it by one rename. When the model is
/// the one in use, every vector is made again in the precision that runs now (and its index
/// built anew): how a store moves to int8, or back to FP32.
pub fn run_all(settings: &Settings, quiet: bool) -> Result<()> {
    if paperscout_daemon::running(settings) {
        bail!(
            "the daemon holds the store: stop it (`paperscout stop`), run `embed --all`, then start it again; it will serve with the new model"
        );
    }
    let mut store = settings.store.open()?;
    let model = StoreModel::load(settings)?;
    if paperscout_app::embedding::in_use(settings, &store, model.key())? {
        rewrite(&mut store, settings, &model, quiet)?;
    }
    fill_missing(&mut store, &model, quiet)?;
    let switched = paperscout_app::embedding::switch_model(settings, &store, &model)?;
    if !quiet {
        eprintln!(
            "{} now uses {} in {} ({} papers indexed in {:.1} s); the previous model's vectors and index are kept. \
             Start the daemon again to serve with it; a config file or PAPERSCOUT_MODEL that names a model still wins over the switch",
            settings.data_dir.display(),
            paperscout_ingest::TextEmbedder::key(&model).name,
            model.embedder().info().precision,
            switched.indexed,
            switched.seconds
        );
    }
    Ok(())
}

/// Makes every vector of the model in use again, in the precision it runs in now.
fn rewrite(
    store: &mut dyn paperscout_store::Store,
    settings: &Settings,
    model: &StoreModel,
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let mut bar = ProgressBar::hidden();
    let rewritten = paperscout_app::embedding::rewrite_all(
        &settings.data_dir,
        store,
        model,
        &mut |done, total| {
            if done == 0 {
                bar = crate::progress::items(total as u64, "papers", quiet);
            }
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {rewritten} papers again in {} in {seconds:.1} s ({:.1} papers/s)",
            model.embedder().info().precision,
            rewritten as f64 / seconds.max(1e-9)
        );
    }
    Ok(())
}

fn fill_missing(
    store: &mut dyn paperscout_store::Store,
    model: &StoreModel,
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let mut bar = ProgressBar::hidden();
    let embedded = embed_missing(store, model, &mut |done, total| {
        if done == 0 {
            bar = crate::progress::items(total as u64, "papers", quiet);
        }
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {embedded} papers that lacked a current {} embedding in {seconds:.1} s ({:.1} papers/s)",
            model.key().name,
            embedded as f64 / seconds.max(1e-9)
        );
    }
    Ok(())
}

/// Runs the command.
pub fn run(args: &EmbedArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if args.format == OutputFormat::F32 && args.out.is_none() && std::io::stdout().is_terminal() {
        bail!("--format f32 writes binary data: give --out FILE or redirect standard output");
    }
    let (embedder, _) = paperscout_app::model::load(settings)?;
    let (reader, input_len) = open_input(&args.input)?;
    let progress = crate::progress::bytes(input_len, quiet);
    let counting = progress.wrap_read(reader);
    let format = match args.format {
        OutputFormat::Jsonl => VectorFormat::Jsonl,
        OutputFormat::F32 => VectorFormat::F32,
    };
    let mut events = |event: StreamEvent<'_>| match event {
        StreamEvent::Skipped { line, why } => {
            progress.suspend(|| tracing::warn!("line {line}: {why}; skipped"));
        }
        StreamEvent::Embedded(count) => progress.set_message(format!("{count} embedded")),
    };
    let started = Instant::now();
    let summary = match &args.out {
        Some(path) => paperscout_app::files::write_in_one_rename(path, |out| {
            embed_stream(counting, out, &embedder, format, args.strict, &mut events)
        })?,
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let summary = embed_stream(
                counting,
                &mut out,
                &embedder,
                format,
                args.strict,
                &mut events,
            )?;
            out.flush().context("could not write to standard output")?;
            summary
        }
    };
    progress.finish_and_clear();
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "embedded {} records ({} skipped) in {seconds:.1} s: {:.1} texts/s, {}-d vectors",
            summary.embedded,
            summary.skipped,
            summary.embedded as f64 / seconds.max(1e-9),
            embedder.dim(),
        );
    }
    Ok(())
}

fn open_input(path: &Path) -> Result<(Box<dyn Read>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin().lock()), None));
    }
    let file = fs_err::File::open(path).context("cannot read the input")?;
    let len = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), len))
}
