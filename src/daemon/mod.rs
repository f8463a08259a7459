//! `paperscout serve`: the long-lived daemon that owns the store, the index and the model and
//! answers requests on a Unix socket.
//!
//! [`protocol`] is the wire format, [`service`] the operations, [`server`] the sockets and
//! their limits, [`model_worker`] the model's thread, [`catalog`] the in-memory metadata,
//! [`text`] the plain-text commands, [`socket`] the socket file itself.

pub mod catalog;
pub mod model_worker;
pub mod protocol;
pub mod schedule;
pub mod server;
pub mod service;
pub mod socket;
pub mod text;

use std::process::Stdio;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::cli::{Cli, ServeArgs};
use crate::config::{DaemonConfig, Settings};
use server::Limits;
use service::{Service, ServiceOptions};

/// How often a changed index is saved while the daemon runs.
const SAVE_EVERY: Duration = Duration::from_secs(60);
/// How often the index's tombstones are checked against the compaction threshold.
const COMPACT_CHECK_EVERY: Duration = Duration::from_secs(5);

/// The limits: flags first, then the config file, then the defaults.
fn limits(flags: &ServeOverrides, file: &DaemonConfig) -> Limits {
    Limits {
        max_line: flags
            .max_line
            .or(file.max_line_bytes)
            .unwrap_or(1 << 20)
            .max(1024),
        max_connections: flags
            .max_connections
            .or(file.max_connections)
            .unwrap_or(4096)
            .max(1),
        idle_timeout: Duration::from_secs(
            flags
                .idle_timeout
                .or(file.idle_timeout_secs)
                .unwrap_or(300)
                .max(1),
        ),
        shutdown_deadline: Duration::from_secs(file.shutdown_deadline_secs.unwrap_or(10)),
    }
}

/// Runs `paperscout serve`.
pub fn serve(cli: &Cli, args: &ServeArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if !args.foreground {
        return start_in_background(settings, quiet);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("paperscout-io")
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(run(cli, args, settings))
}

async fn run(cli: &Cli, args: &ServeArgs, settings: &Settings) -> Result<()> {
    let path = settings.socket.clone();
    raise_file_limit();
    schedule::validate(&settings.schedule)?;
    // A live daemon is reported before a model loads.
    socket::claim(&path)?;
    let options = ServiceOptions {
        model_queue: args
            .model_queue
            .or(settings.daemon.model_queue)
            .unwrap_or(256),
        model_batch: args
            .model_batch
            .or(settings.daemon.model_batch)
            .unwrap_or(32),
        compact_above: settings.daemon.compact_above.unwrap_or(0.1),
    };
    let started = Instant::now();
    let settings_for_open = settings.clone();
    let service = tokio::task::spawn_blocking(move || Service::open(&settings_for_open, options))
        .await
        .context("opening the service panicked")??;
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
    let limits = Arc::new(RwLock::new(limits(
        &ServeOverrides::from(args),
        &settings.daemon,
    )));
    tracing::info!(
        socket = %path.display(),
        pid = std::process::id(),
        seconds = started.elapsed().as_secs_f64(),
        "serving"
    );

    let (stop, stopped) = watch::channel(false);
    let schedule_config = Arc::new(RwLock::new(settings.schedule.clone()));
    let signals = tokio::spawn(watch_signals(
        stop,
        Arc::clone(&service),
        Arc::clone(&limits),
        Arc::clone(&schedule_config),
        cli.config.clone(),
        ServeOverrides::from(args),
    ));
    let saver = tokio::spawn(save_periodically(Arc::clone(&service), stopped.clone()));
    let scheduler = Arc::new(schedule::Scheduler {
        service: Arc::clone(&service),
        config: schedule_config,
        data_dir: settings.data_dir.clone(),
        mail_retry: std::sync::Mutex::new(schedule::MailRetry::default()),
    });
    let scheduled = tokio::spawn(scheduler.run(stopped.clone()));
    server::run(Arc::clone(&service), listener, Arc::clone(&limits), stopped).await;
    signals.abort();
    saver.abort();
    // A round in progress finishes its current file or digest first.
    let _ = scheduled.await;

    tracing::info!("stopping: saving the index");
    let saving = Arc::clone(&service);
    let saved = tokio::task::spawn_blocking(move || saving.persist()).await;
    let _ = fs_err::remove_file(&path);
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(
            "could not save the index: {err:#}; it is rebuilt from the store at the next start"
        ),
        Err(err) => tracing::error!("saving the index panicked: {err}"),
    }
    // The model thread and the store close with the last reference.
    drop(service);
    tracing::info!("stopped");
    Ok(())
}

/// The limits given as flags, which a reload must not override.
#[derive(Debug, Clone, Copy)]
struct ServeOverrides {
    max_line: Option<usize>,
    max_connections: Option<usize>,
    idle_timeout: Option<u64>,
}

impl From<&ServeArgs> for ServeOverrides {
    fn from(args: &ServeArgs) -> Self {
        Self {
            max_line: args.max_line_bytes,
            max_connections: args.max_connections,
            idle_timeout: args.idle_timeout,
        }
    }
}

async fn watch_signals(
    stop: watch::Sender<bool>,
    service: Arc<Service>,
    limits: Arc<RwLock<Limits>>,
    schedule_config: Arc<RwLock<crate::config::ScheduleConfig>>,
    config: Option<std::path::PathBuf>,
    overrides: ServeOverrides,
) -> Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                match crate::config::reload_file(config.as_deref()) {
                    Ok(file) => {
                        let mut current = limits.write().unwrap_or_else(PoisonError::into_inner);
                        let fresh = self::limits(&overrides, &file.daemon);
                        // The connection limit is fixed at start (it sizes a semaphore).
                        *current = Limits { max_connections: current.max_connections, ..fresh };
                        tracing::info!(?current, "configuration reloaded");
                        match schedule::validate(&file.schedule) {
                            Ok(()) => {
                                *schedule_config.write().unwrap_or_else(PoisonError::into_inner) =
                                    file.schedule;
                            }
                            Err(err) => tracing::error!("the schedule was not reloaded: {err:#}"),
                        }
                        service.set_mail_config(file.mail);
                    }
                    Err(err) => tracing::error!("not reloaded: {err:#}"),
                }
            }
        }
    }
    tracing::info!("stop signal received");
    let _ = stop.send(true);
    Ok(())
}

/// The index's upkeep: a compaction when tombstones pass the threshold (checked every
/// `COMPACT_CHECK_EVERY`, run in the background), and a save every `SAVE_EVERY` if it changed.
async fn save_periodically(service: Arc<Service>, mut stopped: watch::Receiver<bool>) {
    let mut last_save = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(COMPACT_CHECK_EVERY) => {}
            _ = stopped.changed() => return,
        }
        let compacting = Arc::clone(&service);
        match tokio::task::spawn_blocking(move || compacting.compact_if_needed()).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!("could not compact the index: {err:#}"),
            Err(err) => tracing::warn!("compacting the index panicked: {err}"),
        }
        if last_save.elapsed() < SAVE_EVERY {
            continue;
        }
        last_save = Instant::now();
        let saving = Arc::clone(&service);
        match tokio::task::spawn_blocking(move || saving.persist()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("could not save the index: {err:#}"),
            Err(err) => tracing::warn!("saving the index panicked: {err}"),
        }
    }
}

/// Starts `paperscout serve --foreground` detached, logging to a file, and waits until it
/// answers on the socket.
fn start_in_background(settings: &Settings, quiet: bool) -> Result<()> {
    use std::os::unix::process::CommandExt;

    let path = &settings.socket;
    if let Some(pid) = socket::live_daemon(path) {
        bail!(
            "paperscout is already running as pid {pid} on {}",
            path.display()
        );
    }
    fs_err::create_dir_all(&settings.data_dir)?;
    let log_path = settings.data_dir.join("paperscout.log");
    let log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    args.push("--foreground".into());
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let mut child = std::process::Command::new(exe)
        .args(&args)
        .env("PAPERSCOUT_SOCKET", path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?.into_parts().0)
        .stderr(log.into_parts().0)
        .process_group(0)
        .spawn()
        .context("could not start the daemon")?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Some(pid) = socket::live_daemon(path) {
            if !quiet {
                eprintln!(
                    "paperscout is serving on {} as pid {pid}; log: {}",
                    path.display(),
                    log_path.display()
                );
            }
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the daemon stopped at start ({status}); see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the daemon did not answer within 10 minutes; see {}",
        log_path.display()
    )
}

/// `paperscout status`.
pub fn status(settings: &Settings, json: bool) -> Result<()> {
    use std::io::Write;

    let health = health(settings)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&health)?)?;
    } else {
        writeln!(
            out,
            "paperscout {} serving on {} as pid {}: up {:.0} s, {} papers indexed, {} connections, {} requests waiting for the model",
            health["version"].as_str().unwrap_or_default(),
            settings.socket.display(),
            health["pid"],
            health["uptime_seconds"].as_f64().unwrap_or_default(),
            health["papers_indexed"],
            health["connections"],
            health["model_queue"],
        )?;
    }
    Ok(())
}

fn health(settings: &Settings) -> Result<serde_json::Value> {
    if !running(settings) {
        return Err(crate::client::DaemonError {
            code: protocol::ErrorCode::NotFound,
            message: format!(
                "no daemon answers on {}: start one with `paperscout serve`",
                settings.socket.display()
            ),
        }
        .into());
    }
    crate::client::call(&settings.socket, &protocol::Request::Health)
}

/// `paperscout stop`.
pub fn stop(settings: &Settings, quiet: bool) -> Result<()> {
    let health = health(settings)?;
    let pid = health["pid"]
        .as_i64()
        .and_then(|pid| i32::try_from(pid).ok())
        .context("the daemon did not say its pid")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .with_context(|| format!("could not signal pid {pid}"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while settings.socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if settings.socket.exists() {
        bail!("pid {pid} has not stopped within 2 minutes; see its log");
    }
    if !quiet {
        eprintln!("stopped paperscout (pid {pid})");
    }
    Ok(())
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
