//! `paperscout digest`: a user's papers of the day, chosen, diversified, explained, rendered,
//! and recorded as sent so none is ever sent twice.
//!
//! To a file (`--out`), the order is the outbox's (`paperscout_app::sent_file`): the output
//! pending, the papers recorded as sent, the output in place; a digest a crash interrupted is
//! settled by the next run, so no paper is sent twice and none recorded is lost. To standard
//! output, which cannot be taken back, the digest is written and then recorded: a crash
//! between the two can show a paper again in the next digest, never drop one.

use std::io::Write;

use anyhow::Result;
use paperscout_rank::DigestParams;
use paperscout_store::Store;

use crate::cli::DigestArgs;
use paperscout_app::Settings;
use paperscout_app::choose::{self, Window};
use paperscout_app::store_model::StoreModel;

/// Runs the command.
pub fn run(args: &DigestArgs, settings: &Settings, quiet: bool) -> Result<()> {
    params(args)
        .check()
        .map_err(paperscout_app::AppError::BadSetting)?;
    let mut store = settings.store.open()?;
    let user = &args.user;
    store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.clone()))?;
    // Before the model loads: an e-mail digest needs an address and a server.
    let email = if args.email {
        let recipient = paperscout_app::mail::recipient(&store, user)?;
        let mut mailer = paperscout_app::mail::Mailer::new(&settings.mail)?;
        // With a web page configured, each pick carries its one-click links.
        let epoch = store
            .user(user)?
            .map_or(0, |found| found.settings.links_epoch);
        if let Some(links) = paperscout_web::links::UserLinks::when_served(settings, user, epoch)? {
            mailer = mailer.with_links(links);
        }
        Some((recipient, mailer))
    } else {
        None
    };
    if let (Some(out), false) = (&args.out, args.dry_run) {
        let settled = paperscout_app::sent_file::finish_interrupted(&store, out)?;
        if let Some(message) = settled.completed(user, out) {
            if !quiet {
                eprintln!("{message}");
            }
            return Ok(());
        }
    }
    let model = StoreModel::load(settings)?;
    let day = match &args.date {
        Some(text) => choose::parse_day(text, "--date")?,
        None => choose::today(),
    };
    let window = Window {
        day,
        days: args.days,
        after_last_sent: true,
    };
    let digest = choose::build(&store, &model, user, window, &params(args), args.size)?;
    if digest.candidates == 0 {
        tracing::warn!(
            "no new papers for {user} announced {} … {} (a weekend, a holiday, or nothing ingested yet); no digest",
            digest.from,
            digest.to
        );
        return Ok(());
    }
    if let Some((recipient, mailer)) = email {
        let outbox = settings.outbox();
        return send_by_email(
            &mut store,
            &digest,
            (&recipient, &mailer),
            &outbox,
            args,
            quiet,
        );
    }
    let rendered =
        paperscout_app::render::render(&digest, args.format.into(), paperscout_store::now());
    let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
    let recorded = match (&args.out, args.dry_run) {
        (Some(path), false) => {
            paperscout_app::sent_file::write_and_record(&mut store, user, &ids, &rendered, path)?
        }
        (Some(path), true) => {
            paperscout_app::files::write_atomically(path, rendered.as_bytes())?;
            0
        }
        (None, dry_run) => {
            let mut out = std::io::stdout().lock();
            out.write_all(rendered.as_bytes())?;
            out.flush()?;
            if dry_run {
                0
            } else {
                store.record_sent(user, &ids, paperscout_store::now())?
            }
        }
    };
    if args.dry_run {
        if !quiet {
            eprintln!(
                "dry run: {} papers not recorded as sent",
                digest.papers.len()
            );
        }
        return Ok(());
    }
    paperscout_app::outbox::keep_sent(&settings.outbox(), &digest, paperscout_store::now());
    if !quiet {
        eprintln!(
            "digest for {user}: {} of {} papers announced {} … {}; recorded as sent",
            recorded, digest.candidates, digest.from, digest.to
        );
    }
    Ok(())
}

/// Queues the digest's message with the papers' record (one transaction), then delivers it;
/// with --dry-run prints the message and records nothing.
fn send_by_email(
    store: &mut dyn Store,
    digest: &choose::Digest,
    (recipient, mailer): (&str, &paperscout_app::mail::Mailer),
    outbox: &std::path::Path,
    args: &DigestArgs,
    quiet: bool,
) -> Result<()> {
    if digest.papers.is_empty() {
        tracing::warn!(
            "nothing for {} passed the ranking's floor among {} papers; no e-mail",
            digest.user,
            digest.candidates
        );
        return Ok(());
    }
    if args.dry_run {
        let message = mailer.compose(digest, recipient)?;
        std::io::stdout().lock().write_all(&message)?;
        if !quiet {
            eprintln!("dry run: nothing sent or recorded");
        }
        return Ok(());
    }
    let recorded = paperscout_app::mail::queue(store, digest, mailer, recipient)?;
    paperscout_app::outbox::keep_sent(outbox, digest, paperscout_store::now());
    let delivery = paperscout_app::mail::deliver_queued(store, mailer)?;
    if !quiet {
        eprintln!(
            "digest for {}: {recorded} papers recorded as sent; {} e-mail delivered",
            digest.user, delivery.delivered
        );
    }
    if !delivery.failed.is_empty() {
        anyhow::bail!(
            "{} e-mail could not be delivered and stay queued ({}); `paperscout mail flush` or the daemon tries again",
            delivery.failed.len(),
            delivery.failed.join("; ")
        );
    }
    Ok(())
}

/// The chooser's knobs from the command line.
fn params(args: &DigestArgs) -> DigestParams {
    DigestParams {
        mmr_lambda: args.mmr_lambda,
        min_similarity: args.min_similarity,
        ..DigestParams::default()
    }
}
