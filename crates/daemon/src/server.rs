//! The accept loop and the connections: newline-delimited requests, read with a length
//! limit and an idle timeout, answered in order (each on a blocking thread unless quick), and
//! written with a timeout, so a client that stops reading loses its connection rather than
//! holding a slot. Connections are capped in all and per user (uid), so one user of a shared
//! socket cannot lock the others out.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use paperscout_proto::{Answer, ErrorCode, Request, Response, answer_line, parse_request};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::peer::{Peer, ReadPolicy};
use crate::per_key::{KeySlot, PerKey};
use crate::service::{Failure, Service};
use crate::text;

/// Limits that keep one client from hurting the others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Longest request line, in bytes.
    pub max_line: usize,
    /// Connections open at once; more are answered `overloaded` and closed.
    pub max_connections: usize,
    /// Connections one user (uid) may hold at once; more are refused the same way.
    pub max_per_user: usize,
    /// A connection that sends no complete line for this long is closed.
    pub idle_timeout: Duration,
    /// A connection whose client has not taken an answer after this long is closed.
    pub write_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_deadline: Duration,
}

/// How a line read ended.
enum LineRead {
    Line,
    TooLong,
    Eof,
}

/// Reads up to a newline, keeping at most `max` bytes; a longer line is consumed and
/// reported, so the connection can go on with the next one.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead> {
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => LineRead::TooLong,
                (false, true) => LineRead::Eof,
                (false, false) => LineRead::Line,
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..at], at + 1),
            None => (available, available.len()),
        };
        let ends = done > chunk.len();
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line.clear();
                line.shrink_to(4096);
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(done);
        if ends {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

/// Serves until `shutdown` turns true, then waits up to the deadline for requests in flight.
pub async fn run(
    service: Arc<Service>,
    listener: UnixListener,
    limits: Arc<RwLock<Limits>>,
    policy: Arc<ReadPolicy>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max_connections = current(&limits).max_connections;
    let permits = Arc::new(Semaphore::new(max_connections));
    let users: Arc<PerKey<Option<u32>>> = Arc::new(PerKey::default());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let peer = Peer::of(&stream);
                    let max_per_user = current(&limits).max_per_user;
                    let Some(slot) = users.take(peer.uid, max_per_user) else {
                        tokio::spawn(refuse(stream, format!(
                            "you have {max_per_user} connections open to the daemon, the limit \
                             per user: close some and retry, or raise \
                             daemon.max_connections_per_user"
                        )));
                        continue;
                    };
                    match Arc::clone(&permits).try_acquire_owned() {
                        Ok(permit) => {
                            connections.spawn(connection(
                                Arc::clone(&service),
                                stream,
                                Arc::clone(&limits),
                                Arc::clone(&policy),
                                shutdown.clone(),
                                (permit, slot, peer),
                            ));
                        }
                        Err(_) => {
                            tokio::spawn(refuse(stream, format!(
                                "the daemon has {max_connections} connections open, its limit: \
                                 retry later, or raise daemon.max_connections"
                            )));
                        }
                    }
                }
                Err(err) => {
                    // Out of file descriptors, typically: let connections close.
                    tracing::warn!("could not accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let deadline = current(&limits).shutdown_deadline;
    let drained = tokio::time::timeout(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still busy after {:?}; closing them",
            connections.len(),
            deadline
        );
        connections.abort_all();
    }
}

fn current(limits: &RwLock<Limits>) -> Limits {
    *limits.read().unwrap_or_else(PoisonError::into_inner)
}

async fn refuse(mut stream: tokio::net::UnixStream, message: String) {
    let line = Response::error(Value::Null, ErrorCode::Overloaded, message).to_line();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
}

/// Counts a connection while it lives.
struct Counted(Arc<Service>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(
    service: Arc<Service>,
    stream: tokio::net::UnixStream,
    limits: Arc<RwLock<Limits>>,
    policy: Arc<ReadPolicy>,
    mut shutdown: watch::Receiver<bool>,
    (_permit, _slot, peer): (OwnedSemaphorePermit, KeySlot<Option<u32>>, Peer),
) {
    service.connections.fetch_add(1, Ordering::Relaxed);
    let _counted = Counted(Arc::clone(&service));
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::with_capacity(4096, read);
    let mut line = Vec::new();
    loop {
        let Limits {
            max_line,
            idle_timeout,
            write_timeout,
            ..
        } = current(&limits);
        line.clear();
        let read = tokio::select! {
            read = tokio::time::timeout(idle_timeout, read_line(&mut reader, &mut line, max_line)) => read,
            _ = shutdown.changed() => return,
        };
        let answer = match read {
            Err(_) | Ok(Err(_) | Ok(LineRead::Eof)) => return,
            Ok(Ok(LineRead::TooLong)) => Response::error(
                Value::Null,
                ErrorCode::BadRequest,
                format!("the request line is longer than {max_line} bytes, the limit; send papers in smaller requests"),
            )
            .to_line(),
            Ok(Ok(LineRead::Line)) => match answer(&service, &policy, peer, &line).await {
                Some(answer) => answer,
                None => continue,
            },
        };
        let written = tokio::select! {
            written = tokio::time::timeout(write_timeout, write.write_all(answer.as_bytes())) => written,
            _ = shutdown.changed() => return,
        };
        if !matches!(written, Ok(Ok(()))) {
            if written.is_err() {
                tracing::debug!(
                    ?peer,
                    "a client took no answer for {write_timeout:?}; closed"
                );
            }
            return;
        }
    }
}

/// The answer to one line; none for a blank line.
async fn answer(
    service: &Arc<Service>,
    policy: &ReadPolicy,
    peer: Peer,
    line: &[u8],
) -> Option<String> {
    let Ok(text) = std::str::from_utf8(line) else {
        return Some(
            Response::error(
                Value::Null,
                ErrorCode::BadRequest,
                "the request is not UTF-8 text",
            )
            .to_line(),
        );
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.starts_with(['{', '[']) {
        let (id, request) = match parse_request(text) {
            Ok(parsed) => parsed,
            Err((id, message)) => {
                return Some(Response::error(id, ErrorCode::BadRequest, message).to_line());
            }
        };
        let op = request.op();
        return Some(match run_for(service, policy, peer, request).await {
            Ok(answer) => answer_line(&id, &answer),
            Err(failure) => {
                log_failure(op, &id, &failure);
                Response::error(id, failure.code, failure.message).to_line()
            }
        });
    }
    Some(match text::parse(text) {
        Ok(command) => {
            let op = command.request.op();
            let answer = run_for(service, policy, peer, command.request).await;
            if let Err(failure) = &answer {
                log_failure(op, &Value::Null, failure);
            }
            text::render(answer)
        }
        Err(help) => help,
    })
}

/// Runs a request as this peer may have it run.
async fn run_for(
    service: &Arc<Service>,
    policy: &ReadPolicy,
    peer: Peer,
    request: Request,
) -> Result<Answer, Failure> {
    run_blocking(service, policy.admit(request, peer)?).await
}

/// A failed request in the log: at error level when it failed inside the daemon (its answer
/// tells the user to read the log), with the request's op and id; at debug level when it was
/// the request's fault.
fn log_failure(op: &str, id: &Value, failure: &Failure) {
    if failure.code == ErrorCode::Internal {
        tracing::error!(op, id = %id, "{}", failure.message);
    } else {
        tracing::debug!(op, id = %id, code = failure.code.name(), "{}", failure.message);
    }
}

async fn run_blocking(service: &Arc<Service>, request: Request) -> Result<Answer, Failure> {
    if service.is_quick(&request) {
        // Handing a sub-millisecond request to another thread costs more than it saves, and
        // with many clients oversubscribes the cores.
        return service.handle(request);
    }
    let service = Arc::clone(service);
    match tokio::task::spawn_blocking(move || service.handle(request)).await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::error!("a request panicked: {err}");
            Err(Failure {
                code: ErrorCode::Internal,
                message: "the request failed inside the daemon (a bug): see its log".to_owned(),
            })
        }
    }
}
