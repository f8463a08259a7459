//! The daemon's Unix socket: where it lives, who may open it, and telling a live daemon's
//! socket from one a crashed daemon left behind.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use nix::sys::stat::{Mode, umask};
use nix::unistd::Group;

use crate::error::{DaemonError, Result};

/// The pid of the daemon answering on `path`, if one answers within a second or two.
pub fn live_daemon(path: &Path) -> Option<u64> {
    let stream = UnixStream::connect(path).ok()?;
    let timeout = Some(Duration::from_secs(2));
    stream.set_read_timeout(timeout).ok()?;
    stream.set_write_timeout(timeout).ok()?;
    (&stream).write_all(b"{\"v\":1,\"op\":\"health\"}\n").ok()?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).ok()?;
    let answer: serde_json::Value = serde_json::from_str(&line).ok()?;
    answer["result"]["pid"].as_u64()
}

/// Makes sure nothing else serves on `path`: a live daemon is an error, a stale socket file
/// (its daemon crashed) is removed.
pub fn claim(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(DaemonError::Socket(format!(
            "{} exists and is not a socket: remove it, or choose another socket with --socket",
            path.display()
        )));
    }
    if UnixStream::connect(path).is_ok() {
        let who = live_daemon(path)
            .map_or_else(|| "another process".to_owned(), |pid| format!("pid {pid}"));
        return Err(DaemonError::Socket(format!(
            "paperscout is already running as {who} on {}: stop it first (`kill -TERM`), or \
             choose another socket with --socket",
            path.display()
        )));
    }
    tracing::info!(
        "removing the stale socket {} left by a daemon that stopped",
        path.display()
    );
    fs_err::remove_file(path)?;
    Ok(())
}

/// Binds the socket with mode 0600, or 0660 and the group when one is named.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let gid = match group {
        None => None,
        Some(name) => Some(
            Group::from_name(name)
                .map_err(|err| {
                    DaemonError::Socket(format!("could not look up the group {name:?}: {err}"))
                })?
                .ok_or_else(|| {
                    DaemonError::Socket(format!(
                        "there is no group {name:?}: fix daemon.socket_group"
                    ))
                })?
                .gid,
        ),
    };
    // The socket is created with the umask's mode: no moment exists at which others could
    // connect before the chmod below.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = bound
        .map_err(|err| DaemonError::io(format!("could not listen on {}", path.display()), err))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid.as_raw())).map_err(|err| {
            DaemonError::io(
                format!("could not give {} to the group", path.display()),
                err,
            )
        })?;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    }
    Ok(listener)
}
