//! `paperscout serve` without `--foreground`: this program started again in the foreground,
//! in its own process group, logging to `<data-dir>/paperscout.log`, and waited for until it
//! answers on the socket (or stops).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use paperscout_app::Settings;

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
