//! `paperscout user ...` and `paperscout like|dislike|save|dismiss`: who the users are and
//! what they care about.

use std::io::Write;

use anyhow::{Context, Result, bail};
use paperscout_store::{FeedbackKind, Store};

use paperscout_proto::tables::{feedback_lines, shown_text, undo_lines, user_lines};
use paperscout_proto::{
    Added, FeedbackAnswer, Removed, Revoked, SettingsSet, UndoAnswer, UserAnswer,
};

use crate::cli::UserCommand;
use paperscout_app::Settings;
use paperscout_app::users::{SettingsChange, watch_change};

/// Runs `paperscout user ...`.
pub fn run(command: &UserCommand, settings: &Settings, quiet: bool) -> Result<()> {
    match command {
        UserCommand::Set { .. }
        | UserCommand::Watch { .. }
        | UserCommand::Unwatch { .. }
        | UserCommand::Follow { .. }
        | UserCommand::Unfollow { .. } => {
            let (name, change) = change_of(command, settings)?.context("no settings to change")?;
            let mut store = settings.store.open()?;
            let mut settings = paperscout_app::users::change_settings(&mut store, name, &change)?;
            if change.follow.is_some() {
                let now = paperscout_store::now();
                for (file, synced) in paperscout_app::library::sync_follows(&mut store, name, now)?
                {
                    eprint!(
                        "{}",
                        paperscout_proto::tables::synced_lines(name, &file, &synced?)
                    );
                }
                settings = store.user(name)?.context("the user")?.settings;
            }
            let user = name.to_owned();
            report(
                &UserAnswer::Set(Box::new(SettingsSet { user, settings })),
                quiet,
            )
        }
        UserCommand::Add {
            name,
            papers,
            bibtex,
            interests,
        } => {
            let mut store = settings.store.open()?;
            if store.user(name)?.is_some()
                && papers.is_none()
                && bibtex.is_none()
                && interests.is_empty()
            {
                bail!(
                    "a user named {name:?} already exists: give --papers or --interest to add to their profile"
                )
            }
            let keys = paperscout_app::users::read_keys(papers.as_deref())?;
            let library = match bibtex {
                Some(file) => Some((file.display().to_string(), fs_err::read_to_string(file)?)),
                None => None,
            };
            let additions = paperscout_app::users::Additions {
                papers: &keys,
                interests,
                library: library.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            };
            let done = paperscout_app::users::add_to_profile(
                &mut store,
                name,
                &additions,
                paperscout_store::now(),
            )?;
            for skipped in &done.skipped {
                tracing::warn!("{skipped}; skipped");
            }
            if !quiet && done.external > 0 {
                eprintln!(
                    "{} library entries not in the store joined as external papers",
                    done.external
                );
            }
            for key in &done.unknown {
                tracing::warn!("{key} is not in the store; ingest it first, then add it again");
            }
            let answer = UserAnswer::Added(Added {
                user: name.clone(),
                created: done.created,
                added: done.added,
                unknown: done.unknown,
            });
            report(&answer, quiet)
        }
        UserCommand::List { json } => {
            let users = settings.store.open_read_only()?.users()?;
            super::print(*json, &users, |users| {
                users
                    .iter()
                    .map(|user| format!("{}\n", user.name))
                    .collect()
            })
        }
        UserCommand::Facet { .. } => super::query::facets(command, settings),
        UserCommand::Show { name, json } => {
            let store = settings.store.open_read_only()?;
            let shown = paperscout_app::users::show(&store, name)?;
            let title = |id: &str| store.paper(id).ok().flatten().map(|p| p.paper.title);
            super::print(*json, &shown, |shown| shown_text(shown, &title))
        }
        UserCommand::Link {
            name,
            revoke,
            days,
            http,
        } => {
            if *revoke {
                let mut store = settings.store.open()?;
                let links_epoch = paperscout_app::users::revoke_links(&mut store, name)?;
                let answer = UserAnswer::Revoked(Revoked {
                    revoked: name.clone(),
                    links_epoch,
                });
                return report(&answer, quiet);
            }
            let store = settings.store.open_read_only()?;
            let user = store
                .user(name)?
                .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(name.clone()))?;
            let maker = paperscout_web::links::LinkMaker::from_settings(settings, http.as_deref())?;
            let link = maker.login(
                name,
                user.settings.links_epoch,
                *days,
                paperscout_store::now(),
            );
            writeln!(std::io::stdout().lock(), "{link}")?;
            Ok(())
        }
        UserCommand::Remove { name } => {
            let mut store = settings.store.open()?;
            if !store.remove_user(name)? {
                return Err(paperscout_store::StoreError::NoSuchUser(name.clone()).into());
            }
            let answer = UserAnswer::Removed(Removed {
                removed: name.clone(),
            });
            report(&answer, quiet)
        }
    }
}

/// The settings change `user set`, `user watch` and `user unwatch` ask for, with the user's
/// name; none for the other commands. A watched file is read here, by the command's user.
pub fn change_of<'a>(
    command: &'a UserCommand,
    settings: &Settings,
) -> Result<Option<(&'a str, SettingsChange)>> {
    Ok(Some(match command {
        UserCommand::Set { name, change } => {
            let change = change.change();
            if change.is_empty() {
                bail!(
                    "nothing to change: give --email, a rule such as --only-category cs.LG, or see `paperscout user set --help`"
                );
            }
            (name, change)
        }
        UserCommand::Watch {
            name,
            text,
            paper,
            threshold,
        } => {
            let text = match text {
                Some(path) => {
                    let label = path.file_name().unwrap_or(path.as_os_str());
                    Some((
                        label.to_string_lossy().into_owned(),
                        fs_err::read_to_string(path)?,
                    ))
                }
                None => None,
            };
            let text = text
                .as_ref()
                .map(|(label, text)| (label.as_str(), text.clone()));
            let store = settings.store.open_read_only()?;
            let change = watch_change(&store, text, paper.as_deref(), *threshold)?;
            (name, change)
        }
        UserCommand::Unwatch { name, label } => (
            name,
            SettingsChange {
                unwatch: Some(label.clone()),
                ..SettingsChange::default()
            },
        ),
        UserCommand::Follow {
            name,
            bibtex,
            zotero,
            collection,
        } => {
            let file = bibtex.as_ref().or(zotero.as_ref()).context("a library")?;
            let follow = Some(fs_err::canonicalize(file)?.display().to_string());
            let collection = collection.clone();
            (
                name,
                SettingsChange {
                    follow,
                    collection,
                    ..SettingsChange::default()
                },
            )
        }
        UserCommand::Unfollow { name, path } => (
            name,
            SettingsChange {
                unfollow: Some(path.clone()),
                ..SettingsChange::default()
            },
        ),
        _ => return Ok(None),
    }))
}

/// What a changing command did, as the remote command prints it too.
fn report(answer: &UserAnswer, quiet: bool) -> Result<()> {
    if !quiet {
        eprint!("{}", user_lines(answer));
    }
    Ok(())
}

/// Runs `paperscout undo USER PAPER...`.
pub fn undo(user: &str, papers: &[String], settings: &Settings, quiet: bool) -> Result<()> {
    let mut store = settings.store.open()?;
    let undone = paperscout_app::users::undo_feedback(&mut store, user, papers)?;
    if !quiet {
        let answer = UndoAnswer::new(user, undone);
        eprint!("{}", undo_lines(&answer));
    }
    Ok(())
}

/// Runs `paperscout like|dislike|save|dismiss USER PAPER...`.
pub fn feedback(
    kind: FeedbackKind,
    user: &str,
    papers: &[String],
    settings: &Settings,
    quiet: bool,
) -> Result<()> {
    let mut store = settings.store.open()?;
    let recorded = paperscout_app::users::record_feedback(
        &mut store,
        user,
        kind,
        papers,
        paperscout_store::now(),
    )?;
    if !quiet {
        eprint!(
            "{}",
            feedback_lines(&FeedbackAnswer {
                user: user.to_owned(),
                kind,
                papers: recorded.into_iter().map(|found| found.paper.id).collect(),
            })
        );
    }
    Ok(())
}
