//! The writing commands while a daemon runs: the daemon holds the store's writer lock, so
//! `like`, `user add`, `digest`, `ingest` and the others send their change through its socket
//! instead, and print what the local command would.

use std::io::Write;

use anyhow::{Context, Result, bail};
use paperscout_app::Settings;
use paperscout_proto::{
    Client, DigestAction, DigestRequest, FeedbackRequest, IngestRequest, Op, UndoRequest,
    UserAction, UserAnswer, UserRequest,
};
use paperscout_store::FeedbackKind;

use crate::cli::{DigestArgs, IngestArgs, UserCommand};

fn call<O: Op>(settings: &Settings, request: O) -> Result<O::Answer> {
    Ok(Client::new(&settings.socket).call(request)?)
}

/// `like|dislike|save|dismiss USER PAPER...`.
pub fn feedback(
    kind: FeedbackKind,
    user: &str,
    papers: &[String],
    settings: &Settings,
    quiet: bool,
) -> Result<()> {
    let answer = call(
        settings,
        FeedbackRequest {
            user: user.to_owned(),
            kind,
            papers: papers.to_vec(),
        },
    )?;
    if !quiet {
        eprint!("{}", paperscout_proto::tables::feedback_lines(&answer));
    }
    Ok(())
}

/// `undo USER PAPER...`.
pub fn undo(user: &str, papers: &[String], settings: &Settings, quiet: bool) -> Result<()> {
    let request = UndoRequest {
        user: user.to_owned(),
        papers: papers.to_vec(),
    };
    let answer = call(settings, request)?;
    if !quiet {
        eprint!("{}", paperscout_proto::tables::undo_lines(&answer));
    }
    Ok(())
}

/// `user add` and `user remove`; the reading subcommands read the store directly.
pub fn user(command: &UserCommand, settings: &Settings, quiet: bool) -> Result<()> {
    let change = crate::commands::user::change_of(command, settings)?;
    let request = match (command, change) {
        (_, Some((name, settings))) => UserRequest {
            settings: Box::new(settings),
            ..UserRequest::new(UserAction::Set, name)
        },
        (
            UserCommand::Add {
                name,
                papers,
                bibtex,
                interests,
            },
            None,
        ) => {
            if bibtex.is_some() {
                bail!(
                    "--bibtex cannot go through the running daemon yet: stop it (`kill -TERM` the \
                     pid `paperscout serve` printed), add the library, and start it again"
                );
            }
            let keys = paperscout_app::users::read_keys(papers.as_deref())?;
            UserRequest {
                papers: keys,
                interests: interests.clone(),
                ..UserRequest::new(UserAction::Add, name)
            }
        }
        (UserCommand::Remove { name }, None) => UserRequest::new(UserAction::Remove, name),
        (
            UserCommand::Link {
                name, revoke: true, ..
            },
            None,
        ) => UserRequest::new(UserAction::RevokeLinks, name),
        _ => {
            return crate::commands::user::run(command, settings, quiet);
        }
    };
    let answer = call(settings, request)?;
    if let UserAnswer::Added(added) = &answer {
        for key in &added.unknown {
            tracing::warn!("{key} is not in the store; ingest it first, then add it again");
        }
    }
    if !quiet {
        eprint!("{}", paperscout_proto::tables::user_lines(&answer));
    }
    Ok(())
}

/// `digest`: the daemon chooses, renders and (unless --dry-run) records in one step.
pub fn digest(args: &DigestArgs, settings: &Settings, quiet: bool) -> Result<()> {
    let answer = call(
        settings,
        DigestRequest {
            user: args.user.clone(),
            action: if args.dry_run {
                DigestAction::Preview
            } else {
                DigestAction::Send
            },
            date: args.date.clone(),
            days: args.days,
            size: args.size,
            mmr_lambda: Some(args.mmr_lambda),
            min_similarity: args.min_similarity,
            format: args.format.into(),
            email: args.email,
        },
    )?;
    let candidates = answer.digest.candidates;
    if candidates == 0 {
        tracing::warn!(
            "no new papers for {} announced {} … {}; no digest",
            args.user,
            answer.digest.from,
            answer.digest.to
        );
        return Ok(());
    }
    let rendered = answer.rendered.as_deref().unwrap_or_default();
    match &args.out {
        Some(path) => paperscout_app::files::write_atomically(path, rendered.as_bytes())?,
        None => std::io::stdout().lock().write_all(rendered.as_bytes())?,
    }
    if !quiet {
        match answer.recorded {
            Some(recorded) => eprintln!(
                "digest for {}: {recorded} of {candidates} papers; recorded as sent",
                args.user
            ),
            None => eprintln!("dry run: papers not recorded as sent"),
        }
    }
    Ok(())
}

/// `ingest`: the daemon reads each file (given as an absolute path) or URL itself.
pub fn ingest(args: &IngestArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if args.no_embed || args.strict {
        bail!(
            "--no-embed and --strict are not available through the running daemon: stop it, or \
             leave them out"
        );
    }
    let mut reports = Vec::new();
    for source in &args.sources {
        let path = if paperscout_ingest::is_url(source) {
            source.clone()
        } else if source == "-" {
            bail!("the running daemon cannot read this terminal's standard input: give a file");
        } else {
            std::fs::canonicalize(source)
                .with_context(|| format!("cannot read {source}"))?
                .display()
                .to_string()
        };
        let answer = call(
            settings,
            IngestRequest {
                path: Some(path),
                papers: Vec::new(),
                batch: Some(args.papers_per_batch as usize),
                ..Default::default()
            },
        )?;
        for bad in &answer.bad_records {
            tracing::warn!("{bad}; skipped");
        }
        if !quiet && !args.json {
            let line =
                paperscout_proto::tables::ingest_line(source, &answer.report, answer.seconds);
            eprintln!("{line}");
        }
        reports.push(answer);
    }
    if args.json {
        super::print(true, &reports, |_| String::new())?;
    }
    Ok(())
}
