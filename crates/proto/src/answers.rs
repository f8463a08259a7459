//! The typed answer of every op. The daemon builds these, the command line and the text
//! protocol print them, and a client decodes the wire's result into them.

use paperscout_app::choose::Digest;
use paperscout_app::mail::Delivery;
use paperscout_app::users::Shown;
use paperscout_ingest::Report;
use paperscout_store::{FeedbackKind, Stats, StoredPaper, User};
use paperscout_types::UserSettings;
use serde::{Deserialize, Serialize};

/// What `similar` resolved its query to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedQuery {
    /// `paper` or `text`.
    pub kind: String,
    /// The stored paper, for a paper query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its title, or the text.
    pub text: String,
}

/// One paper in `similar`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarHit {
    /// The paper's id.
    pub id: String,
    /// Cosine similarity with the query.
    pub score: f32,
    /// Title.
    pub title: String,
    /// Announcement day, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// arXiv categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// `similar`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarAnswer {
    /// The query as understood.
    pub query: ResolvedQuery,
    /// Best first.
    pub hits: Vec<SimilarHit>,
}

/// `digest`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestAnswer {
    /// The chosen papers.
    pub digest: Digest,
    /// The digest in the requested format, or the e-mail message; none for `build`, and for
    /// a `send` by e-mail (the message went to the server).
    pub rendered: Option<String>,
    /// Papers newly recorded as sent; none when nothing was recorded (`build`, `preview`).
    pub recorded: Option<usize>,
    /// Where the e-mail went, for a `send` by e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// What the delivery run after the `send` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// `feedback`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackAnswer {
    /// The user.
    pub user: String,
    /// What kind of feedback was recorded.
    pub kind: FeedbackKind,
    /// The papers' ids, as stored.
    pub papers: Vec<String>,
}

/// `undo`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoAnswer {
    /// The user.
    pub user: String,
    /// Each paper named, with how many of its ratings were forgotten (0: it had none).
    pub papers: Vec<Undone>,
}

impl UndoAnswer {
    /// The answer to an undo of `user`'s ratings: each paper with its ratings forgotten, as
    /// `paperscout_app::users::undo_feedback` returns them.
    pub fn new(user: &str, undone: Vec<(StoredPaper, usize)>) -> Self {
        Self {
            user: user.to_owned(),
            papers: undone
                .into_iter()
                .map(|(found, forgotten)| Undone {
                    paper: found.paper.id,
                    forgotten,
                })
                .collect(),
        }
    }
}

/// One paper of an `undo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undone {
    /// The paper's id, as stored.
    pub paper: String,
    /// Its ratings forgotten.
    pub forgotten: usize,
}

/// `user`'s answer, one shape per action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserAnswer {
    /// `list`: every user.
    List(Vec<User>),
    /// `show`: the user's profile and feedback.
    Show(Box<Shown>),
    /// `add`: what the profile gained.
    Added(Added),
    /// `set`: the settings as they now are.
    Set(Box<SettingsSet>),
    /// `remove`: who was removed.
    Removed(Removed),
    /// `revoke_links`: the user's new link epoch.
    Revoked(Revoked),
}

/// What `user revoke_links` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoked {
    /// The user whose links and sessions ended.
    pub revoked: String,
    /// The epoch new links are made in.
    pub links_epoch: u32,
}

/// What `user add` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Added {
    /// The user.
    pub user: String,
    /// Whether the user was created by this request.
    pub created: bool,
    /// Profile items added: papers and interests.
    pub added: usize,
    /// Paper keys the store does not hold.
    pub unknown: Vec<String>,
}

/// What `user set` left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsSet {
    /// The user.
    pub user: String,
    /// The settings after the change.
    pub settings: UserSettings,
}

/// What `user remove` removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    /// The user, with their profile, feedback and digest history.
    pub removed: String,
}

/// `ingest`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestAnswer {
    /// The file or URL read, or `request` for inline papers.
    pub source: String,
    /// What the ingest did.
    pub report: Report,
    /// The first hundred bad records, each with its line or record number and why.
    pub bad_records: Vec<String>,
    /// Seconds spent.
    pub seconds: f64,
}

/// `stats`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsAnswer {
    /// What the store holds.
    pub store: Stats,
    /// What the index holds.
    pub index: IndexStats,
    /// What the daemon's in-memory metadata holds.
    pub catalog: CatalogStats,
    /// The model the daemon embeds with.
    pub model: ModelStats,
}

/// The index's part of `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IndexStats {
    /// Live papers.
    pub papers: usize,
    /// Points in the graph, tombstones included.
    pub points: usize,
    /// Share of the points that are tombstones.
    pub tombstone_ratio: f64,
}

/// The catalogue's part of `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CatalogStats {
    /// Papers whose metadata the daemon holds in memory.
    pub papers: usize,
}

/// The model's part of `stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    /// The model's name.
    pub name: String,
    /// The sha256 of its weights.
    pub sha256: String,
    /// Its vectors' length.
    pub dim: usize,
}

/// `health`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthAnswer {
    /// `ok`.
    pub status: String,
    /// paperscout's version.
    pub version: String,
    /// The protocol version the daemon speaks.
    pub protocol: u32,
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since the daemon started serving.
    pub uptime_seconds: f64,
    /// Live papers in the index.
    pub papers_indexed: usize,
    /// Requests waiting for the model.
    pub model_queue: usize,
    /// Connections open now.
    pub connections: usize,
    /// The daemons sharing the daemon's PostgreSQL database, as its last note (every few
    /// seconds) saw them; absent on the SQLite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// The daemons serving from one PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterHealth {
    /// The database, its password hidden.
    pub database: String,
    /// Whether the answering daemon leads the schedule.
    pub leader: bool,
    /// Every daemon heard from in the last minute, by name.
    pub daemons: Vec<DaemonHealth>,
}

/// One daemon of a [`ClusterHealth`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonHealth {
    /// `host:pid`.
    pub name: String,
    /// Whether this is the answering daemon.
    pub this: bool,
    /// Whether it leads the schedule (feeds, the watched folder, digests, delivery).
    pub leader: bool,
    /// Embeddings written that its index had not absorbed yet.
    pub index_lag: i64,
    /// Seconds since it last noted itself.
    pub seen_seconds_ago: i64,
}
