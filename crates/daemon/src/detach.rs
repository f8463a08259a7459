//! The daemon from outside. `paperscout serve` without `--foreground`: this program started
//! again in the foreground, in its own process group, logging to `<data-dir>/paperscout.log`,
//! and waited for until it answers on the socket (or stops). `status` asks its health, and
//! `stop` signals its pid and waits for it to go.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use paperscout_app::Settings;
use paperscout_proto::{Client, HealthAnswer, HealthRequest};

use crate::error::{DaemonError, Result};
use crate::socket;

/// How long a detached start may take (a first start builds the index).
const START_LIMIT: Duration = Duration::from_secs(600);

/// A daemon started in the background.
#[derive(Debug, Clone)]
pub struct Started {
    /// Its process id.
    pub pid: u64,
    /// Its log file.
    pub log: PathBuf,
}

/// Starts this program with `args` and `--foreground`, detached, and waits until it serves.
pub fn start_in_background(settings: &Settings, mut args: Vec<OsString>) -> Result<Started> {
    let path = &settings.socket;
    if let Some(pid) = socket::live_daemon(path) {
        return Err(DaemonError::Socket(format!(
            "paperscout is already running as pid {pid} on {}",
            path.display()
        )));
    }
    let io = |what: &str| {
        let what = what.to_owned();
        move |err| DaemonError::io(what, err)
    };
    fs_err::create_dir_all(&settings.data_dir).map_err(io("cannot make the data directory"))?;
    let log = settings.data_dir.join("paperscout.log");
    let file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(io("cannot open the log"))?;
    args.push("--foreground".into());
    let exe = std::env::current_exe().map_err(io("cannot find this program's own path"))?;
    let mut child = std::process::Command::new(exe)
        .args(&args)
        .env("PAPERSCOUT_SOCKET", path)
        .stdin(Stdio::null())
        .stdout(
            file.try_clone()
                .map_err(io("cannot open the log"))?
                .into_parts()
                .0,
        )
        .stderr(file.into_parts().0)
        .process_group(0)
        .spawn()
        .map_err(io("could not start the daemon"))?;
    let deadline = Instant::now() + START_LIMIT;
    while Instant::now() < deadline {
        if let Some(pid) = socket::live_daemon(path) {
            return Ok(Started { pid, log });
        }
        if let Some(status) = child.try_wait().map_err(io("could not watch the daemon"))? {
            return Err(DaemonError::Socket(format!(
                "the daemon stopped at start ({status}); see {}",
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(DaemonError::Socket(format!(
        "the daemon did not answer within 10 minutes; see {}",
        log.display()
    )))
}

/// How long `stop` waits for the daemon to finish what it is doing and go.
const STOP_LIMIT: Duration = Duration::from_secs(120);

/// The running daemon's health, asked over its socket.
pub fn health(settings: &Settings) -> Result<HealthAnswer> {
    if !crate::running(settings) {
        return Err(DaemonError::NotFound(format!(
            "no daemon answers on {}: start one with `paperscout serve`",
            settings.socket.display()
        )));
    }
    Client::new(&settings.socket)
        .call(HealthRequest {})
        .map_err(|err| DaemonError::Socket(err.to_string()))
}

/// Sends the running daemon a signal; returns its pid.
fn signal(settings: &Settings, signal: nix::sys::signal::Signal) -> Result<u32> {
    let pid = health(settings)?.pid;
    let raw = i32::try_from(pid)
        .map_err(|_| DaemonError::Bug(format!("the daemon's pid {pid} is out of range")))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), signal)
        .map_err(|errno| DaemonError::io(format!("could not signal pid {pid}"), errno.into()))?;
    Ok(pid)
}

/// Has the running daemon read its config file again (SIGHUP). Returns its pid.
pub fn reload(settings: &Settings) -> Result<u32> {
    signal(settings, nix::sys::signal::Signal::SIGHUP)
}

/// Stops the running daemon: SIGTERM to its pid, then a wait of up to two minutes for its
/// socket to go. Returns the pid.
pub fn stop(settings: &Settings) -> Result<u32> {
    let pid = signal(settings, nix::sys::signal::Signal::SIGTERM)?;
    let deadline = Instant::now() + STOP_LIMIT;
    while settings.socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if settings.socket.exists() {
        return Err(DaemonError::Socket(format!(
            "pid {pid} has not stopped within 2 minutes; see its log"
        )));
    }
    Ok(pid)
}
