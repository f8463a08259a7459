//! The long-lived daemon behind `paperscout serve`: it owns the store, the index and the
//! model and answers requests on a Unix socket, and does the schedule's work (watched
//! folder, feeds, digests, e-mail).
//!
//! [`service`] holds the operations (testable without a socket), [`server`] the sockets and
//! their limits, [`per_key`] connections counted per holder, [`peer`] who may have the daemon read what, [`model_worker`] the model's thread, [`catalog`] the in-memory metadata,
//! [`text`] the plain-text commands, [`socket`] the socket file itself, [`schedule`] what the
//! daemon does by itself, [`detach`] a start in the background. The wire format is the
//! `paperscout-proto` crate.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod detach;
mod error;
pub mod model_worker;
pub mod peer;
pub mod per_key;
pub mod schedule;
pub mod server;
pub mod service;
pub mod socket;
pub mod text;

pub use error::{DaemonError, Result};

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use paperscout_app::Settings;
use paperscout_app::settings::{DaemonConfig, ScheduleConfig};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use server::Limits;
use service::{Service, ServiceOptions};

/// How often a changed index is saved while the daemon runs.
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// How often the index's tombstones are checked against the compaction threshold and the
/// store's write-ahead log is checkpointed.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// What `paperscout serve`'s flags chose; each beats the config file's `[daemon]` key.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The config file to read again on SIGHUP (`--config`); none: the default place.
    pub config: Option<std::path::PathBuf>,
    /// A group that may use the socket too.
    pub socket_group: Option<String>,
    /// Requests that may wait for the model.
    pub model_queue: Option<usize>,
    /// Texts of waiting requests embedded together.
    pub model_batch: Option<usize>,
    /// The limits given as flags.
    pub limits: ServeOverrides,
}

/// The limits: flags first, then the config file, then the defaults.
fn limits(flags: &ServeOverrides, file: &DaemonConfig) -> Limits {
    let max_connections = flags
        .max_connections
        .map_or_else(|| file.max_connections(), |n| n.max(1));
    Limits {
        max_line: flags
            .max_line
            .map_or_else(|| file.max_line_bytes(), |n| n.max(1024)),
        max_connections,
        max_per_user: file.max_connections_per_user(max_connections),
        idle_timeout: Duration::from_secs(
            flags
                .idle_timeout
                .map_or_else(|| file.idle_timeout_secs(), |n| n.max(1)),
        ),
        write_timeout: Duration::from_secs(file.write_timeout_secs()),
        shutdown_deadline: Duration::from_secs(file.shutdown_deadline_secs()),
    }
}

/// Another door into the daemon, served on its runtime beside the socket and sharing its
/// service (the web page): started once the service is open, stopped with the daemon.
pub trait Frontend: Send + 'static {
    /// Binds and starts serving; called on the runtime before the daemon reports that it
    /// serves, so a bad address fails the start. The task ends once `stopped` turns true.
    fn start(
        self: Box<Self>,
        service: Arc<Service>,
        stopped: watch::Receiver<bool>,
    ) -> Result<tokio::task::JoinHandle<()>>;
}

/// Runs the daemon in this process until SIGTERM or SIGINT: opens the service, binds the
/// socket and serves, then saves the index.
pub fn serve(settings: &Settings, options: &ServeOptions) -> Result<()> {
    serve_with(settings, options, Vec::new())
}

/// [`serve`], with more doors into the same service.
pub fn serve_with(
    settings: &Settings,
    options: &ServeOptions,
    frontends: Vec<Box<dyn Frontend>>,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("paperscout-io")
        .build()
        .map_err(|err| DaemonError::io("could not start the async runtime", err))?;
    let served = runtime.block_on(run(settings, options, frontends));
    // A request still running on a blocking thread (reading a slow disk, say) must not keep
    // a stopped daemon alive: its store transaction either committed or never will.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    served
}

/// How long a stopped daemon waits for blocking work still running before it exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

async fn run(
    settings: &Settings,
    args: &ServeOptions,
    frontends: Vec<Box<dyn Frontend>>,
) -> Result<()> {
    let path = settings.socket.clone();
    raise_file_limit();
    schedule::validate(&settings.schedule)?;
    // A live daemon is reported before a model loads.
    socket::claim(&path)?;
    let defaults = ServiceOptions::from_settings(settings);
    let options = ServiceOptions {
        model_queue: args.model_queue.unwrap_or(defaults.model_queue),
        model_batch: args.model_batch.unwrap_or(defaults.model_batch),
        ..defaults
    };
    let started = Instant::now();
    let settings_for_open = settings.clone();
    let service = tokio::task::spawn_blocking(move || Service::open(&settings_for_open, options))
        .await
        .map_err(|err| DaemonError::Bug(format!("opening the service panicked: {err}")))??;
    let service = Arc::new(service);
    let group = args
        .socket_group
        .clone()
        .or_else(|| settings.daemon.socket_group.clone());
    // Claimed again: another daemon may have started while this one loaded.
    socket::claim(&path)?;
    let std_listener = socket::bind(&path, group.as_deref())?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(std_listener)?;
    let limits = Arc::new(RwLock::new(limits(&args.limits, &settings.daemon)));
    let (stop, stopped) = watch::channel(false);
    let mut doors = Vec::with_capacity(frontends.len());
    for frontend in frontends {
        match frontend.start(Arc::clone(&service), stopped.clone()) {
            Ok(door) => doors.push(door),
            Err(err) => {
                let _ = fs_err::remove_file(&path);
                return Err(err);
            }
        }
    }
    tracing::info!(
        socket = %path.display(),
        pid = std::process::id(),
        seconds = started.elapsed().as_secs_f64(),
        "serving"
    );

    let schedule_config = Arc::new(RwLock::new(settings.schedule.clone()));
    let signals = tokio::spawn(watch_signals(
        stop,
        Arc::clone(&service),
        Arc::clone(&limits),
        Arc::clone(&schedule_config),
        args.config.clone(),
        args.limits,
    ));
    let saver = tokio::spawn(save_periodically(Arc::clone(&service), stopped.clone()));
    let follower = tokio::spawn(follow_others(Arc::clone(&service), stopped.clone()));
    let scheduler = Arc::new(schedule::Scheduler::new(
        Arc::clone(&service),
        schedule_config,
        settings.data_dir.clone(),
    ));
    let scheduled = tokio::spawn(scheduler.run(stopped.clone()));
    let policy = Arc::new(peer::ReadPolicy::new(
        &settings.daemon.shared_ingest_folders,
    ));
    server::run(
        Arc::clone(&service),
        listener,
        Arc::clone(&limits),
        policy,
        stopped,
    )
    .await;
    signals.abort();
    saver.abort();
    follower.abort();
    // A round in progress finishes its current file or digest first.
    let _ = scheduled.await;
    // Another daemon on the same database takes the schedule over at once.
    let resigning = Arc::clone(&service);
    let _ = tokio::task::spawn_blocking(move || resigning.resign()).await;
    for door in doors {
        let _ = door.await;
    }

    tracing::info!("stopping: saving the index");
    let saving = Arc::clone(&service);
    let saved = tokio::task::spawn_blocking(move || saving.persist()).await;
    let _ = fs_err::remove_file(&path);
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(
            "could not save the index: {err}; it is rebuilt from the store at the next start"
        ),
        Err(err) => tracing::error!("saving the index panicked: {err}"),
    }
    // The model thread and the store close with the last reference.
    drop(service);
    tracing::info!("stopped");
    Ok(())
}

/// The limits given as flags, which a reload must not override.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOverrides {
    /// Longest request line, in bytes.
    pub max_line: Option<usize>,
    /// Connections open at once.
    pub max_connections: Option<usize>,
    /// Seconds a connection may stay silent.
    pub idle_timeout: Option<u64>,
}

async fn watch_signals(
    stop: watch::Sender<bool>,
    service: Arc<Service>,
    limits: Arc<RwLock<Limits>>,
    schedule_config: Arc<RwLock<ScheduleConfig>>,
    config: Option<std::path::PathBuf>,
    overrides: ServeOverrides,
) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                match paperscout_app::settings::reload_file(config.as_deref()) {
                    Ok(file) => {
                        let mut current = limits.write().unwrap_or_else(PoisonError::into_inner);
                        let fresh = self::limits(&overrides, &file.daemon);
                        // The connection limit is fixed at start (it sizes a semaphore).
                        *current = Limits {
                            max_connections: current.max_connections,
                            max_per_user: fresh.max_per_user.min(current.max_connections),
                            ..fresh
                        };
                        tracing::info!(?current, "configuration reloaded");
                        match schedule::validate(&file.schedule) {
                            Ok(()) => {
                                *schedule_config.write().unwrap_or_else(PoisonError::into_inner) =
                                    file.schedule;
                            }
                            Err(err) => tracing::error!("the schedule was not reloaded: {err}"),
                        }
                        service.set_mail_config(file.mail);
                    }
                    Err(err) => tracing::error!("not reloaded: {err}"),
                }
            }
        }
    }
    tracing::info!("stop signal received");
    let _ = stop.send(true);
    Ok(())
}

/// The upkeep: every `UPKEEP_EVERY`, a compaction of the index when tombstones pass the
/// threshold, the followed libraries that changed read again, and a checkpoint of the
/// store's log; a save of the index every `SAVE_EVERY` if it
/// changed. Each round is one blocking task, so the jobs never run beside each other.
async fn save_periodically(service: Arc<Service>, mut stopped: watch::Receiver<bool>) {
    let mut last_save = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(UPKEEP_EVERY) => {}
            _ = stopped.changed() => return,
        }
        let save_due = last_save.elapsed() >= SAVE_EVERY;
        if save_due {
            last_save = Instant::now();
        }
        let upkeeping = Arc::clone(&service);
        if let Err(err) = tokio::task::spawn_blocking(move || upkeep(&upkeeping, save_due)).await {
            tracing::warn!("the daemon's upkeep panicked: {err}");
        }
    }
}

/// How often a daemon on a shared database looks for the papers and embeddings others wrote
/// when no notification came (each commit notifies, and the daemon looks at once): a paper
/// ingested through one daemon is found by `similar` on every other within about this long
/// even when the notification was lost.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// How often it notes itself in the database (and tries for the leadership).
const BEAT_EVERY: Duration = Duration::from_secs(5);

/// On a PostgreSQL store: follows the other daemons' writes into this daemon's index, and
/// notes this daemon in the database for `status`. Ends at once on the SQLite file.
async fn follow_others(service: Arc<Service>, mut stopped: watch::Receiver<bool>) {
    if !service.is_clustered() {
        return;
    }
    let wake = Arc::new(tokio::sync::Notify::new());
    let stop_listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Err(err) = service.listen_for_changes(Arc::clone(&wake), Arc::clone(&stop_listening)) {
        tracing::warn!("cannot listen for the shared store's changes ({err}); polling only");
    }
    // The listener stops with this task, however it ends.
    let _stop = StopOnDrop(stop_listening);
    let mut last_beat: Option<Instant> = None;
    loop {
        let beat_due = last_beat.is_none_or(|at| at.elapsed() >= BEAT_EVERY);
        if beat_due {
            last_beat = Some(Instant::now());
        }
        let following = Arc::clone(&service);
        let looked = tokio::task::spawn_blocking(move || {
            match following.follow() {
                Ok(0) => {}
                Ok(absorbed) => tracing::debug!(absorbed, "followed the shared store"),
                Err(err) => tracing::warn!("could not follow the shared store: {err}"),
            }
            if beat_due {
                following.lead();
                if let Err(err) = following.beat() {
                    tracing::warn!("could not note this daemon in the shared store: {err}");
                }
            }
        })
        .await;
        if let Err(err) = looked {
            tracing::warn!("following the shared store panicked: {err}");
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = wake.notified() => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One round of upkeep; a job that fails is logged and the next one still runs.
fn upkeep(service: &Service, save_due: bool) {
    if let Err(err) = service.maintain_index() {
        tracing::warn!("could not compact the index: {err}");
    }
    if let Err(err) = service.sync_libraries() {
        tracing::warn!("could not keep the followed libraries in step: {err}");
    }
    if let Err(err) = service.checkpoint_store() {
        tracing::warn!("could not checkpoint the store's log: {err}");
    }
    if save_due && let Err(err) = service.persist() {
        tracing::warn!("could not save the index: {err}");
    }
}

/// Raises the soft limit on open files to the hard limit: every connection is a file.
fn raise_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!("could not raise the open-file limit from {soft} to {hard}: {err}");
    }
}

/// Whether a daemon answers on the socket the settings name.
pub fn running(settings: &Settings) -> bool {
    settings.socket.exists() && socket::live_daemon(&settings.socket).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_beats_the_config_file_which_beats_the_default() {
        let file = DaemonConfig {
            max_line_bytes: Some(4096),
            idle_timeout_secs: Some(7),
            ..DaemonConfig::default()
        };
        let flags = ServeOverrides {
            max_line: Some(2048),
            ..ServeOverrides::default()
        };
        let limits = limits(&flags, &file);
        assert_eq!(limits.max_line, 2048);
        assert_eq!(limits.idle_timeout, Duration::from_secs(7));
        assert_eq!(
            limits.max_connections,
            paperscout_app::settings::defaults::MAX_CONNECTIONS
        );
        let tiny = ServeOverrides {
            max_line: Some(1),
            ..ServeOverrides::default()
        };
        assert_eq!(
            limits_of(&tiny).max_line,
            1024,
            "a line limit is at least 1 KiB"
        );
    }

    fn limits_of(flags: &ServeOverrides) -> Limits {
        limits(flags, &DaemonConfig::default())
    }
}
