//! `paperscout user ...` and `paperscout like|dislike|save|dismiss`: who the users are and
//! what they care about.

use std::io::Write;

use anyhow::{Result, bail};
use paperscout_store::{FeedbackKind, ProfileSubject, SqliteStore, Store};

use paperscout_proto::FeedbackAnswer;

use crate::cli::UserCommand;
use paperscout_app::Settings;

/// Runs `paperscout user ...`.
pub fn run(command: &UserCommand, settings: &Settings, quiet: bool) -> Result<()> {
    let path = paperscout_store::file_in(&settings.data_dir);
    match command {
        UserCommand::Add {
            name,
            papers,
            bibtex,
            interests,
        } => {
            let mut store = SqliteStore::open(&path)?;
            let now = paperscout_store::now();
            let created = match store.user(name)? {
                Some(_) if papers.is_none() && bibtex.is_none() && interests.is_empty() => {
                    bail!(
                        "a user named {name:?} already exists: give --papers or --interest to add to their profile"
                    )
                }
                Some(_) => false,
                None => {
                    store.add_user(name, now)?;
                    true
                }
            };
            let mut added = 0;
            let mut unknown = Vec::new();
            if let Some(file) = papers {
                let text = fs_err::read_to_string(file)?;
                let keys: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
                (added, unknown) = paperscout_app::users::add_papers(&mut store, name, &keys, now)?;
            }
            if let Some(file) = bibtex {
                let text = fs_err::read_to_string(file)?;
                let library = paperscout_app::library::add_library(
                    &mut store,
                    name,
                    &file.display().to_string(),
                    &text,
                    now,
                )?;
                for skipped in &library.skipped {
                    tracing::warn!("{skipped}; skipped");
                }
                added += library.added;
                if !quiet && library.external > 0 {
                    eprintln!(
                        "{} library entries not in the store joined as external papers",
                        library.external
                    );
                }
            }
            added += paperscout_app::users::add_interests(&mut store, name, interests, now)?;
            for key in &unknown {
                tracing::warn!("{key} is not in the store; ingest it first, then add it again");
            }
            if !quiet {
                let verb = if created { "created" } else { "updated" };
                eprintln!(
                    "{verb} user {name}: {added} profile items added, {} unknown papers",
                    unknown.len()
                );
            }
            Ok(())
        }
        UserCommand::List { json } => {
            let store = SqliteStore::open_read_only(&path)?;
            let users = store.users()?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &users)?;
                writeln!(out)?;
            } else {
                for user in users {
                    writeln!(out, "{}", user.name)?;
                }
            }
            Ok(())
        }
        UserCommand::Show { name, json } => {
            let store = SqliteStore::open_read_only(&path)?;
            let shown = paperscout_app::users::show(&store, name)?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &shown)?;
                writeln!(out)?;
                return Ok(());
            }
            writeln!(
                out,
                "user {} ({} papers sent so far)",
                shown.user.name, shown.sent
            )?;
            for item in &shown.profile {
                match &item.subject {
                    ProfileSubject::Paper(id) => {
                        let title = store.paper(id)?.map(|p| p.paper.title).unwrap_or_default();
                        writeln!(out, "  paper     {id}  {title}")?;
                    }
                    ProfileSubject::Interest(text) => writeln!(out, "  interest  {text}")?,
                }
            }
            for event in &shown.feedback {
                writeln!(out, "  {:<9} {}", event.kind.as_str(), event.paper_id)?;
            }
            print_settings(&mut out, name, &shown.user.settings)?;
            Ok(())
        }
        UserCommand::Set { name, change } => {
            let change = change.change();
            if change.is_empty() {
                bail!(
                    "nothing to change: give --email, a rule such as --only-category cs.LG, or see `paperscout user set --help`"
                );
            }
            let mut store = SqliteStore::open(&path)?;
            let now = paperscout_app::users::change_settings(&mut store, name, &change)?;
            if !quiet {
                print_settings(&mut std::io::stderr().lock(), name, &now)?;
            }
            Ok(())
        }
        UserCommand::Remove { name } => {
            let mut store = SqliteStore::open(&path)?;
            if !store.remove_user(name)? {
                return Err(paperscout_store::StoreError::NoSuchUser(name.clone()).into());
            }
            if !quiet {
                eprintln!("removed user {name} with their profile, feedback and digest history");
            }
            Ok(())
        }
    }
}

/// Runs `paperscout like|dislike|save|dismiss USER PAPER...`.
pub fn feedback(
    kind: FeedbackKind,
    user: &str,
    papers: &[String],
    settings: &Settings,
    quiet: bool,
) -> Result<()> {
    let mut store = SqliteStore::open(&paperscout_store::file_in(&settings.data_dir))?;
    let recorded = paperscout_app::users::record_feedback(
        &mut store,
        user,
        kind,
        papers,
        paperscout_store::now(),
    )?;
    if !quiet {
        print_feedback(&FeedbackAnswer {
            user: user.to_owned(),
            kind,
            papers: recorded.into_iter().map(|found| found.paper.id).collect(),
        });
    }
    Ok(())
}

/// What `like` and the others recorded, the same whether the daemon or this process did.
pub fn print_feedback(answer: &FeedbackAnswer) {
    for id in &answer.papers {
        eprintln!("{} {}: {id}", answer.user, past_tense(answer.kind));
    }
}

/// How a kind of feedback reads in a sentence.
pub fn past_tense(kind: FeedbackKind) -> &'static str {
    match kind {
        FeedbackKind::Like => "liked",
        FeedbackKind::Dislike => "disliked",
        FeedbackKind::Save => "saved",
        FeedbackKind::Dismiss => "dismissed",
    }
}

/// A user's e-mail address and rules, one line each.
pub fn print_settings(
    out: &mut dyn Write,
    name: &str,
    settings: &paperscout_types::UserSettings,
) -> Result<()> {
    let rules = &settings.rules;
    writeln!(
        out,
        "settings of {name}: e-mail {}",
        settings.email.as_deref().unwrap_or("(none)")
    )?;
    let lists = [
        ("only categories", &rules.categories),
        ("muted categories", &rules.mute_categories),
        ("boosted keywords", &rules.boost_keywords),
        ("muted keywords", &rules.mute_keywords),
        ("boosted authors", &rules.boost_authors),
        ("muted authors", &rules.mute_authors),
    ];
    for (label, list) in lists {
        if !list.is_empty() {
            writeln!(out, "  {label}: {}", list.join("; "))?;
        }
    }
    if let Some(floor) = rules.min_similarity {
        writeln!(out, "  minimum similarity: {floor}")?;
    }
    if let Some(size) = rules.size {
        writeln!(out, "  digest size: {size}")?;
    }
    Ok(())
}
