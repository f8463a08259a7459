//! The `paperscout` command: the one binary users run.
//!
//! It parses the command line, merges the settings, sets up logging and hands over to one
//! module per command in [`commands`]. The work itself lives in the library crates under
//! `crates/`.

mod cli;
mod client;
mod commands;
mod config;
mod daemon;
mod mail;
mod model;
mod paper_index;
mod progress;
mod recommend;
mod render;
mod store_model;
mod users;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ModelCommand};
use crate::config::Settings;
use paperscout_store::FeedbackKind;

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
            let settings = Settings::resolve(cli, Some(&args.model))?;
            if args.all {
                commands::embed::run_all(&settings, cli.quiet)
            } else if args.missing {
                commands::embed::run_missing(&settings, cli.quiet)
            } else {
                commands::embed::run(args, &settings, cli.quiet)
            }
        }
        Command::Ingest(args) => {
            let settings = Settings::resolve(cli, Some(&args.model))?;
            if daemon::running(&settings) {
                commands::remote::ingest(args, &settings, cli.quiet)
            } else {
                commands::ingest::run(args, &settings, cli.quiet)
            }
        }
        Command::User { command } => {
            let settings = Settings::resolve(cli, None)?;
            if daemon::running(&settings) {
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
            let settings = Settings::resolve(cli, Some(&args.model))?;
            if daemon::running(&settings) {
                commands::remote::digest(args, &settings, cli.quiet)
            } else {
                commands::digest::run(args, &settings, cli.quiet)
            }
        }
        Command::Mail { command } => {
            let settings = Settings::resolve(cli, None)?;
            commands::mail::run(command, &settings, cli.quiet)
        }
        Command::Index { command } => {
            let settings = Settings::resolve(cli, None)?;
            commands::index::run(command, &settings, cli.quiet)
        }
        Command::Eval(args) => {
            let settings = Settings::resolve(cli, Some(&args.model))?;
            commands::eval::run(args, &settings, cli.quiet)
        }
        Command::Serve(args) => {
            let settings = Settings::resolve(cli, Some(&args.model))?;
            daemon::serve(cli, args, &settings, cli.quiet)
        }
        Command::Status { json } => {
            let settings = Settings::resolve(cli, None)?;
            daemon::status(&settings, *json)
        }
        Command::Stop => {
            let settings = Settings::resolve(cli, None)?;
            daemon::stop(&settings, cli.quiet)
        }
        Command::Similar(args) => {
            let settings = Settings::resolve(cli, Some(&args.model))?;
            commands::query::similar(args, &settings)
        }
        Command::Recommend(args) => {
            let settings = Settings::resolve(cli, Some(&args.model))?;
            commands::query::recommend(args, &settings)
        }
        Command::Rerank(args) => {
            let settings = Settings::resolve(cli, Some(&args.model))?;
            commands::rerank::run(args, &settings, cli.quiet)
        }
        Command::Stats { json } => {
            let settings = Settings::resolve(cli, None)?;
            commands::stats::run(&settings, *json)
        }
        Command::Model {
            command: ModelCommand::Info { json, model },
        } => {
            let settings = Settings::resolve(cli, Some(model))?;
            commands::model::info(&settings, *json)
        }
    }
}

fn feedback(cli: &Cli, kind: FeedbackKind, args: &cli::FeedbackArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(cli, None)?;
    if daemon::running(&settings) {
        commands::remote::feedback(kind, &args.user, &args.papers, &settings, cli.quiet)
    } else {
        commands::user::feedback(kind, &args.user, &args.papers, &settings, cli.quiet)
    }
}

/// 2 for the user's mistakes (as clap's usage errors), 1 for everything else.
fn exit_code(err: &anyhow::Error) -> ExitCode {
    if let Some(answered) = err
        .chain()
        .find_map(|c| c.downcast_ref::<client::DaemonError>())
    {
        return ExitCode::from(answered.exit_code());
    }
    let users_fault = err.chain().any(|cause| {
        cause
            .downcast_ref::<paperscout_embed::EmbedError>()
            .is_some_and(|e| e.fault() == paperscout_embed::Fault::User)
            || matches!(
                cause.downcast_ref::<paperscout_ingest::IngestError>(),
                Some(
                    paperscout_ingest::IngestError::Strict(_)
                        | paperscout_ingest::IngestError::UnknownFormat { .. }
                )
            )
    });
    if users_fault {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
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
