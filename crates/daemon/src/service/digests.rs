//! `digest`, `why_not`, `backtest`, `facets`, and the schedule's digests and e-mail: choosing, recording as sent, writing the
//! outbox and delivering mail, each in the order that keeps a crash from losing or repeating
//! a digest.

use std::path::Path;

use paperscout_app::backtest::Backtest;
use paperscout_app::choose::{self, Digest, Window};
use paperscout_app::facets::UserFacets;
use paperscout_app::mail::{self, MailConfig};
use paperscout_app::outbox;
use paperscout_app::render::{self, Format};
use paperscout_app::why_not::WhyNot;
use paperscout_proto::{
    BacktestRequest, DigestAction, DigestAnswer, DigestRequest, FacetsRequest, WhyNotRequest,
};
use paperscout_rank::DigestParams;
use paperscout_store::Store;

use super::query::{MAX_K, day_or, digest_params};
use super::{Interactive, Service, app, lock, read, write};
use crate::error::{DaemonError, Result};

impl Service {
    /// `why_not`: why a paper is, or is not, in the user's next digest, asked of the chooser
    /// the digest uses, with the digest's window.
    pub fn why_not(&self, request: &WhyNotRequest) -> Result<WhyNot> {
        let window = Window {
            day: day_or(request.date.as_deref(), choose::today)?,
            days: request.days,
            after_last_sent: true,
        };
        let params = digest_params(None, None)?;
        self.readers.with(|store| {
            paperscout_app::why_not::why_not(
                store,
                &Interactive(&self.model),
                &request.user,
                &request.paper,
                window,
                &params,
                None,
            )
            .map_err(app)
        })
    }

    /// `backtest`: the user's latest papers held out and their days replayed (see
    /// [`paperscout_app::backtest`]).
    pub fn backtest(&self, request: &BacktestRequest) -> Result<Backtest> {
        let params = digest_params(None, None)?;
        self.readers.with(|store| {
            paperscout_app::backtest::backtest(
                store,
                &Interactive(&self.model),
                &request.user,
                request.holdout,
                &params,
            )
            .map_err(app)
        })
    }

    /// `facets`: the facets the user's profile falls into, with the user's word on each.
    pub fn facets(&self, request: &FacetsRequest) -> Result<UserFacets> {
        let params = digest_params(None, None)?;
        self.readers.with(|store| {
            paperscout_app::facets::list(store, &Interactive(&self.model), &request.user, &params)
                .map_err(app)
        })
    }

    /// `digest`: build, preview, or send (record as sent, in one transaction).
    pub fn digest(&self, request: &DigestRequest) -> Result<DigestAnswer> {
        let day = day_or(request.date.as_deref(), choose::today)?;
        let window = Window {
            day,
            days: request.days,
            after_last_sent: true,
        };
        let params = digest_params(request.mmr_lambda, request.min_similarity)?;
        let build = |store: &dyn Store| {
            choose::build(
                store,
                &Interactive(&self.model),
                &request.user,
                window,
                &params,
                request.size.map(|size| size.min(MAX_K)),
            )
            .map_err(app)
        };
        if request.email {
            return self.digest_by_email(request, &build);
        }
        let (digest, recorded) = if request.action == DigestAction::Send {
            // The writer is held from choosing to recording, so two sends cannot both pick
            // the same papers.
            let mut writer = lock(&self.writer);
            let digest = build(&*writer)?;
            let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
            let at = paperscout_store::now();
            let recorded = writer.record_sent(&request.user, &ids, at)?;
            drop(writer);
            // A copy for the web page, written without holding the writer.
            outbox::keep_sent(&self.outbox, &digest, at);
            (digest, Some(recorded))
        } else {
            (self.readers.with(|store| build(store))?, None)
        };
        let rendered = (request.action != DigestAction::Build)
            .then(|| render::render(&digest, request.format, paperscout_store::now()));
        Ok(DigestAnswer {
            digest,
            rendered,
            recorded,
            recipient: None,
            delivery: None,
        })
    }

    /// `digest` with `email`: the message is composed, then (for `send`) queued with the
    /// papers' record in one transaction and delivered; `rendered` is the message itself.
    fn digest_by_email(
        &self,
        request: &DigestRequest,
        build: &dyn Fn(&dyn Store) -> Result<Digest>,
    ) -> Result<DigestAnswer> {
        let mailer = self.mailer()?.ok_or_else(|| {
            DaemonError::BadRequest(
                "e-mail is not set up: set smtp_host and from in the [mail] table of the daemon's config file, then send it SIGHUP"
                    .to_owned(),
            )
        })?;
        let recipient = self
            .readers
            .with(|store| mail::recipient(store, &request.user).map_err(app))?;
        if request.action != DigestAction::Send {
            let digest = self.readers.with(|store| build(store))?;
            let message = mailer.compose(&digest, &recipient)?;
            let rendered = String::from_utf8_lossy(&message).into_owned();
            return Ok(DigestAnswer {
                digest,
                rendered: Some(rendered),
                recorded: None,
                recipient: None,
                delivery: None,
            });
        }
        let (digest, recorded) = {
            let mut writer = lock(&self.writer);
            let digest = build(&*writer)?;
            if digest.papers.is_empty() {
                return Ok(DigestAnswer {
                    digest,
                    rendered: None,
                    recorded: Some(0),
                    recipient: None,
                    delivery: None,
                });
            }
            let recorded = mail::queue(&mut *writer, &digest, &mailer, &recipient)?;
            (digest, recorded)
        };
        outbox::keep_sent(&self.outbox, &digest, paperscout_store::now());
        // The store is free while the server is talked to.
        let delivery = mail::deliver_queued(&mut &*self.writer, &mailer)?;
        Ok(DigestAnswer {
            digest,
            rendered: None,
            recorded: Some(recorded),
            recipient: Some(recipient),
            delivery: Some(delivery),
        })
    }

    /// The mailer the current `[mail]` table describes; none when e-mail is not set up.
    pub fn mailer(&self) -> Result<Option<mail::Mailer>> {
        let config = read(&self.mail).clone();
        if config.smtp_host.is_none() {
            return Ok(None);
        }
        let mailer = mail::Mailer::new(&config)?;
        Ok(Some(match read(&self.links).clone() {
            Some(links) => mailer.with_links(links),
            None => mailer,
        }))
    }

    /// Puts one-click links under every pick of the e-mail from now on (the web page does, as
    /// it starts).
    pub fn set_links(&self, links: std::sync::Arc<dyn render::PickLinks>) {
        *write(&self.links) = Some(links);
    }

    /// Replaces the `[mail]` table (SIGHUP).
    pub fn set_mail_config(&self, config: MailConfig) {
        *write(&self.mail) = config;
    }

    /// Delivers queued digest e-mail (none when e-mail is not set up; `email` false leaves it
    /// for later too) and the webhook posts `posts` says.
    pub fn deliver_outbox(&self, email: bool, posts: mail::Posts) -> Result<mail::Delivery> {
        let mailer = if email { self.mailer()? } else { None };
        Ok(mail::deliver_outbox(
            &mut &*self.writer,
            mailer.as_ref(),
            posts,
            paperscout_store::now(),
        )?)
    }

    /// Chooses `user`'s digest of the window, writes it into `outbox/<user>/` and records its
    /// papers as sent (see [`outbox::deliver`]), queuing in the same transaction its e-mail
    /// (for a user with an address, when e-mail is set up) and a post for each of the user's
    /// webhooks and each of `team_webhooks` ([`Service::deliver_outbox`] sends them).
    pub fn deliver_digest(
        &self,
        user: &str,
        window: Window,
        params: &DigestParams,
        format: Format,
        outbox: &Path,
        team_webhooks: &[paperscout_types::Webhook],
    ) -> Result<outbox::Sent> {
        let mailer = self.mailer()?;
        let links = read(&self.links).clone();
        let channels = outbox::Channels {
            mailer: mailer.as_ref(),
            links: links.as_deref(),
            team_webhooks,
        };
        // The writer is held throughout: nothing else can send this user papers meanwhile.
        let mut writer = lock(&self.writer);
        Ok(outbox::deliver(
            &mut *writer,
            &Interactive(&self.model),
            channels,
            user,
            window,
            params,
            format,
            outbox,
        )?)
    }

    /// The user's settings and the day of their last scheduled digest, for the schedule.
    pub fn timing_of(
        &self,
        user: &str,
    ) -> Result<Option<(paperscout_types::DigestTiming, Option<String>)>> {
        self.readers.with(|store| {
            let Some(found) = store.user(user)? else {
                return Ok(None);
            };
            Ok(Some((found.settings.timing, store.last_delivery(user)?)))
        })
    }

    /// Settles digests a crash left `.pending` in the outbox (see [`outbox::recover`]).
    /// Returns how many were kept.
    pub fn recover_outbox(&self, outbox: &Path) -> Result<usize> {
        self.readers
            .with(|store| outbox::recover(store, outbox).map_err(app))
    }
}
