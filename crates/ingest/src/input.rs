//! Opening a source: a file, standard input or an HTTP(S) URL, gzipped or not.
//!
//! Compression is detected from the first bytes, not the name, so `papers.jsonl.gz`, a `.gz`
//! served without a content encoding, and a plain file named `.gz` all read right. A gzip
//! stream may expand at most [`MAX_EXPANSION`] times (past a grace of
//! [`EXPANSION_GRACE_BYTES`]): far more than any listing, far less than a decompression bomb.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flate2::read::MultiGzDecoder;

use crate::error::{IngestError, Result};
use crate::limits::{EXPANSION_GRACE_BYTES, MAX_EXPANSION};

/// An opened source, ready to read.
pub struct Input {
    /// The file name or URL, as the user gave it: used in every message about its records.
    pub name: String,
    /// The decompressed content.
    pub reader: Box<dyn BufRead + Send>,
    /// The size on disk, where known, for a progress bar.
    pub len: Option<u64>,
    /// Bytes read so far from the file or the network (before decompression).
    pub consumed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("len", &self.len)
            .finish()
    }
}

/// Whether a source names a URL rather than a file.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Opens a file (`-` for standard input) or fetches a URL.
pub fn open(source: &str) -> Result<Input> {
    if is_url(source) {
        let (reader, len) = fetch(source)?;
        return wrap(source, reader, len);
    }
    if source == "-" {
        return wrap(source, Box::new(std::io::stdin()), None);
    }
    let file = fs_err::File::open(source).map_err(|error| IngestError::Read {
        source_name: source.to_owned(),
        error,
    })?;
    let len = file.metadata().ok().map(|meta| meta.len());
    wrap(source, Box::new(file), len)
}

/// Opens a regular file and nothing else: what a long-lived process reads on a client's
/// behalf. The open does not block (a FIFO without a writer would block it forever), and what
/// is not a regular file once open — a FIFO, a device, a socket, a folder — is refused, as are
/// `-` and URLs, which name no file.
pub fn open_file(path: &str) -> Result<Input> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    if path == "-" || is_url(path) {
        return Err(IngestError::NotAFile {
            source_name: path.to_owned(),
            kind: if path == "-" {
                "standard input"
            } else {
                "a URL"
            },
        });
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|error| IngestError::Read {
            source_name: path.to_owned(),
            error,
        })?;
    let meta = file.metadata().map_err(|error| IngestError::Read {
        source_name: path.to_owned(),
        error,
    })?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(IngestError::NotAFile {
            source_name: path.to_owned(),
            kind: if kind.is_dir() {
                "a folder"
            } else if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "a device"
            },
        });
    }
    // O_NONBLOCK means nothing to a regular file's reads.
    wrap(path, Box::new(file), Some(meta.len()))
}

fn wrap(name: &str, raw: Box<dyn Read + Send>, len: Option<u64>) -> Result<Input> {
    let consumed = Arc::new(AtomicU64::new(0));
    let mut counted = Counting {
        inner: raw,
        consumed: Arc::clone(&consumed),
    };
    // Two bytes decide; a pipe or a socket may hand them over one at a time.
    let mut head = Vec::with_capacity(2);
    while head.len() < 2 {
        let mut byte = [0u8; 1];
        let read = counted.read(&mut byte).map_err(|error| IngestError::Read {
            source_name: name.to_owned(),
            error,
        })?;
        if read == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let is_gzip = head == [0x1f, 0x8b];
    let whole = std::io::Cursor::new(head).chain(counted);
    let reader: Box<dyn BufRead + Send> = if is_gzip {
        Box::new(BufReader::with_capacity(
            64 * 1024,
            ExpansionLimit {
                inner: MultiGzDecoder::new(whole),
                compressed: Arc::clone(&consumed),
                expanded: 0,
            },
        ))
    } else {
        Box::new(BufReader::with_capacity(64 * 1024, whole))
    };
    Ok(Input {
        name: name.to_owned(),
        reader,
        len,
        consumed,
    })
}

/// Fails the read once a gzip stream has expanded more than [`MAX_EXPANSION`] times.
struct ExpansionLimit<R> {
    inner: R,
    /// Compressed bytes read so far.
    compressed: Arc<AtomicU64>,
    /// Bytes handed out so far.
    expanded: u64,
}

impl<R: Read> Read for ExpansionLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.expanded += read as u64;
        let compressed = self.compressed.load(Ordering::Relaxed).max(1);
        if self.expanded > EXPANSION_GRACE_BYTES && self.expanded > MAX_EXPANSION * compressed {
            return Err(std::io::Error::other(format!(
                "the gzip stream expands more than {MAX_EXPANSION} times ({compressed} bytes to \
                 over {} MiB so far): no listing does; it is refused as a decompression bomb",
                self.expanded >> 20
            )));
        }
        Ok(read)
    }
}

struct Counting {
    inner: Box<dyn Read + Send>,
    consumed: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.consumed.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// How often a server that says "busy, retry after N s" (HTTP 503, as OAI-PMH servers do, or
/// 429) is retried, and the longest wait accepted.
const RETRIES: u32 = 3;
const LONGEST_WAIT: Duration = Duration::from_secs(120);

/// The body of a URL as text, at most `limit` bytes (more is an error): for the JSON APIs
/// read whole (bioRxiv's), fetched as politely as a feed.
pub fn fetch_text(url: &str, limit: u64) -> Result<String> {
    let (reader, _) = fetch(url)?;
    let mut text = String::new();
    let read = reader
        .take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|err| IngestError::Fetch {
            url: url.to_owned(),
            message: format!("reading the answer: {err}"),
        })?;
    if read as u64 > limit {
        return Err(IngestError::Fetch {
            url: url.to_owned(),
            message: format!("the answer is longer than {} MiB", limit >> 20),
        });
    }
    Ok(text)
}

fn fetch(url: &str) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .user_agent(concat!("paperscout/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let fail = |message: String| IngestError::Fetch {
        url: url.to_owned(),
        message,
    };
    for attempt in 0..=RETRIES {
        // One request at a time per host, at least 3 s apart (see `polite`).
        let turn = crate::polite::turn(url);
        let response = agent.get(url).call().map_err(|err| fail(err.to_string()))?;
        drop(turn);
        let status = response.status();
        if status.is_success() {
            let len = response
                .headers()
                .get("content-length")
                .and_then(|value| value.to_str().ok()?.parse().ok());
            return Ok((Box::new(response.into_body().into_reader()), len));
        }
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match wait {
            Some(wait)
                if matches!(status.as_u16(), 429 | 503)
                    && attempt < RETRIES
                    && wait <= LONGEST_WAIT =>
            {
                tracing::info!(
                    url,
                    seconds = wait.as_secs(),
                    "server busy; waiting as asked"
                );
                std::thread::sleep(wait);
            }
            _ => return Err(fail(format!("the server answered {status}"))),
        }
    }
    Err(fail(format!(
        "the server was still busy after {RETRIES} retries"
    )))
}
