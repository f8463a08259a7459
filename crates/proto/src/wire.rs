//! The requests' parameters, one type per op, with their defaults; `docs/protocol.md` has an
//! example of every request.
//!
//! A request is `{"v": 1, "id": ..., "op": "...", ...}`; its answer carries the same `id` and
//! either `"ok": true` with a `result`, or `"ok": false` with an `error` whose `code` is one
//! of a few stable values. The id may be any JSON value; the daemon only copies it.

use paperscout_app::render::Format;
use paperscout_app::users::SettingsChange;
use paperscout_store::FeedbackKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How to read `similar`'s query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// A stored paper by arXiv id or DOI, else by exact title, else free text.
    #[default]
    Auto,
    /// A stored paper by arXiv id or DOI.
    Paper,
    /// A stored paper by its exact title (case and spacing ignored).
    Title,
    /// Free text, embedded by the model.
    Text,
}

fn default_k() -> usize {
    10
}

/// `similar`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilarRequest {
    /// An arXiv id (any spelling), a DOI, a title or free text.
    pub query: String,
    /// How to read the query.
    #[serde(default)]
    pub by: QueryKind,
    /// How many papers.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Only papers announced on or after this day (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only papers announced on or before this day (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only papers in one of these categories; `cs` matches every `cs.*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

fn default_days() -> u32 {
    7
}

/// `recommend`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// The user.
    pub user: String,
    /// How many papers.
    #[serde(default = "default_k")]
    pub n: usize,
    /// The last announcement day considered [default: the newest day in the store].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// How many days up to `date`.
    #[serde(default = "default_days")]
    pub days: u32,
    /// Diversity: 1 ranks by relevance alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmr_lambda: Option<f32>,
    /// Best first, without a digest's sections (as the batch re-rank ranks).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flat: bool,
}

/// `why_not`: why a paper is, or is not, in a user's next digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhyNotRequest {
    /// The user.
    pub user: String,
    /// The paper: an arXiv id, a DOI or a paperscout id.
    pub paper: String,
    /// The digest's day [default: today].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// How many days up to `date` a first digest covers.
    #[serde(default = "default_one")]
    pub days: u32,
}

/// `facets`: the facets a user's profile falls into, as a digest's sections show them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetsRequest {
    /// The user.
    pub user: String,
}

/// `backtest`: how well the user's digests would have found their own latest papers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// The user.
    pub user: String,
    /// The share of the user's profile papers, likes and saves to hold out (0 to 1).
    #[serde(default = "default_holdout")]
    pub holdout: f64,
}

fn default_holdout() -> f64 {
    0.2
}

/// What `digest` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestAction {
    /// Choose the papers; answer with the digest as data.
    Build,
    /// Choose and render, recording nothing.
    #[default]
    Preview,
    /// Choose, render, and record the papers as sent.
    Send,
}

fn default_one() -> u32 {
    1
}

/// `digest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestRequest {
    /// The user.
    pub user: String,
    /// What to do.
    #[serde(default)]
    pub action: DigestAction,
    /// The day of the digest [default: today, UTC].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// For a first digest, how many days up to `date` it covers.
    #[serde(default = "default_one")]
    pub days: u32,
    /// Papers at most [default: the user's own setting, else 10].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// Diversity: 1 ranks by relevance alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmr_lambda: Option<f32>,
    /// Leave out papers less similar than this to every profile item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f32>,
    /// How `preview` and `send` render it.
    #[serde(default)]
    pub format: Format,
    /// E-mail it to the user's address: `send` queues the message with the papers' record
    /// and delivers it; `preview` returns the message as `rendered`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email: bool,
}

/// `feedback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The user.
    pub user: String,
    /// What kind.
    pub kind: FeedbackKind,
    /// arXiv ids or DOIs of stored papers.
    pub papers: Vec<String>,
}

/// `undo`: forget a user's ratings of papers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoRequest {
    /// The user.
    pub user: String,
    /// arXiv ids or DOIs of stored papers.
    pub papers: Vec<String>,
}

/// What `user` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    /// Create a user, or add to a profile.
    Add,
    /// Every user.
    List,
    /// A user's profile and feedback.
    Show,
    /// Remove a user with everything about them.
    Remove,
    /// Change a user's e-mail address and rules.
    Set,
    /// End every web link and session of the user.
    RevokeLinks,
}

/// `user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// What to do.
    pub action: UserAction,
    /// The user (not for `list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For `add`: papers (arXiv ids or DOIs of stored papers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub papers: Vec<String>,
    /// For `add`: statements of interest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interests: Vec<String>,
    /// For `set`: what to change.
    #[serde(default, skip_serializing_if = "SettingsChange::is_empty")]
    pub settings: Box<SettingsChange>,
}

impl UserRequest {
    /// `action` on the user `name`, with no papers, interests or settings: set the fields an
    /// action needs on what this returns.
    pub fn new(action: UserAction, name: &str) -> Self {
        Self {
            action,
            name: Some(name.to_owned()),
            papers: Vec::new(),
            interests: Vec::new(),
            settings: Box::default(),
        }
    }
}

/// `ingest`: a file the daemon can read, or papers inline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// A file or URL in any format `paperscout ingest` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Papers in paperscout's JSON paper format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub papers: Vec<Value>,
    /// Papers per transaction [default: 512].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// Keep only papers in these categories (`cs.CL`) or archives (`cs`); none: every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}
