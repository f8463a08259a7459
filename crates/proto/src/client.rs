//! The client's side of the socket: sends one request to the running daemon and reads its
//! typed answer, an error answer becoming a [`ClientError`] whose fault decides the exit
//! status.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use paperscout_types::Fault;
use serde_json::Value;

use crate::envelope::{ErrorCode, Response, request_line};
use crate::ops::Op;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket.
    #[error("could not reach the daemon on {socket}: {source}; start one with `paperscout serve`")]
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// Why it could not be reached.
        source: std::io::Error,
    },

    /// The connection broke before the answer was read.
    #[error("the daemon closed the connection without answering: {0}")]
    Closed(std::io::Error),

    /// The answer is not what the protocol says it is.
    #[error("the daemon's answer is not a protocol answer ({why}): {line:?}")]
    Malformed {
        /// What is wrong with it.
        why: String,
        /// The line read.
        line: String,
    },

    /// The daemon answered with an error.
    #[error("{message}")]
    Answered {
        /// Its code.
        code: ErrorCode,
        /// What went wrong and what to do.
        message: String,
    },
}

impl ClientError {
    /// Whose fault this is: an error answer's code says; a daemon that is not there is the
    /// environment's.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Answered { code, .. } => code.fault(),
            Self::Connect { .. } | Self::Closed(_) => Fault::Environment,
            Self::Malformed { .. } => Fault::Bug,
        }
    }
}

/// A daemon's socket, to send requests to.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client of the daemon on `socket`; nothing is opened until a call.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// The socket it calls.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request on a connection of its own and returns the daemon's typed answer.
    pub fn call<O: Op>(&self, request: O) -> Result<O::Answer, ClientError> {
        let result = self.call_raw(request)?;
        serde_json::from_value(result.clone()).map_err(|err| ClientError::Malformed {
            why: format!("not a {} answer: {err}", O::NAME),
            line: result.to_string(),
        })
    }

    /// Sends one request and returns its result as the wire has it.
    pub fn call_raw<O: Op>(&self, request: O) -> Result<Value, ClientError> {
        let stream = UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
            socket: self.socket.clone(),
            source,
        })?;
        let line = request_line(&Value::from(1), &request.into_request());
        (&stream)
            .write_all(line.as_bytes())
            .map_err(ClientError::Closed)?;
        let mut line = String::new();
        BufReader::new(&stream)
            .read_line(&mut line)
            .map_err(ClientError::Closed)?;
        let response: Response =
            serde_json::from_str(&line).map_err(|err| ClientError::Malformed {
                why: err.to_string(),
                line: line.clone(),
            })?;
        match (response.ok, response.result, response.error) {
            (true, Some(result), _) => Ok(result),
            (_, _, Some(error)) => Err(ClientError::Answered {
                code: error.code,
                message: error.message,
            }),
            _ => Err(ClientError::Malformed {
                why: "neither a result nor an error".to_owned(),
                line,
            }),
        }
    }
}
