//! The command line's side of the socket: sends one request to the running daemon and reads
//! its answer, turning an error answer into an error whose code decides the exit status.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::daemon::protocol::{ErrorCode, Request, Response, request_line};

/// An error the daemon answered with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DaemonError {
    /// Its code.
    pub code: ErrorCode,
    /// Its message.
    pub message: String,
}

impl DaemonError {
    /// The exit status for this error: 2 for a request to fix, 3 for something missing,
    /// 4 for a busy daemon (retry), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self.code {
            ErrorCode::BadRequest => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::Overloaded => 4,
            ErrorCode::Internal => 1,
        }
    }
}

/// Sends `request` to the daemon on `socket` and returns its result.
pub fn call(socket: &Path, request: &Request) -> Result<Value> {
    let stream = UnixStream::connect(socket)
        .with_context(|| format!("could not reach the daemon on {}", socket.display()))?;
    (&stream).write_all(request_line(&Value::from(1), request).as_bytes())?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .context("the daemon closed the connection without answering")?;
    let response: Response = serde_json::from_str(&line)
        .with_context(|| format!("the daemon's answer is not a protocol answer: {line:?}"))?;
    match (response.ok, response.result, response.error) {
        (true, Some(result), _) => Ok(result),
        (_, _, Some(error)) => Err(DaemonError {
            code: error.code,
            message: error.message,
        }
        .into()),
        _ => anyhow::bail!("the daemon's answer has neither a result nor an error: {line:?}"),
    }
}
