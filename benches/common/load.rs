//! What the load benchmarks (`daemon_load`, `web_load`) share: a daemon started for the run
//! and stopped by its pid, a connection to its socket, and clients that send requests one
//! after another for a while, keeping each latency.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `paperscout serve --foreground` of this run, stopped (SIGTERM, then waited for) when
/// dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Spawns `command` with its log in `log`, and waits until `ready` says it is; panics,
    /// naming the log, if the daemon stops first.
    pub fn start(mut command: Command, log: &Path, mut ready: impl FnMut() -> bool) -> Self {
        let started = Instant::now();
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut daemon = Self { child };
        while !ready() {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!("the daemon stopped ({status}); see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("daemon ready in {:.1} s", started.elapsed().as_secs_f64());
        daemon
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// One connection to the daemon's socket.
pub struct Conn {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    line: String,
}

impl Conn {
    /// Connects to `socket`; `None` while nothing listens there.
    pub fn connect(socket: &Path) -> Option<Self> {
        let stream = UnixStream::connect(socket).ok()?;
        Some(Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            line: String::new(),
        })
    }

    /// Sends one request line (ending in a newline) and returns the answer's line.
    pub fn send(&mut self, request_line: &str) -> &str {
        self.writer.write_all(request_line.as_bytes()).unwrap();
        self.line.clear();
        self.reader.read_line(&mut self.line).unwrap();
        &self.line
    }

    /// Sends `request` and returns its answer.
    pub fn ask(&mut self, request: &Value) -> Value {
        serde_json::from_str(self.send(&format!("{request}\n"))).unwrap()
    }
}

/// Whether a daemon answers `health` on `socket`.
pub fn healthy(socket: &Path) -> bool {
    Conn::connect(socket)
        .is_some_and(|mut conn| conn.ask(&serde_json::json!({"op": "health"}))["ok"] == true)
}

/// The requests of one load run.
pub struct Latencies {
    /// Each answered request's latency, in seconds.
    pub latencies: Vec<f64>,
    /// The run's wall time.
    pub seconds: f64,
    /// Requests that failed.
    pub failed: usize,
}

impl Latencies {
    /// Answered requests per second.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// A table row: `labels` (the leading cells, `|`-separated), then requests, requests/s,
    /// p50 and p99 in milliseconds; a line of failures after it when any failed.
    pub fn row(&self, labels: &str) -> String {
        let mut row = format!(
            "| {labels} | {} | {:.0} | {:.2} | {:.2} |",
            self.latencies.len(),
            self.per_second(),
            self.percentile(0.5),
            self.percentile(0.99)
        );
        if self.failed > 0 {
            row += &format!("\n({} requests failed)", self.failed);
        }
        row
    }

    /// The `p` quantile (0..1) of the latencies, in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] * 1e3
    }
}

/// `clients` threads, each making its worker with `make(client)` and calling it for
/// `seconds`, with a request number that starts apart for each client; the worker says
/// whether its request succeeded.
pub fn run_clients<W: FnMut(usize) -> bool>(
    clients: usize,
    seconds: f64,
    make: impl Fn(usize) -> W + Sync,
) -> Latencies {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let make = &make;
                scope.spawn(move || {
                    let mut work = make(client);
                    let mut latencies = Vec::new();
                    let mut failed = 0;
                    let mut n = client * 7919;
                    while Instant::now() < deadline {
                        let at = Instant::now();
                        if work(n) {
                            latencies.push(at.elapsed().as_secs_f64());
                        } else {
                            failed += 1;
                        }
                        n += 1;
                    }
                    (latencies, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    Latencies {
        seconds: started.elapsed().as_secs_f64(),
        failed: results.iter().map(|r| r.1).sum(),
        latencies: results.into_iter().flat_map(|r| r.0).collect(),
    }
}
