//! The requests' parameters and the envelope around them: one JSON object a line each way,
//! documented with an example of every request in `docs/protocol.md`.
//!
//! A request is `{"v": 1, "id": ..., "op": "...", ...}`; its answer carries the same `id` and
//! either `"ok": true` with a `result`, or `"ok": false` with an `error` whose `code` is one
//! of a few stable values. The id may be any JSON value; the daemon only copies it.

use paperscout_app::render::Format;
use paperscout_app::users::SettingsChange;
use paperscout_store::FeedbackKind;
use paperscout_types::Fault;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ops::{OPS, Request, parse_op};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

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
    pub settings: SettingsChange,
}

/// `ingest`: a file the daemon can read, or papers inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

/// The stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or asks for something impossible: fix it.
    BadRequest,
    /// A paper or user the request names does not exist.
    NotFound,
    /// The daemon is at a limit (connections, the model's queue): retry later.
    Overloaded,
    /// Something failed inside the daemon: see its log.
    Internal,
}

impl ErrorCode {
    /// The code of a failure with this fault.
    pub fn of(fault: Fault) -> Self {
        match fault {
            Fault::User => Self::BadRequest,
            Fault::Missing => Self::NotFound,
            Fault::Busy => Self::Overloaded,
            Fault::Environment | Fault::Bug => Self::Internal,
        }
    }

    /// The fault a code stands for; `internal` is taken for a bug, the daemon's log says more.
    pub fn fault(self) -> Fault {
        match self {
            Self::BadRequest => Fault::User,
            Self::NotFound => Fault::Missing,
            Self::Overloaded => Fault::Busy,
            Self::Internal => Fault::Bug,
        }
    }

    /// The code's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
        }
    }
}

/// An error answer's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Which kind of failure.
    pub code: ErrorCode,
    /// What went wrong and what to do.
    pub message: String,
}

/// One answer line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The protocol version.
    pub v: u32,
    /// The request's id, copied.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub id: Value,
    /// Whether `result` (true) or `error` (false) follows.
    pub ok: bool,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Response {
    /// A successful answer.
    pub fn ok(id: Value, result: Value) -> Self {
        Self {
            v: VERSION,
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A failed answer.
    pub fn error(id: Value, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            v: VERSION,
            id,
            ok: false,
            result: None,
            error: Some(ErrorBody {
                code,
                message: message.into(),
            }),
        }
    }

    /// The line to send, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|err| {
            format!(
                r#"{{"v":{VERSION},"ok":false,"error":{{"code":"internal","message":"could not encode the answer: {err}"}}}}"#
            )
        });
        line.push('\n');
        line
    }
}

/// A successful answer's line, newline included, with `result` serialised straight from its
/// type (an `f32` score is written as the shortest text that reads back as the same `f32`,
/// as the client prints it).
pub fn answer_line<T: Serialize>(id: &Value, result: &T) -> String {
    #[derive(Serialize)]
    struct Answered<'a, T> {
        v: u32,
        #[serde(skip_serializing_if = "Value::is_null")]
        id: &'a Value,
        ok: bool,
        result: &'a T,
    }
    let answered = Answered {
        v: VERSION,
        id,
        ok: true,
        result,
    };
    match serde_json::to_string(&answered) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        Err(err) => Response::error(
            id.clone(),
            ErrorCode::Internal,
            format!("could not encode the answer: {err}"),
        )
        .to_line(),
    }
}

/// Reads a request line: the id is recovered even when the rest is wrong, so the error answer
/// can carry it.
pub fn parse_request(line: &str) -> Result<(Value, Request), (Value, String)> {
    let value: Value = serde_json::from_str(line)
        .map_err(|err| (Value::Null, format!("the line is not valid JSON: {err}")))?;
    let Value::Object(mut object) = value else {
        return Err((
            Value::Null,
            "a request must be a JSON object such as {\"v\":1,\"op\":\"health\"}".to_owned(),
        ));
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    match object.remove("v") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(VERSION)) => {}
        Some(other) => {
            return Err((
                id,
                format!(
                    "protocol version {other} is not spoken here; this daemon speaks v{VERSION}"
                ),
            ));
        }
    }
    let Some(Value::String(op)) = object.remove("op") else {
        return Err((
            id,
            format!(
                "the request has no \"op\" string: one of {}",
                OPS.join(", ")
            ),
        ));
    };
    let request = match parse_op(&op, object) {
        Some(request) => request,
        None => Err(format!(
            "there is no op {op:?}: use one of {}",
            OPS.join(", ")
        )),
    };
    request
        .map(|request| (id.clone(), request))
        .map_err(|message| (id, format!("{message}; see docs/protocol.md")))
}

/// An op's parameters, with the path of the field at fault in the message.
pub(crate) fn params<T: serde::de::DeserializeOwned>(
    object: serde_json::Map<String, Value>,
) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|err| {
        let path = err.path().to_string();
        if path == "." {
            format!("bad parameters: {}", err.inner())
        } else {
            format!("bad parameter {path}: {}", err.inner())
        }
    })
}

/// A request as a line, with its envelope.
pub fn request_line(id: &Value, request: &Request) -> String {
    let mut value = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Value::Object(object) = &mut value {
        object.insert("v".to_owned(), Value::from(VERSION));
        if !id.is_null() {
            object.insert("id".to_owned(), id.clone());
        }
    }
    let mut line = value.to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_survives_the_round_trip_with_defaults_filled_in() {
        let (id, request) =
            parse_request(r#"{"v":1,"id":7,"op":"similar","query":"2503.11677"}"#).unwrap();
        assert_eq!(id, Value::from(7));
        let Request::Similar(similar) = &request else {
            panic!("{request:?}")
        };
        assert_eq!((similar.k, similar.by), (10, QueryKind::Auto));
        let line = request_line(&id, &request);
        assert_eq!(parse_request(line.trim_end()).unwrap(), (id, request));
    }

    #[test]
    fn errors_keep_the_id_and_say_what_is_wrong() {
        let (id, message) = parse_request(r#"{"id":"a","op":"similar","k":"ten"}"#).unwrap_err();
        assert_eq!(id, Value::from("a"));
        assert!(
            message.contains("query") || message.contains("k"),
            "{message}"
        );
        let (_, message) = parse_request(r#"{"id":1,"op":"fly"}"#).unwrap_err();
        assert!(message.contains("fly"), "{message}");
        let (_, message) = parse_request(r#"{"v":2,"op":"health"}"#).unwrap_err();
        assert!(message.contains("v1"), "{message}");
        let (_, message) = parse_request("[1,2]").unwrap_err();
        assert!(message.contains("JSON object"), "{message}");
        let (_, message) = parse_request(r#"{"op":"similar","query":"x","kk":1}"#).unwrap_err();
        assert!(message.contains("kk"), "{message}");
    }
}
