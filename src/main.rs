//! The `paperscout` command: the one binary users run.
//!
//! It parses the command line, merges the settings, sets up logging and hands over to one
//! module per command in [`commands`]. The work itself lives in the library crates under
//! `crates/`.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ModelCommand};
use paperscout_app::Settings;
use paperscout_store::FeedbackKind;
use paperscout_types::Fault;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("paperscout: error: {err:#}");
            exit_code(&err)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Embed(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            if args.all {
                commands::embed::run_all(&settings, cli.quiet)
            } else if args.missing {
                commands::embed::run_missing(&settings, cli.quiet)
            } else {
                commands::embed::run(args, &settings, cli.quiet)
            }
        }
        Command::Ingest(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            if paperscout_daemon::running(&settings) {
                commands::remote::ingest(args, &settings, cli.quiet)
            } else {
                commands::ingest::run(args, &settings, cli.quiet)
            }
        }
        Command::User { command } => {
            let settings = Settings::resolve(&cli.overrides(None))?;
            if paperscout_daemon::running(&settings) {
                commands::remote::user(command, &settings, cli.quiet)
            } else {
                commands::user::run(command, &settings, cli.quiet)
            }
        }
        Command::Like(args) => feedback(cli, FeedbackKind::Like, args),
        Command::Dislike(args) => feedback(cli, FeedbackKind::Dislike, args),
        Command::Save(args) => feedback(cli, FeedbackKind::Save, args),
        Command::Dismiss(args) => feedback(cli, FeedbackKind::Dismiss, args),
        Command::Digest(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            if paperscout_daemon::running(&settings) {
                commands::remote::digest(args, &settings, cli.quiet)
            } else {
                commands::digest::run(args, &settings, cli.quiet)
            }
        }
        Command::Mail { command } => {
            let settings = Settings::resolve(&cli.overrides(None))?;
            commands::mail::run(command, &settings, cli.quiet)
        }
        Command::Index { command } => {
            let settings = Settings::resolve(&cli.overrides(None))?;
            commands::index::run(command, &settings, cli.quiet)
        }
        Command::Eval(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            commands::eval::run(args, &settings, cli.quiet)
        }
        Command::Serve(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            commands::serve::run(cli, args, &settings, cli.quiet)
        }
        Command::Status { json } => {
            let settings = Settings::resolve(&cli.overrides(None))?;
            commands::serve::status(&settings, *json)
        }
        Command::Stop => {
            let settings = Settings::resolve(&cli.overrides(None))?;
            commands::serve::stop(&settings, cli.quiet)
        }
        Command::Similar(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            commands::query::similar(args, &settings)
        }
        Command::Recommend(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            commands::query::recommend(args, &settings)
        }
        Command::WhyNot(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            commands::query::why_not(args, &settings)
        }
        Command::Rerank(args) => {
            let settings = Settings::resolve(&cli.overrides(Some(&args.model)))?;
            commands::rerank::run(args, &settings, cli.quiet)
        }
        Command::Stats { json } => {
            let settings = Settings::resolve(&cli.overrides(None))?;
            commands::stats::run(&settings, *json)
        }
        Command::Model {
            command: ModelCommand::Info { json, model },
        } => {
            let settings = Settings::resolve(&cli.overrides(Some(model)))?;
            commands::model::info(&settings, *json)
        }
    }
}

fn feedback(cli: &Cli, kind: FeedbackKind, args: &cli::FeedbackArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli.overrides(None))?;
    if paperscout_daemon::running(&settings) {
        commands::remote::feedback(kind, &args.user, &args.papers, &settings, cli.quiet)
    } else {
        commands::user::feedback(kind, &args.user, &args.papers, &settings, cli.quiet)
    }
}

/// The exit status of a failed command, from the fault of the first paperscout error in its
/// chain (see [`Fault::exit_code`]); 1 for anything else.
fn exit_code(err: &anyhow::Error) -> ExitCode {
    macro_rules! fault_of {
        ($cause:expr, $($error:ty),+) => {
            None $(.or_else(|| $cause.downcast_ref::<$error>().map(<$error>::fault)))+
        };
    }
    let fault = err.chain().find_map(|cause| {
        fault_of!(
            cause,
            paperscout_app::AppError,
            paperscout_daemon::DaemonError,
            paperscout_web::WebError,
            paperscout_proto::ClientError,
            paperscout_embed::EmbedError,
            paperscout_ingest::IngestError,
            paperscout_store::StoreError
        )
    });
    ExitCode::from(fault.map_or(1, Fault::exit_code))
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // hnsw_rs narrates its work at info level; its warnings still show.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},hnsw_rs=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
