//! `paperscout mail queue|flush`: the outbox of digest e-mail and webhook posts.

use anyhow::{Result, bail};
use paperscout_store::Store;

use crate::cli::MailCommand;
use paperscout_app::Settings;

/// Runs the command.
pub fn run(command: &MailCommand, settings: &Settings, quiet: bool) -> Result<()> {
    match command {
        MailCommand::Queue { json } => {
            let store = settings.store.open_read_only()?;
            let queued = store.undelivered_mail()?;
            super::print(*json, &queued, |q| {
                paperscout_proto::tables::mail_queue_lines(q)
            })
        }
        MailCommand::Flush => {
            if paperscout_daemon::running(settings) {
                bail!(
                    "the daemon is running and delivers queued e-mail by itself, trying again after growing pauses (up to an hour); stop it to deliver by hand"
                );
            }
            // Without e-mail set up, the webhook posts still go and the e-mail waits.
            let mailer = if settings.mail.smtp_host.is_some() {
                Some(paperscout_app::mail::Mailer::new(&settings.mail)?)
            } else {
                None
            };
            let mut store = settings.store.open()?;
            let delivery = paperscout_app::mail::deliver_outbox(
                &mut store,
                mailer.as_ref(),
                paperscout_app::mail::Posts::All,
                paperscout_store::now(),
            )?;
            if !quiet {
                eprintln!(
                    "{} delivered (e-mail and webhook posts){}",
                    delivery.delivered,
                    if mailer.is_none() {
                        "; e-mail is not set up ([mail] smtp_host), so queued e-mail waits"
                    } else {
                        ""
                    }
                );
            }
            if !delivery.failed.is_empty() {
                bail!(
                    "{} messages stay queued: {}",
                    delivery.failed.len(),
                    delivery.failed.join("; ")
                );
            }
            Ok(())
        }
    }
}
