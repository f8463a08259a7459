//! What the store holds and hands back: papers with their bookkeeping, models, users, profile
//! items, feedback and statistics.

use std::fmt;
use std::str::FromStr;

use paperscout_types::{Paper, UserSettings};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Seconds since the Unix epoch. Callers pass the time in, so the store stays deterministic.
pub type Timestamp = i64;

/// A paper as stored, with where it came from and when paperscout first and last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPaper {
    /// The paper's metadata, merged over every time it was ingested.
    pub paper: Paper,
    /// The source that last changed it (a file name or a URL).
    pub source: String,
    /// When paperscout first stored it.
    pub first_seen: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

/// The model an embedding was computed with. A different name or different weights (sha256)
/// make a different model, so a model change is noticed and old vectors are never mixed in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    /// The model's name, e.g. `all-MiniLM-L6-v2`.
    pub name: String,
    /// The sha256 of its weights.
    pub sha256: String,
    /// The length of its vectors.
    pub dim: usize,
}

impl ModelKey {
    /// Checks that a vector for `paper` has this model's dimension.
    pub fn check(&self, paper: &str, vector: &[f32]) -> crate::Result<()> {
        if vector.len() == self.dim {
            Ok(())
        } else {
            Err(crate::StoreError::Dimension {
                paper: paper.to_owned(),
                model: self.name.clone(),
                expected: self.dim,
                found: vector.len(),
            })
        }
    }
}

/// One paper to write, with its embedding under the write's model when one was computed.
#[derive(Debug, Clone, Copy)]
pub struct PaperWrite<'a> {
    /// The paper as the source gave it.
    pub paper: &'a Paper,
    /// Where it came from.
    pub source: &'a str,
    /// Its embedding of [`Paper::embedding_text`] as merged with what is stored; see
    /// [`crate::Store::classify`] for which papers need one.
    pub embedding: Option<&'a [f32]>,
}

/// What writing a paper would do to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The paper is new.
    New,
    /// The paper is known and this record changes it.
    Updated {
        /// Whether its title or abstract (the embedded text) changed.
        text_changed: bool,
    },
    /// The paper is known and this record adds nothing.
    Unchanged,
    /// The store holds a newer version of the paper; the record is ignored.
    Older,
}

/// What writing a paper would do, and whether it then needs an embedding under a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// How the paper would change.
    pub change: Change,
    /// Whether, after the write, the paper would lack an embedding of its current text.
    pub needs_embedding: bool,
}

/// What a batch of writes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSummary {
    /// New papers.
    pub added: usize,
    /// Known papers that changed.
    pub updated: usize,
    /// Known papers the records added nothing to.
    pub unchanged: usize,
    /// Records of older versions than the store holds, ignored.
    pub older: usize,
    /// Embeddings written.
    pub embedded: usize,
}

impl WriteSummary {
    /// Counts one paper's change.
    pub fn count(&mut self, change: Change) {
        match change {
            Change::New => self.added += 1,
            Change::Updated { .. } => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
            Change::Older => self.older += 1,
        }
    }

    /// Adds another batch's counts to these.
    pub fn absorb(&mut self, other: Self) {
        self.added += other.added;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.older += other.older;
        self.embedded += other.embedded;
    }
}

/// Everything a ranking reads of one user, read together
/// ([`crate::Store::user_state`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    /// The user, with their settings.
    pub user: User,
    /// Their profile items, oldest first.
    pub profile: Vec<ProfileItem>,
    /// Their ratings, oldest first.
    pub feedback: Vec<Feedback>,
    /// The ids of the papers ever sent to them, sorted.
    pub sent: Vec<String>,
}

/// A user of this paperscout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The store's number for the user.
    pub id: i64,
    /// The name the user goes by in commands.
    pub name: String,
    /// When the user was created.
    pub created: Timestamp,
    /// The user's e-mail address and rules.
    pub settings: UserSettings,
}

/// One paper of a user's stored recommendations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// The paper.
    pub paper_id: String,
    /// Its ranking score.
    pub score: f32,
    /// Why it was recommended, as JSON (the ranking's own explanation).
    pub because: String,
}

/// A user's recommendations as a batch re-rank stored them, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRecommendations {
    /// The ranking method.
    pub method: String,
    /// When they were computed.
    pub computed: Timestamp,
    /// Best first.
    pub papers: Vec<Recommendation>,
}

/// A digest e-mail to queue with the papers it sends.
#[derive(Debug, Clone, Copy)]
pub struct NewMail<'a> {
    /// How it travels.
    pub channel: Channel,
    /// The digest's day (`YYYY-MM-DD`).
    pub day: &'a str,
    /// The address (e-mail) or URL (webhook) it goes to.
    pub recipient: &'a str,
    /// What is sent: the whole e-mail, headers and body, as the SMTP server will receive it,
    /// or the body a webhook is posted.
    pub message: &'a [u8],
}

/// How a queued message travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// By SMTP.
    #[default]
    Email,
    /// As an HTTP POST of a JSON body.
    Webhook,
}

impl Channel {
    /// Its name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    /// The channel a stored name names; an unknown name (from a newer paperscout) is none.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "email" => Some(Self::Email),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

/// A scheduled digest, recorded as delivered all at once: its day, its papers as sent and,
/// for a user with an e-mail address, its message queued.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The user it went to.
    pub user: &'a str,
    /// The digest's day (`YYYY-MM-DD`): one scheduled digest per user and day.
    pub day: &'a str,
    /// The papers it sends.
    pub paper_ids: &'a [&'a str],
    /// When.
    pub at: Timestamp,
    /// Its messages (an e-mail, webhook posts), queued with it.
    pub messages: &'a [NewMail<'a>],
}

/// A digest message (e-mail or webhook post) in the outbox, not delivered yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedMail {
    /// Its number in the outbox.
    pub id: i64,
    /// How it travels.
    pub channel: Channel,
    /// Whose digest.
    pub user: String,
    /// The digest's day.
    pub day: String,
    /// The address or URL it goes to.
    pub recipient: String,
    /// The whole message.
    #[serde(skip)]
    pub message: Vec<u8>,
    /// When it was queued.
    pub queued: Timestamp,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the last attempt was made.
    pub last_attempt: Option<Timestamp>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// What a profile item points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ProfileSubject {
    /// A paper in the store, by paper id.
    Paper(String),
    /// A free-text statement of interest, embedded as a query.
    Interest(String),
}

/// One thing a user said they care about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileItem {
    /// The paper or the interest.
    pub subject: ProfileSubject,
    /// How much it counts (1 unless the user said otherwise).
    pub weight: f32,
    /// When it was added.
    pub added: Timestamp,
}

/// A user's reaction to a paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    /// More like this.
    Like,
    /// Less like this.
    Dislike,
    /// Saved to read: a strong like.
    Save,
    /// Not interested: a mild dislike.
    Dismiss,
}

impl FeedbackKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 4] = [Self::Like, Self::Dislike, Self::Save, Self::Dismiss];

    /// The name used in the store, on the command line and in the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Like => "like",
            Self::Dislike => "dislike",
            Self::Save => "save",
            Self::Dismiss => "dismiss",
        }
    }
}

impl fmt::Display for FeedbackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedbackKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown feedback {text:?}: use like, dislike, save or dismiss"))
    }
}

/// One feedback event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The paper reacted to.
    pub paper_id: String,
    /// The reaction.
    pub kind: FeedbackKind,
    /// When.
    pub at: Timestamp,
}

/// What the store holds, for `paperscout stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Papers stored.
    pub papers: u64,
    /// Embeddings stored, over every model.
    pub embeddings: u64,
    /// Embeddings per model.
    pub models: Vec<ModelStats>,
    /// Users.
    pub users: u64,
    /// The earliest announcement date among the papers.
    pub first_date: Option<String>,
    /// The latest announcement date among the papers.
    pub last_date: Option<String>,
    /// Bytes on disk (the database and its write-ahead log), where there is a file.
    pub file_bytes: Option<u64>,
}

/// Embeddings stored under one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    /// The model's name.
    pub name: String,
    /// The sha256 of its weights.
    pub sha256: String,
    /// Its dimension.
    pub dim: usize,
    /// How many papers have an embedding under it.
    pub count: u64,
}

/// The sha256 of the text paperscout embeds for a paper: an embedding is current exactly when
/// it was computed from text with this digest.
pub fn text_digest(paper: &Paper) -> [u8; 32] {
    Sha256::digest(paper.embedding_text().as_bytes()).into()
}
