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
    let quiet = cli.quiet;
    // The settings: the config file under the flags; `model` for the commands that run it.
    let resolve = |model| Settings::resolve(&cli.overrides(model));
    match &cli.command {
        Command::Embed(args) => {
            let settings = resolve(Some(&args.model))?;
            if args.all {
                commands::embed::run_all(&settings, quiet)
            } else if args.missing {
                commands::embed::run_missing(&settings, quiet)
            } else {
                commands::embed::run(args, &settings, quiet)
            }
        }
        Command::Ingest(args) => {
            let settings = resolve(Some(&args.model))?;
            if paperscout_daemon::running(&settings) {
                commands::remote::ingest(args, &settings, quiet)
            } else {
                commands::ingest::run(args, &settings, quiet)
            }
        }
        Command::User { command } => {
            let settings = resolve(None)?;
            if paperscout_daemon::running(&settings) {
                commands::remote::user(command, &settings, quiet)
            } else {
                commands::user::run(command, &settings, quiet)
            }
        }
        Command::Like(args) => feedback(cli, FeedbackKind::Like, args),
        Command::Dislike(args) => feedback(cli, FeedbackKind::Dislike, args),
        Command::Save(args) => feedback(cli, FeedbackKind::Save, args),
        Command::Dismiss(args) => feedback(cli, FeedbackKind::Dismiss, args),
        Command::Undo(args) => {
            let settings = resolve(None)?;
            if paperscout_daemon::running(&settings) {
                commands::remote::undo(&args.user, &args.papers, &settings, quiet)
            } else {
                commands::user::undo(&args.user, &args.papers, &settings, quiet)
            }
        }
        Command::Digest(args) => {
            let settings = resolve(Some(&args.model))?;
            if paperscout_daemon::running(&settings) {
                commands::remote::digest(args, &settings, quiet)
            } else {
                commands::digest::run(args, &settings, quiet)
            }
        }
        Command::Sources { command, json } => commands::sources::run(
            command.as_ref(),
            *json,
            &resolve(None)?,
            cli.config.as_deref(),
            quiet,
        ),
        Command::Mail { command } => commands::mail::run(command, &resolve(None)?, quiet),
        Command::Store { command } => commands::store::run(command, &resolve(None)?, quiet),
        Command::Index { command } => commands::index::run(command, &resolve(None)?, quiet),
        Command::Eval(args) => commands::eval::run(args, &resolve(Some(&args.model))?, quiet),
        Command::Serve(args) => {
            commands::serve::run(cli, args, &resolve(Some(&args.model))?, quiet)
        }
        Command::Status { json } => commands::serve::status(&resolve(None)?, *json),
        Command::Stop => commands::serve::stop(&resolve(None)?, quiet),
        Command::Similar(args) => commands::query::similar(args, &resolve(Some(&args.model))?),
        Command::Recommend(args) => commands::query::recommend(args, &resolve(Some(&args.model))?),
        Command::WhyNot(args) => commands::query::why_not(args, &resolve(Some(&args.model))?),
        Command::Rerank(args) => commands::rerank::run(args, &resolve(Some(&args.model))?, quiet),
        Command::Stats { json } => commands::stats::run(&resolve(None)?, *json),
        Command::Model {
            command: ModelCommand::Info { json, model },
        } => commands::model::info(&resolve(Some(model))?, *json),
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
