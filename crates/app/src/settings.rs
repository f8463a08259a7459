//! Settings: built-in defaults, then the TOML config file, then the environment, then flags.
//!
//! The binary's clap already merges the environment and the flags (a flag beats its variable)
//! and hands them over as [`Overrides`]; this module fills in from the config file whatever
//! neither of them gave, and then from the defaults, which all live in [`defaults`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{AppError, Result};
use crate::mail::MailConfig;
use crate::render::Format;

/// The config file's contents. Every key is optional.
///
/// ```toml
/// data_dir = "/srv/paperscout"
///
/// [model]
/// path = "/opt/models/all-MiniLM-L6-v2"   # or a hub name such as "sentence-transformers/all-MiniLM-L6-v2"
/// device = "cpu"
/// engine = "auto"
/// precision = "auto"                      # or "fp32", "bf16", "int8"
/// batch_size = 16
///
/// [daemon]
/// socket = "/run/user/1000/paperscout.sock"   # default: $XDG_RUNTIME_DIR, else the data dir
/// socket_group = "research"                   # mode 0660 for this group; default 0600
/// max_connections = 4096
/// max_connections_per_user = 2048             # per uid on the socket; default half the above
/// max_line_bytes = 1048576
/// idle_timeout_secs = 300
/// write_timeout_secs = 30                     # a client that stops reading is dropped
/// shared_ingest_folders = ["/srv/paperscout/incoming"]  # files any socket user may ingest
/// model_queue = 256
/// model_batch = 32
/// shutdown_deadline_secs = 10
/// compact_above = 0.1                     # rebuild the index past 10% replaced points
///
/// [schedule]                              # what the daemon does by itself
/// watch = "/srv/paperscout/incoming"      # listing files dropped here are ingested
/// feeds = ["https://example.org/listing.xml"]
/// feed_every_minutes = 60
/// digest_at = "07:00"                     # every user's digest hour, unless they set theirs
/// cadence = "daily"                       # daily, weekdays, weekly:mon, announcement
/// timezone = "Europe/Berlin"              # default: the machine's
/// digest_size = 10
/// digest_days = 1                         # what a first digest covers
/// digest_format = "html"                  # markdown, json, html or atom
/// outbox = "/srv/paperscout/digests"      # default: <data-dir>/digests
/// poll_seconds = 30
/// retry_seconds = 60                      # first pause after a failed webhook post
///
/// [[schedule.team_webhooks]]              # a team's channel: each of its users' digests
/// url = "https://hooks.slack.com/services/T0/B0/XXXX"
/// format = "slack"                        # slack, mattermost, discord, matrix or json
/// users = ["ada", "alan"]
///
/// [schedule.users.ada]                    # (or `paperscout user set ada --digest-at 08:30`)
/// digest_at = "08:30"                     # this user's own time
/// cadence = "weekly:mon"
/// timezone = "Asia/Tokyo"
///
/// [web]                                   # the page and its one-click links
/// listen = "127.0.0.1:8737"               # serve it (or `serve --http ADDR`)
/// public_url = "https://papers.lab.org"   # behind a reverse proxy: links are built from it
/// link_days = 60                          # how long a mail link works
/// session_days = 30                       # how long a sign-in lasts
/// requests_per_second = 50                # per client address, after a burst of 4x
/// trusted_proxies = ["127.0.0.1"]         # the reverse proxy: its X-Forwarded-For names the client
/// max_connections = 1024                  # at once; a client (an IP, an IPv6 /64) a quarter
/// idle_timeout_secs = 15                  # to send a request head, or between requests
///
/// [sources]                               # fetched by name (see paperscout_app::sources)
/// arxiv = ["cs.CL", "cs.LG", "stat.ML"]   # categories or whole archives
/// biorxiv = ["neuroscience"]              # subject collections, or "all"
/// medrxiv = "all"
///
/// [store]                                 # where papers, users and ratings live
/// url = "postgres://paperscout@db.lab.org/paperscout"   # default: the SQLite file in data_dir
///
/// [mail]                                  # see paperscout_app::mail::MailConfig
/// smtp_host = "smtp.example.org"
/// from = "paperscout <paperscout@example.org>"
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where paperscout keeps its data.
    pub data_dir: Option<PathBuf>,
    /// The embedding model.
    #[serde(default)]
    pub model: ModelConfig,
    /// The daemon.
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// What the daemon does on its own.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// E-mail delivery.
    #[serde(default)]
    pub mail: MailConfig,
    /// The web page.
    #[serde(default)]
    pub web: WebConfig,
    /// Sources fetched by name.
    #[serde(default)]
    pub sources: crate::sources::SourcesConfig,
    /// Where the store lives.
    #[serde(default)]
    pub store: StoreConfig,
}

/// The `[store]` table.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A PostgreSQL URL (`postgres://USER@HOST/DATABASE`); none: the SQLite file in the data
    /// directory.
    pub url: Option<String>,
}

/// The `[web]` table.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Where the page listens (`127.0.0.1:8737`); none: no page.
    pub listen: Option<String>,
    /// The URL users reach it at, when a reverse proxy stands in front; links are built from
    /// it. None: `http://` and the listen address.
    pub public_url: Option<String>,
    /// Days a one-click mail link works.
    pub link_days: Option<u32>,
    /// Days a sign-in lasts.
    pub session_days: Option<u32>,
    /// Requests a second per client address, sustained.
    pub requests_per_second: Option<f64>,
    /// The addresses of the reverse proxies in front of the page: a request from one of them is
    /// counted against the client its `X-Forwarded-For` names (the last address there that is
    /// not a trusted proxy), not against the proxy. Empty: the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Connections the page holds at once.
    pub max_connections: Option<usize>,
    /// Connections one client (an IPv4 address, an IPv6 /64) holds at once; default a quarter
    /// of `max_connections`. A trusted proxy's count only towards `max_connections`.
    pub max_connections_per_client: Option<usize>,
    /// Seconds a connection may take to send a whole request head, or wait between requests.
    pub idle_timeout_secs: Option<u64>,
}

impl WebConfig {
    /// `link_days`, at least 1.
    pub fn link_days(&self) -> u32 {
        self.link_days.unwrap_or(defaults::LINK_DAYS).max(1)
    }

    /// `session_days`, at least 1.
    pub fn session_days(&self) -> u32 {
        self.session_days.unwrap_or(defaults::SESSION_DAYS).max(1)
    }

    /// `requests_per_second`, at least 1.
    pub fn requests_per_second(&self) -> f64 {
        self.requests_per_second
            .unwrap_or(defaults::REQUESTS_PER_SECOND)
            .max(1.0)
    }

    /// `max_connections`, at least 1.
    pub fn max_connections(&self) -> usize {
        self.max_connections
            .unwrap_or(defaults::WEB_MAX_CONNECTIONS)
            .max(1)
    }

    /// `max_connections_per_client`, at least 1.
    pub fn max_connections_per_client(&self) -> usize {
        self.max_connections_per_client
            .unwrap_or(self.max_connections() / 4)
            .max(1)
    }

    /// `idle_timeout_secs`, at least 1.
    pub fn idle_timeout_secs(&self) -> u64 {
        self.idle_timeout_secs
            .unwrap_or(defaults::WEB_IDLE_TIMEOUT_SECS)
            .max(1)
    }

    /// The listen address, or the default one.
    pub fn listen_or_default(&self) -> String {
        self.listen
            .clone()
            .unwrap_or_else(|| defaults::WEB_LISTEN.to_owned())
    }
}

/// The `[schedule]` table.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// A folder whose new files are ingested, then moved to `done/` (or `failed/`).
    pub watch: Option<PathBuf>,
    /// Feed URLs (or files) ingested every `feed_every_minutes`.
    #[serde(default)]
    pub feeds: Vec<String>,
    /// Minutes between feed fetches.
    pub feed_every_minutes: Option<u64>,
    /// Time of day (HH:MM, in `timezone`) of every user's digest; none: scheduled digests
    /// only for users who set their own hour.
    pub digest_at: Option<String>,
    /// How often digests come, for users who did not say: daily, weekdays, weekly:mon (or
    /// another day), announcement [default: daily].
    pub cadence: Option<paperscout_types::Cadence>,
    /// The IANA time zone digest hours are read in, for users who did not say [default: the
    /// machine's].
    pub timezone: Option<String>,
    /// Seconds before a webhook post that failed is tried again, doubling after each failure
    /// up to an hour [default: 60].
    pub retry_seconds: Option<u64>,
    /// Papers per digest.
    pub digest_size: Option<usize>,
    /// Days a first digest covers.
    pub digest_days: Option<u32>,
    /// markdown, json, html or atom (markdown when not set).
    pub digest_format: Option<Format>,
    /// Where digests are written (see [`Settings::outbox`]).
    pub outbox: Option<PathBuf>,
    /// Seconds between looks at the folder, the feeds and the clock.
    pub poll_seconds: Option<u64>,
    /// Per-user settings.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, UserSchedule>,
    /// A team's channels: each posted every digest of its users, besides their own webhooks.
    #[serde(default)]
    pub team_webhooks: Vec<TeamWebhook>,
    /// The `[sources]` table, which the scheduler fetches: read from the file's own table
    /// (see [`FileConfig::sources`]), kept here so a reload replaces both at once.
    #[serde(skip)]
    pub sources: crate::sources::SourcesConfig,
}

/// A `[[schedule.team_webhooks]]` table: a team's chat channel, posted each of its users'
/// digests.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamWebhook {
    /// Where the digests are posted.
    pub url: String,
    /// slack, mattermost, discord, matrix or json [default: json].
    #[serde(default)]
    pub format: paperscout_types::WebhookFormat,
    /// Whose digests.
    pub users: Vec<String>,
}

impl ScheduleConfig {
    /// The team webhooks a user's digests are posted to.
    pub fn team_webhooks_of(&self, user: &str) -> Vec<paperscout_types::Webhook> {
        self.team_webhooks
            .iter()
            .filter(|team| team.users.iter().any(|u| u == user))
            .map(|team| paperscout_types::Webhook {
                url: team.url.clone(),
                format: team.format,
            })
            .collect()
    }
}

/// A `[schedule.users.NAME]` table.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSchedule {
    /// This user's digest time (HH:MM), instead of the global one.
    pub digest_at: Option<String>,
    /// This user's cadence.
    pub cadence: Option<paperscout_types::Cadence>,
    /// This user's time zone.
    pub timezone: Option<String>,
}

/// The `[daemon]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// The socket's path.
    pub socket: Option<PathBuf>,
    /// A group that may use the socket too.
    pub socket_group: Option<String>,
    /// Connections open at once.
    pub max_connections: Option<usize>,
    /// Connections one user (uid) may hold at once.
    pub max_connections_per_user: Option<usize>,
    /// Longest request line.
    pub max_line_bytes: Option<usize>,
    /// Seconds a connection may stay silent.
    pub idle_timeout_secs: Option<u64>,
    /// Seconds an answer may wait for a client to read it.
    pub write_timeout_secs: Option<u64>,
    /// Folders whose files any user of the socket may have the daemon ingest by path; other
    /// paths and URLs are the daemon's own user's (and root's) to ask for.
    #[serde(default)]
    pub shared_ingest_folders: Vec<PathBuf>,
    /// Requests that may wait for the model.
    pub model_queue: Option<usize>,
    /// Texts of waiting requests embedded together.
    pub model_batch: Option<usize>,
    /// Seconds shutdown waits for requests in flight.
    pub shutdown_deadline_secs: Option<u64>,
    /// Share of replaced papers' old points in the index past which it is rebuilt in the
    /// background.
    pub compact_above: Option<f64>,
}

/// The `[model]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A folder or a hub name.
    pub path: Option<String>,
    /// cpu, cuda or cuda:N.
    pub device: Option<String>,
    /// auto, fused or candle.
    pub engine: Option<String>,
    /// auto, fp32, bf16 or int8.
    pub precision: Option<String>,
    /// Texts per forward pass.
    pub batch_size: Option<u32>,
}

/// Settings after every source has had its say.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where paperscout keeps its data.
    pub data_dir: PathBuf,
    /// The embedding model, as far as the user chose one.
    pub model: ModelConfig,
    /// The daemon's settings from the file (flags are merged where they are used).
    pub daemon: DaemonConfig,
    /// What the daemon does on its own.
    pub schedule: ScheduleConfig,
    /// E-mail delivery.
    pub mail: MailConfig,
    /// The web page.
    pub web: WebConfig,
    /// The daemon's socket: --socket, else the file's, else the default place.
    pub socket: PathBuf,
    /// The store: --store-url, else the file's `[store] url`, else the SQLite file.
    pub store: crate::stores::StoreLocation,
}

/// What the command line (flags and environment) chose, before the config file is read.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`: the config file, instead of the default place.
    pub config: Option<PathBuf>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--model`, `--device`, `--engine`, `--precision`, `--batch-size`.
    pub model: ModelConfig,
    /// `--store-url`.
    pub store_url: Option<String>,
}

impl Settings {
    /// Merges the config file under the command line's choices.
    pub fn resolve(overrides: &Overrides) -> Result<Self> {
        let file = load_file(overrides.config.as_deref())?;
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        let from_cli = overrides.model.clone();
        let model = ModelConfig {
            path: from_cli
                .path
                .or(file.model.path)
                .or_else(|| switched_model(&data_dir)),
            device: from_cli.device.or(file.model.device),
            engine: from_cli.engine.or(file.model.engine),
            precision: from_cli.precision.or(file.model.precision),
            batch_size: from_cli.batch_size.or(file.model.batch_size),
        };
        let socket = overrides
            .socket
            .clone()
            .or_else(|| file.daemon.socket.clone())
            .unwrap_or_else(|| default_socket_path(&data_dir));
        let store = match overrides.store_url.clone().or(file.store.url) {
            Some(url) if !url.trim().is_empty() => crate::stores::StoreLocation::from_url(&url)?,
            _ => crate::stores::StoreLocation::Sqlite(paperscout_store::file_in(&data_dir)),
        };
        Ok(Self {
            store,
            data_dir,
            model,
            daemon: file.daemon,
            schedule: file.schedule,
            mail: file.mail,
            web: file.web,
            socket,
        })
    }

    /// Where scheduled digests are written: `[schedule] outbox`, else `<data-dir>/digests`.
    pub fn outbox(&self) -> PathBuf {
        self.schedule
            .outbox
            .clone()
            .unwrap_or_else(|| self.data_dir.join("digests"))
    }
}

/// The socket's name in its folder.
pub const SOCKET_FILE_NAME: &str = "paperscout.sock";

/// `$XDG_RUNTIME_DIR/paperscout.sock`, else `paperscout.sock` in the data directory.
pub fn default_socket_path(data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join(SOCKET_FILE_NAME),
        _ => data_dir.join(SOCKET_FILE_NAME),
    }
}

/// Every built-in default of the config file's keys, in one place; the `[daemon]` and
/// `[schedule]` tables' accessors fall back to these.
pub mod defaults {
    /// Longest request line on the socket, in bytes.
    pub const MAX_LINE_BYTES: usize = 1 << 20;
    /// Connections open at once.
    pub const MAX_CONNECTIONS: usize = 4096;
    /// Seconds a connection may stay silent.
    pub const IDLE_TIMEOUT_SECS: u64 = 300;
    /// Seconds an answer may wait for its client to read it.
    pub const WRITE_TIMEOUT_SECS: u64 = 30;
    /// Interactive requests that may wait for the model.
    pub const MODEL_QUEUE: usize = 256;
    /// Texts of waiting requests embedded together.
    pub const MODEL_BATCH: usize = 32;
    /// Seconds shutdown waits for requests in flight.
    pub const SHUTDOWN_DEADLINE_SECS: u64 = 10;
    /// Share of tombstones in the index past which it is rebuilt.
    pub const COMPACT_ABOVE: f64 = paperscout_index::hnsw::TOMBSTONE_LIMIT;
    /// Minutes between feed fetches.
    pub const FEED_EVERY_MINUTES: u64 = 60;
    /// Papers per scheduled digest.
    pub const DIGEST_SIZE: usize = 10;
    /// Days a first scheduled digest covers.
    pub const DIGEST_DAYS: u32 = 1;
    /// Seconds between the scheduler's looks at the folder, the feeds and the clock.
    pub const POLL_SECONDS: u64 = 30;
    /// Seconds before a failed webhook post is tried again (doubling, up to an hour).
    pub const RETRY_SECONDS: u64 = 60;
    /// Seconds before a failed fetch of a source is tried again (doubling, up to 6 hours).
    pub const SOURCE_RETRY_SECONDS: u64 = 300;
    /// Hours between fetches of bioRxiv and medRxiv.
    pub const PREPRINT_EVERY_HOURS: u64 = 6;
    /// arXiv's listings, by category: the categories joined with `+` follow.
    pub const ARXIV_RSS: &str = "https://rss.arxiv.org/rss/";
    /// arXiv's OAI-PMH endpoint.
    pub const ARXIV_OAI: &str = "https://oaipmh.arxiv.org/oai";
    /// bioRxiv's and medRxiv's API.
    pub const BIORXIV_API: &str = "https://api.biorxiv.org";
    /// Papers per ingest transaction.
    pub const INGEST_BATCH: usize = 512;
    /// Where the web page listens when it is asked for without an address.
    pub const WEB_LISTEN: &str = "127.0.0.1:8737";
    /// Days a one-click mail link works.
    pub const LINK_DAYS: u32 = 60;
    /// Days a sign-in on the web page lasts.
    pub const SESSION_DAYS: u32 = 30;
    /// Web requests a second per client address, sustained (four times as many at once).
    pub const REQUESTS_PER_SECOND: f64 = 50.0;
    /// Connections the web page holds at once.
    pub const WEB_MAX_CONNECTIONS: usize = 1024;
    /// Seconds a web connection may stay silent before a whole request head.
    pub const WEB_IDLE_TIMEOUT_SECS: u64 = 15;
}

impl DaemonConfig {
    /// `max_line_bytes`, at least 1 KiB.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
            .unwrap_or(defaults::MAX_LINE_BYTES)
            .max(1024)
    }

    /// `max_connections`, at least 1.
    pub fn max_connections(&self) -> usize {
        self.max_connections
            .unwrap_or(defaults::MAX_CONNECTIONS)
            .max(1)
    }

    /// `max_connections_per_user` under a total of `max_connections`: at least 1, at most the
    /// total, by default half of it, so that one user of a shared socket cannot lock the
    /// others out.
    pub fn max_connections_per_user(&self, max_connections: usize) -> usize {
        self.max_connections_per_user
            .unwrap_or(max_connections.div_ceil(2))
            .clamp(1, max_connections.max(1))
    }

    /// `write_timeout_secs`, at least 1.
    pub fn write_timeout_secs(&self) -> u64 {
        self.write_timeout_secs
            .unwrap_or(defaults::WRITE_TIMEOUT_SECS)
            .max(1)
    }

    /// `idle_timeout_secs`, at least 1.
    pub fn idle_timeout_secs(&self) -> u64 {
        self.idle_timeout_secs
            .unwrap_or(defaults::IDLE_TIMEOUT_SECS)
            .max(1)
    }

    /// `model_queue`.
    pub fn model_queue(&self) -> usize {
        self.model_queue.unwrap_or(defaults::MODEL_QUEUE)
    }

    /// `model_batch`.
    pub fn model_batch(&self) -> usize {
        self.model_batch.unwrap_or(defaults::MODEL_BATCH)
    }

    /// `shutdown_deadline_secs`.
    pub fn shutdown_deadline_secs(&self) -> u64 {
        self.shutdown_deadline_secs
            .unwrap_or(defaults::SHUTDOWN_DEADLINE_SECS)
    }

    /// `compact_above`.
    pub fn compact_above(&self) -> f64 {
        self.compact_above.unwrap_or(defaults::COMPACT_ABOVE)
    }
}

impl ScheduleConfig {
    /// `feed_every_minutes`.
    pub fn feed_every_minutes(&self) -> u64 {
        self.feed_every_minutes
            .unwrap_or(defaults::FEED_EVERY_MINUTES)
    }

    /// `digest_size`.
    pub fn digest_size(&self) -> usize {
        self.digest_size.unwrap_or(defaults::DIGEST_SIZE)
    }

    /// `digest_days`.
    pub fn digest_days(&self) -> u32 {
        self.digest_days.unwrap_or(defaults::DIGEST_DAYS)
    }

    /// `retry_seconds`, at least 1.
    pub fn retry_seconds(&self) -> u64 {
        self.retry_seconds.unwrap_or(defaults::RETRY_SECONDS).max(1)
    }

    /// `poll_seconds`, at least 1.
    pub fn poll_seconds(&self) -> u64 {
        self.poll_seconds.unwrap_or(defaults::POLL_SECONDS).max(1)
    }
}

/// The file in a data directory that names the model `embed --all` switched it to.
pub fn switch_file(data_dir: &Path) -> PathBuf {
    data_dir.join("model.json")
}

/// The model `embed --all` switched the data directory to: used when no flag, environment
/// variable or config file names one.
fn switched_model(data_dir: &Path) -> Option<String> {
    switch_record(data_dir)?["path"].as_str().map(str::to_owned)
}

/// What `embed --all` recorded in [`switch_file`] (path, name, sha256, dim, precision), if the
/// data directory was ever switched; a malformed file is warned of and taken as none.
pub fn switch_record(data_dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(switch_file(data_dir)).ok()?;
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(
                "{} is malformed ({err}); using the default model",
                switch_file(data_dir).display()
            );
            None
        }
    }
}

/// Reads the config file again (for the daemon's SIGHUP); `explicit` is `--config`.
pub fn reload_file(explicit: Option<&Path>) -> Result<FileConfig> {
    load_file(explicit)
}

fn load_file(explicit: Option<&Path>) -> Result<FileConfig> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => match default_config_path() {
            Some(path) if path.is_file() => path,
            _ => return Ok(FileConfig::default()),
        },
    };
    let text = fs_err::read_to_string(&path).map_err(|err| {
        AppError::Config(format!(
            "could not read the config file: {err}; fix --config or PAPERSCOUT_CONFIG"
        ))
    })?;
    let mut file: FileConfig = toml::from_str(&text).map_err(|err| {
        AppError::Config(format!(
            "{} is not a valid paperscout config file: {err}",
            path.display()
        ))
    })?;
    file.schedule.sources = file.sources.clone();
    Ok(file)
}

/// The config file a command reads: `--config` (or `PAPERSCOUT_CONFIG`), else the default
/// place, whether or not it exists yet.
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(default_config_path)
}

fn xdg_dir(variable: &str, fallback_under_home: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| Path::new(&home).join(fallback_under_home)),
    }
}

fn default_config_path() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|dir| dir.join("paperscout/config.toml"))
}

fn default_data_dir() -> PathBuf {
    xdg_dir("XDG_DATA_HOME", ".local/share").map_or_else(
        || PathBuf::from(".paperscout"),
        |dir| dir.join("paperscout"),
    )
}
