//! Scoop alerts as papers arrive: each committed batch of an ingest is compared with the
//! texts users watch, and a close paper is queued for its user with the papers' record
//! (see [`paperscout_app::alerts`]); the queue is delivered when the ingest ends.

use paperscout_app::alerts::{self, Watches};
use paperscout_app::mail::{self, Mailer};
use paperscout_types::Paper;

use super::{Interactive, Service, lock};
use crate::error::Result;

/// What an ingest needs to alert, loaded at its first batch with a new paper (an ingest of
/// nothing new embeds no watched text).
#[derive(Default)]
pub(super) enum Scoops {
    /// Not looked at yet.
    #[default]
    NotYet,
    /// Nobody who has an e-mail address watches anything, or e-mail is not set up.
    Off,
    /// The mailer, every watch embedded, and the papers queued as alerts so far.
    On {
        mailer: Box<Mailer>,
        watches: Watches,
        queued: usize,
    },
}

impl Service {
    /// The watches to check an ingest's papers against; off when nobody who has an e-mail
    /// address watches anything, or e-mail is not set up (an alert has nowhere to go then).
    fn load_scoops(&self) -> Result<Scoops> {
        let Some(mailer) = self.mailer()? else {
            return Ok(Scoops::Off);
        };
        let watches = self
            .readers
            .with(|store| Ok(Watches::load(store, &Interactive(&self.model))?))?;
        Ok(if watches.is_empty() {
            Scoops::Off
        } else {
            Scoops::On {
                mailer: Box::new(mailer),
                watches,
                queued: 0,
            }
        })
    }

    /// Queues the alerts a committed batch raises: its papers with a new vector, each compared
    /// with every watch. The writer is held from reading what was sent to recording, so a
    /// digest cannot send the same paper in between.
    pub(super) fn alert(
        &self,
        scoops: &mut Scoops,
        papers: &[Paper],
        vectors: &[Option<Vec<f32>>],
    ) -> Result<()> {
        let fresh = alerts::fresh(papers, vectors);
        if fresh.is_empty() {
            return Ok(());
        }
        if matches!(scoops, Scoops::NotYet) {
            *scoops = self.load_scoops().unwrap_or_else(|err| {
                tracing::error!("scoop alerts are off for this ingest: {err}");
                Scoops::Off
            });
        }
        let Scoops::On {
            mailer,
            watches,
            queued,
        } = scoops
        else {
            return Ok(());
        };
        let mut writer = lock(&self.writer);
        let found = watches.alerts(&*writer, &fresh)?;
        let now = paperscout_store::now();
        *queued += alerts::queue(&mut *writer, mailer, &found, now)?;
        for alert in &found {
            tracing::info!(
                user = %alert.user,
                papers = alert.matches.len(),
                "scoop alert queued"
            );
        }
        Ok(())
    }

    /// Delivers the alerts an ingest queued (with whatever else waits in the outbox); a
    /// server that refuses leaves them queued for the daemon's next delivery round.
    pub(super) fn deliver_scoops(&self, scoops: &Scoops) {
        let Scoops::On { mailer, queued, .. } = scoops else {
            return;
        };
        if *queued == 0 {
            return;
        }
        match mail::deliver_queued(&mut &*self.writer, mailer) {
            Ok(delivery) if delivery.failed.is_empty() => {}
            Ok(delivery) => tracing::warn!(
                "{} e-mail stay queued: {}",
                delivery.failed.len(),
                delivery.failed.join("; ")
            ),
            Err(err) => tracing::warn!("scoop alerts stay queued: {err}"),
        }
    }
}
