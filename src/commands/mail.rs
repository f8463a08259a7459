//! `paperscout mail queue|flush`: the digest e-mail outbox.

use anyhow::{Result, bail};
use paperscout_store::{SqliteStore, Store};

use crate::cli::MailCommand;
use paperscout_app::Settings;

/// Runs the command.
pub fn run(command: &MailCommand, settings: &Settings, quiet: bool) -> Result<()> {
    let path = paperscout_store::file_in(&settings.data_dir);
    match command {
        MailCommand::Queue { json } => {
            let store = SqliteStore::open_read_only(&path)?;
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
            let mailer = paperscout_app::mail::Mailer::new(&settings.mail)?;
            let mut store = SqliteStore::open(&path)?;
            let delivery = paperscout_app::mail::deliver_queued(&mut store, &mailer)?;
            if !quiet {
                eprintln!("{} e-mail delivered", delivery.delivered);
            }
            if !delivery.failed.is_empty() {
                bail!(
                    "{} e-mail stay queued: {}",
                    delivery.failed.len(),
                    delivery.failed.join("; ")
                );
            }
            Ok(())
        }
    }
}
