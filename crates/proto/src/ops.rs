//! The op table, written once: each op's name, its parameters and its typed answer. The
//! [`Request`] and [`Answer`] enums, the list of names in messages, the parser's dispatch and
//! each parameter type's [`Op`] impl are all generated from it, so a new request is one line
//! here, its parameter and answer types, and one operation in the daemon.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::answers::{
    DigestAnswer, FeedbackAnswer, HealthAnswer, IngestAnswer, SimilarAnswer, StatsAnswer,
    UndoAnswer, UserAnswer,
};
use crate::wire::{
    BacktestRequest, DigestRequest, FacetsRequest, FeedbackRequest, IngestRequest,
    RecommendRequest, SimilarRequest, UndoRequest, UserRequest, WhyNotRequest,
};
use paperscout_app::backtest::Backtest;
use paperscout_app::choose::Digest;
use paperscout_app::facets::UserFacets;
use paperscout_app::why_not::WhyNot;

/// A request's parameters, tied to its op's name and the type of its answer.
pub trait Op: Serialize {
    /// The op's name on the wire.
    const NAME: &'static str;
    /// Whether the op takes parameters at all (`stats` and `health` do not).
    const TAKES_PARAMETERS: bool = true;
    /// What the daemon answers.
    type Answer: Serialize + serde::de::DeserializeOwned;
    /// The parameters as a request.
    fn into_request(self) -> Request;
}

/// `stats`: no parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsRequest {}

/// `health`: no parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthRequest {}

macro_rules! ops {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ($params:ty) -> $answer:ty $({ $($extra:tt)* })? ;)*) => {
        /// What a client asks for.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "op")]
        pub enum Request {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($params), )*
        }

        /// What the daemon answers: one typed result per op. On the wire it is the result
        /// itself, without a tag (the request said which op it answers).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Answer {
            $( $(#[$doc])* $variant($answer), )*
        }

        /// Every op's name, for messages.
        pub const OPS: &[&str] = &[$($name),*];

        impl Request {
            /// The op's name, for logs.
            pub fn op(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $name, )*
                }
            }
        }

        /// The request an op's name and parameters make; none for a name that is no op.
        pub(crate) fn parse_op(
            op: &str,
            object: serde_json::Map<String, Value>,
        ) -> Option<Result<Request, String>> {
            match op {
                $( $name => Some(if !<$params as Op>::TAKES_PARAMETERS && !object.is_empty() {
                    Err(format!(
                        "{op} takes no parameters, but got {}",
                        object.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                } else {
                    params::<$params>(object).map(Request::$variant)
                }), )*
                _ => None,
            }
        }

        $(
            impl Op for $params {
                const NAME: &'static str = $name;
                $( $($extra)* )?
                type Answer = $answer;
                fn into_request(self) -> Request {
                    Request::$variant(self)
                }
            }
        )*
    };
}

ops! {
    /// Papers like a paper or a text.
    Similar = "similar" (SimilarRequest) -> SimilarAnswer;
    /// A user's current top papers, explained, without recording anything.
    Recommend = "recommend" (RecommendRequest) -> Digest;
    /// Why a paper is, or is not, in a user's next digest.
    WhyNot = "why_not" (WhyNotRequest) -> WhyNot;
    /// How well the user's digests would have found their own latest papers.
    Backtest = "backtest" (BacktestRequest) -> Backtest;
    /// The facets of a user's profile: each named, with its share, mode and items.
    Facets = "facets" (FacetsRequest) -> UserFacets;
    /// Build, preview or send (record as sent) a user's digest.
    Digest = "digest" (DigestRequest) -> DigestAnswer;
    /// Likes, dislikes, saves and dismissals.
    Feedback = "feedback" (FeedbackRequest) -> FeedbackAnswer;
    /// Forget a user's ratings of papers.
    Undo = "undo" (UndoRequest) -> UndoAnswer;
    /// Users and their profiles.
    User = "user" (UserRequest) -> UserAnswer;
    /// Papers into the store, the index and the catalogue.
    Ingest = "ingest" (IngestRequest) -> IngestAnswer;
    /// What the store and the index hold.
    Stats = "stats" (StatsRequest) -> StatsAnswer { const TAKES_PARAMETERS: bool = false; };
    /// Whether the daemon is up, and how busy.
    Health = "health" (HealthRequest) -> HealthAnswer { const TAKES_PARAMETERS: bool = false; };
}

/// An op's parameters, with the path of the field at fault in the message.
fn params<T: serde::de::DeserializeOwned>(
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
