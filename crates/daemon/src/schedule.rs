//! What the daemon does on its own: ingests listing files dropped into a watched folder and
//! feeds fetched at an interval, sends each user's digest at their hour, in their time zone,
//! at their cadence (see [`paperscout_app::cadence`]), and delivers the outbox: e-mail and
//! webhook posts.
//!
//! Sources named in `[sources]` are fetched as [`paperscout_app::sources`] says (after each
//! arXiv announcement, bioRxiv and medRxiv every few hours), in `schedule/sources.rs`.
//!
//! When each feed and source was fetched is kept in `<data-dir>/schedule.json`; when each user's digest
//! went is the store's. A digest whose time passed while the daemon was down runs once at
//! start-up (covering everything since the user's last digest), never once per missed day.
//! The clock is the scheduler's [`Clock`], which tests replace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use paperscout_rank::DigestParams;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use paperscout_app::cadence;
use paperscout_app::choose::Window;
use paperscout_app::mail::Posts;
use paperscout_app::outbox::Sent;
use paperscout_app::settings::ScheduleConfig;
use paperscout_app::sources::Source;
use paperscout_proto::IngestRequest;

use crate::error::{DaemonError, Result};
use crate::service::Service;

/// What ran last.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// When each feed was last fetched (Unix seconds).
    #[serde(default)]
    feeds: BTreeMap<String, i64>,
    /// What fetching each source named in `[sources]` did.
    #[serde(default)]
    sources: BTreeMap<String, paperscout_app::sources::SourceState>,
}

/// What time it is: the system clock, or a test's.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The scheduler's surroundings.
pub struct Scheduler {
    /// The service it drives.
    pub service: Arc<Service>,
    /// Its settings, replaced on SIGHUP.
    pub config: Arc<RwLock<ScheduleConfig>>,
    /// The data directory (for the state file and the default outbox).
    pub data_dir: PathBuf,
    /// When queued e-mail may be tried again.
    pub mail_retry: std::sync::Mutex<MailRetry>,
    /// Where "now" comes from.
    pub clock: Clock,
    /// Whether this daemon led the schedule at the last round (false before the first).
    pub leading: AtomicBool,
}

/// Backing off from an SMTP server that refuses: 1 minute after the first failed run,
/// doubling to at most an hour, back to every round once a run delivers everything.
#[derive(Debug, Default)]
pub struct MailRetry {
    failures: u32,
    not_before: Option<std::time::Instant>,
}

impl Scheduler {
    /// A scheduler on the system clock.
    pub fn new(
        service: Arc<Service>,
        config: Arc<RwLock<ScheduleConfig>>,
        data_dir: PathBuf,
    ) -> Self {
        Self {
            service,
            config,
            data_dir,
            mail_retry: std::sync::Mutex::new(MailRetry::default()),
            clock: Arc::new(Utc::now),
            leading: AtomicBool::new(false),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.data_dir.join("schedule.json")
    }

    fn load_state(&self) -> State {
        match std::fs::read_to_string(self.state_path()) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|err| {
                tracing::warn!(
                    "{} is unreadable ({err}); starting afresh",
                    self.state_path().display()
                );
                State::default()
            }),
            Err(_) => State::default(),
        }
    }

    fn save_state(&self, state: &State) -> Result<()> {
        let path = self.state_path();
        let staged = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(state)
            .map_err(|err| DaemonError::Bug(format!("the schedule's state as JSON: {err}")))?;
        fs_err::write(&staged, text)?;
        fs_err::rename(&staged, &path)?;
        Ok(())
    }

    fn outbox(&self, config: &ScheduleConfig) -> PathBuf {
        config
            .outbox
            .clone()
            .unwrap_or_else(|| self.data_dir.join("digests"))
    }

    /// Runs until `stopped` turns true: one round at start-up, then one every poll interval.
    pub async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            let round = Arc::clone(&self);
            if let Err(err) = tokio::task::spawn_blocking(move || round.round()).await {
                tracing::error!("a scheduled round panicked: {err}");
            }
            let pause = Duration::from_secs(self.current().poll_seconds());
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    fn current(&self) -> ScheduleConfig {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One look at the folder, the feeds and the clock.
    pub fn round(&self) {
        // On a shared database, only the daemon holding the leader lock runs the schedule.
        if !self.service.lead() {
            self.leading.store(false, Ordering::Relaxed);
            return;
        }
        let config = self.current();
        if !self.leading.swap(true, Ordering::Relaxed) {
            // At start, or on taking over from a leader that died: digests a crash left
            // pending in the outbox (a shared folder, where daemons share a database) are
            // settled before any new one is written.
            match self.service.recover_outbox(&self.outbox(&config)) {
                Ok(0) => {}
                Ok(kept) => tracing::info!("{kept} digests left pending by a crash were completed"),
                Err(err) => tracing::error!("could not settle the outbox: {err}"),
            }
        }
        let mut state = self.load_state();
        if let Some(dir) = &config.watch {
            self.watch_folder(dir);
        }
        let now = (self.clock)();
        self.fetch_feeds(&config, &mut state);
        self.fetch_sources(&config, &mut state, now);
        self.send_digests(&config, now);
        self.deliver_mail();
        self.post_webhooks(&config);
        if let Err(err) = self.save_state(&state) {
            tracing::error!("could not save the schedule's state: {err}");
        }
    }

    /// Posts the queued webhook bodies that are due: each failed one waits a growing pause of
    /// its own, so one dead receiver holds up no other.
    fn post_webhooks(&self, config: &ScheduleConfig) {
        let posts = Posts::Due {
            retry_seconds: config.retry_seconds(),
        };
        match self.service.deliver_outbox(false, posts) {
            Ok(delivery) => {
                if delivery.delivered > 0 {
                    tracing::info!(posted = delivery.delivered, "digests posted to webhooks");
                }
            }
            Err(err) => tracing::error!("posting digests to webhooks failed: {err}"),
        }
    }

    /// Delivers queued digest e-mail, unless a recent failure says to wait.
    fn deliver_mail(&self) {
        let mut retry = self
            .mail_retry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if retry
            .not_before
            .is_some_and(|at| std::time::Instant::now() < at)
        {
            return;
        }
        match self.service.deliver_outbox(true, Posts::Leave) {
            Ok(delivery) if delivery.failed.is_empty() => {
                if delivery.delivered > 0 {
                    tracing::info!(delivered = delivery.delivered, "digest e-mail delivered");
                }
                *retry = MailRetry::default();
            }
            Ok(delivery) => {
                retry.failures += 1;
                let wait = Duration::from_secs(60 << (retry.failures - 1).min(6))
                    .min(Duration::from_secs(3600));
                retry.not_before = Some(std::time::Instant::now() + wait);
                tracing::warn!(
                    delivered = delivery.delivered,
                    queued = delivery.failed.len(),
                    "some digest e-mail could not be delivered; trying again in {} s",
                    wait.as_secs()
                );
            }
            Err(err) => tracing::error!("delivering digest e-mail failed: {err}"),
        }
    }

    /// Ingests every file in the folder, oldest first, moving each to `done/`, or to
    /// `failed/` when it could not be read or none of its records could. Names starting with
    /// `.` or ending in `.tmp` or `.part` are files still being written.
    ///
    /// A file is moved into `ingesting/` while it is read, so that one which kills the
    /// process (whatever the cause) is found there at the next start and put in `failed/`,
    /// rather than killing the daemon at every restart.
    fn watch_folder(&self, dir: &Path) {
        let in_flight = dir.join("ingesting");
        if let Ok(left) = std::fs::read_dir(&in_flight) {
            for path in left.flatten().map(|e| e.path()) {
                tracing::error!(
                    "{} was being ingested when the daemon stopped; it goes to failed/ (move it \
                     back into the folder to try again)",
                    path.display()
                );
                move_into(&path, &dir.join("failed"));
            }
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!("cannot read the watched folder {}", dir.display());
            return;
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && !name.ends_with(".tmp") && !name.ends_with(".part")
            })
            .map(|e| {
                let modified = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (modified, e.path())
            })
            .collect();
        files.sort();
        for (_, path) in files {
            let Some(path) = move_into(&path, &in_flight) else {
                continue;
            };
            let request = IngestRequest {
                path: Some(path.display().to_string()),
                papers: Vec::new(),
                batch: None,
                ..Default::default()
            };
            let outcome = match self.service.ingest(&request) {
                Ok(answer) if answer.report.read == 0 && answer.report.bad > 0 => {
                    tracing::error!(
                        "no record of {} could be read ({} bad); it goes to failed/",
                        path.display(),
                        answer.report.bad
                    );
                    "failed"
                }
                Ok(answer) => {
                    tracing::info!(file = %path.display(), report = ?answer.report, "ingested");
                    "done"
                }
                Err(err) => {
                    tracing::error!("could not ingest {}: {err}", path.display());
                    "failed"
                }
            };
            move_into(&path, &dir.join(outcome));
        }
    }

    fn fetch_feeds(&self, config: &ScheduleConfig, state: &mut State) {
        let every = 60 * i64::try_from(config.feed_every_minutes()).unwrap_or(60);
        let now = paperscout_store::now();
        for feed in &config.feeds {
            if state.feeds.get(feed).is_some_and(|last| now - last < every) {
                continue;
            }
            let request = IngestRequest {
                path: Some(feed.clone()),
                papers: Vec::new(),
                batch: None,
                ..Default::default()
            };
            match self.service.ingest(&request) {
                Ok(report) => tracing::info!(%feed, report = ?report.report, "feed ingested"),
                Err(err) => tracing::error!("could not ingest the feed {feed}: {err}"),
            }
            state.feeds.insert(feed.clone(), now);
        }
    }

    fn send_digests(&self, config: &ScheduleConfig, now: DateTime<Utc>) {
        let users = match self.service.user_names() {
            Ok(users) => users,
            Err(err) => {
                tracing::error!("could not list the users: {err}");
                return;
            }
        };
        let outbox = self.outbox(config);
        for user in users {
            // The store, not a file of the scheduler's, says when the user's last digest went:
            // it is written in the transaction that records the digest's papers, so a crash
            // mid-round cannot send anyone a second digest.
            let (own, last) = match self.service.timing_of(&user) {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(err) => {
                    tracing::error!("could not read {user:?}'s digest timing: {err}");
                    continue;
                }
            };
            let timing = match cadence::timing(&user, &own, config) {
                Ok(Some(timing)) => timing,
                Ok(None) => continue,
                Err(err) => {
                    tracing::error!("{user:?} gets no scheduled digest: {err}");
                    continue;
                }
            };
            let last = last.and_then(|day| NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok());
            let Some(due) = cadence::due(&timing, now, last, config.digest_days()) else {
                continue;
            };
            let window = Window {
                day: due.day,
                days: due.days,
                after_last_sent: true,
            };
            let params = DigestParams {
                size: config.digest_size(),
                ..DigestParams::default()
            };
            let format = config.digest_format.unwrap_or_default();
            match self.service.deliver_digest(
                &user,
                window,
                &params,
                format,
                &outbox,
                &config.team_webhooks_of(&user),
            ) {
                // Names are written escaped (`?`): one from before names were checked may hold
                // a newline, which must not forge a log line.
                Ok(Sent::Digest(file)) => {
                    tracing::info!(?user, file = ?file.display(), days = due.days, "digest sent");
                }
                Ok(Sent::Note) => tracing::info!(?user, "no new papers: the user's note sent"),
                Ok(Sent::Nothing) => tracing::info!(?user, "no new papers: no digest today"),
                // Tried again next round.
                Err(err) => tracing::error!("the digest for {user:?} failed: {err}"),
            }
        }
    }
}

/// Moves a file into a folder (made if need be), keeping its name; logs a failure. Returns
/// where it now is.
fn move_into(path: &Path, folder: &Path) -> Option<PathBuf> {
    let target = folder.join(path.file_name()?);
    let moved = fs_err::create_dir_all(folder).and_then(|()| fs_err::rename(path, &target));
    match moved {
        Ok(()) => Some(target),
        Err(err) => {
            tracing::error!(
                "could not move {} into {}: {err}",
                path.display(),
                folder.display()
            );
            None
        }
    }
}

/// Checks the settings before the daemon starts on them.
pub fn validate(config: &ScheduleConfig) -> Result<()> {
    let bad =
        |err: paperscout_app::AppError| DaemonError::Schedule(format!("{err}; fix [schedule]"));
    let times = config
        .digest_at
        .iter()
        .chain(config.users.values().filter_map(|u| u.digest_at.as_ref()));
    for at in times {
        cadence::parse_time(at).map_err(bad)?;
    }
    let zones = config
        .timezone
        .iter()
        .chain(config.users.values().filter_map(|u| u.timezone.as_ref()));
    for zone in zones {
        cadence::Zone::parse(zone).map_err(bad)?;
    }
    for team in &config.team_webhooks {
        paperscout_app::webhook::check_url(&team.url).map_err(|err| {
            DaemonError::Schedule(format!("{err}; fix [[schedule.team_webhooks]]"))
        })?;
    }
    let sources = &config.sources;
    for (source, entries) in [
        (Source::Arxiv, &sources.arxiv),
        (Source::Biorxiv, &sources.biorxiv),
        (Source::Medrxiv, &sources.medrxiv),
    ] {
        for entry in entries {
            paperscout_app::sources::check_entry(source, entry).map_err(|err| {
                DaemonError::Schedule(format!("{err}; fix [sources] {}", source.name()))
            })?;
        }
    }
    if let Some(dir) = &config.watch
        && !dir.is_dir()
    {
        return Err(DaemonError::Schedule(format!(
            "the watched folder {} does not exist: create it, or fix schedule.watch",
            dir.display()
        )));
    }
    Ok(())
}

mod sources;

#[cfg(test)]
mod tests;
