//! The envelope around requests and answers: one JSON object a line each way, the version,
//! the request's id copied into its answer, and the stable error codes.

use paperscout_types::Fault;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ops::{OPS, Request, parse_op};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

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
    /// A server the daemon depends on (its PostgreSQL database) is down: nothing was done;
    /// retry once it is back.
    Unavailable,
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
            Fault::Unavailable => Self::Unavailable,
            Fault::Environment | Fault::Bug => Self::Internal,
        }
    }

    /// The fault a code stands for; `internal` is taken for a bug, the daemon's log says more.
    pub fn fault(self) -> Fault {
        match self {
            Self::BadRequest => Fault::User,
            Self::NotFound => Fault::Missing,
            Self::Overloaded => Fault::Busy,
            Self::Unavailable => Fault::Unavailable,
            Self::Internal => Fault::Bug,
        }
    }

    /// The code's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
            Self::Overloaded => "overloaded",
            Self::Unavailable => "unavailable",
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
    use crate::wire::QueryKind;

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
