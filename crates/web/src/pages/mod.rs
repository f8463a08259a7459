//! The pages, one module each, and what they share: who is signed in, the form token, running
//! a use case off the async threads, the card of one paper, and failures as pages.

pub mod auth;
pub mod digests;
pub mod facets;
pub mod find;
pub mod profile;
pub mod rate;
pub mod timing;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use paperscout_app::choose::Because;
use paperscout_daemon::service::Service;
use paperscout_store::{FeedbackKind, Store};
use paperscout_types::{Fault, Paper};

use crate::html::{Tab, esc, page, snippet, url_part};
use crate::server::Shared;
use crate::tokens::{self, Claim, csrf_of};

/// The session cookie's name.
const COOKIE: &str = "ps_session";

/// How long a wrong token costs its sender: guessing is slow, and a missing user and a
/// wrong signature take the same time.
const WRONG_TOKEN_DELAY: Duration = Duration::from_millis(250);

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Session {
    /// Their name.
    pub user: String,
    /// The form token of this session.
    pub csrf: String,
}

/// A page that could not be made: its status and a message for people.
#[derive(Debug)]
pub struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A request without a valid session or form token.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form has expired or was not sent from your page: reload the page and try again.",
        )
    }

    /// A bad form value.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<paperscout_daemon::DaemonError> for Failure {
    fn from(err: paperscout_daemon::DaemonError) -> Self {
        let status = match err.fault() {
            Fault::User => StatusCode::BAD_REQUEST,
            Fault::Missing => StatusCode::NOT_FOUND,
            Fault::Busy | Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Environment | Fault::Bug => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("a web page failed: {err}");
            return Self::new(
                status,
                "Something went wrong on the server; its log says what.",
            );
        }
        Self::new(status, err.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = format!(
            "<h1>{}</h1><p class=\"notice\">{}</p><p><a href=\"/today\">Back to today's papers</a></p>",
            self.status.canonical_reason().unwrap_or("Error"),
            esc(&self.message)
        );
        (self.status, Html(page("Error", None, Tab::None, &body))).into_response()
    }
}

/// What a page handler returns.
pub type PageResult = Result<Response, Failure>;

/// Runs a use case on a blocking thread: the store and the model may wait.
pub async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    work: impl FnOnce(&Service) -> paperscout_daemon::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let service = Arc::clone(&shared.service);
    tokio::task::spawn_blocking(move || work(&service))
        .await
        .map_err(|err| {
            tracing::error!("a web page's work panicked: {err}");
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server.",
            )
        })?
        .map_err(Failure::from)
}

/// The user's link epoch, if the user exists: from the daemon's memory (a store read the
/// first time), so checking a session costs no hand-off to a blocking thread.
fn epoch_of(shared: &Arc<Shared>, user: &str) -> Result<Option<u32>, Failure> {
    shared.service.link_epoch(user).map_err(Failure::from)
}

/// The claim of a token whose user exists and whose epoch is current; a short delay and none
/// otherwise.
pub async fn valid_claim(shared: &Arc<Shared>, token: &str) -> Result<Option<Claim>, Failure> {
    let claim = tokens::check(shared.links.signer(), token, paperscout_store::now());
    if let Some(claim) = claim
        && epoch_of(shared, claim.user())? == Some(claim.epoch())
    {
        return Ok(Some(claim));
    }
    tokio::time::sleep(WRONG_TOKEN_DELAY).await;
    Ok(None)
}

/// The session of a request's cookie, if it is valid.
pub async fn session(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
) -> Result<Option<Session>, Failure> {
    Ok(session_and_token(shared, headers)?.map(|(session, _)| session))
}

/// The valid session of a request's cookie, with the cookie's token.
fn session_and_token(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
) -> Result<Option<(Session, String)>, Failure> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let claim = tokens::check(shared.links.signer(), &token, paperscout_store::now());
    let Some(Claim::Session { user, epoch, .. }) = claim else {
        return Ok(None);
    };
    if epoch_of(shared, &user)? != Some(epoch) {
        return Ok(None);
    }
    let session = Session {
        csrf: csrf_of(shared.links.signer(), &token),
        user,
    };
    Ok(Some((session, token)))
}

/// The session, or the way to the sign-in page.
pub async fn signed_in(shared: &Arc<Shared>, headers: &HeaderMap) -> Result<Session, Response> {
    match session(shared, headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(Redirect::to("/").into_response()),
        Err(failure) => Err(failure.into_response()),
    }
}

/// A session for a form post: a valid cookie and the session's own form token.
pub async fn posted_by(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Failure> {
    let (session, token) = session_and_token(shared, headers)?.ok_or_else(Failure::forbidden)?;
    if !tokens::csrf_checks(shared.links.signer(), &token, csrf) {
        return Err(Failure::forbidden());
    }
    Ok(session)
}

/// A new session for `user` as a `Set-Cookie` value.
pub fn session_cookie(shared: &Arc<Shared>, user: &str, epoch: u32) -> HeaderValue {
    let days = shared.options.session_days;
    let token = tokens::issue(
        shared.links.signer(),
        &Claim::Session {
            user: user.to_owned(),
            epoch,
            expires: paperscout_store::now() + i64::from(days) * 86_400,
        },
    );
    let secure = if shared.options.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        i64::from(days) * 86_400
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that ends the session.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("ps_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

/// A path to go back to after a form: one of this page's own, never another host's.
pub fn back_to(back: Option<&str>, default: &str) -> String {
    match back {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.len() < 2048 =>
        {
            path.to_owned()
        }
        _ => default.to_owned(),
    }
}

/// A page for a signed-in user.
pub fn user_page(title: &str, session: &Session, tab: Tab, body: &str) -> Response {
    Html(page(title, Some(&session.user), tab, body)).into_response()
}

/// Every paper's latest rating by the user.
pub fn ratings(
    store: &dyn Store,
    user: &str,
) -> paperscout_daemon::Result<HashMap<String, FeedbackKind>> {
    Ok(store
        .feedback(user)?
        .into_iter()
        .map(|event| (event.paper_id, event.kind))
        .collect())
}

/// How a rating reads on a page.
pub fn rated_as(kind: FeedbackKind) -> &'static str {
    match kind {
        FeedbackKind::Like => "You liked this: more like it will come.",
        FeedbackKind::Save => "Saved: it counts as a paper you care about.",
        FeedbackKind::Dislike => "Not for you: papers like it are pushed down.",
        FeedbackKind::Dismiss => "Dismissed: it will not come again.",
    }
}

/// The card of one paper: title (to its page), authors, categories, a snippet of the abstract
/// that expands, why it was picked, the rating buttons and "more like this".
pub fn card(
    paper: &Paper,
    because: Option<&Because>,
    rating: Option<FeedbackKind>,
    session: &Session,
    back: &str,
) -> String {
    let id = url_part(&paper.id);
    let mut out = format!(
        "<article class=\"pick\"><h3><a href=\"/paper/{id}\">{}</a></h3><div class=\"meta\">{}",
        esc(&paper.title),
        esc(&authors_line(&paper.authors))
    );
    if let Some(date) = &paper.date {
        let _ = write!(out, " · {}", esc(date));
    }
    out += "</div><div>";
    for category in &paper.categories {
        let _ = write!(out, "<span class=\"chip\">{}</span>", esc(category));
    }
    out += "</div>";
    let (short, cut) = snippet(&paper.abstract_text, 280);
    if cut {
        let _ = write!(
            out,
            "<details><summary>{}</summary><p>{}</p></details>",
            esc(&short),
            esc(&paper.abstract_text)
        );
    } else {
        let _ = write!(out, "<p>{}</p>", esc(&paper.abstract_text));
    }
    if let Some(because) = because {
        let _ = write!(
            out,
            "<p class=\"because\">{}</p>",
            esc(&paperscout_app::render::because_line(because))
        );
    }
    out += &rating_forms(&paper.id, rating, session, back);
    out += "</article>";
    out
}

/// The like / save / dislike / dismiss buttons of a paper, the undo of its rating, and "more
/// like this".
pub fn rating_forms(
    paper_id: &str,
    rating: Option<FeedbackKind>,
    session: &Session,
    back: &str,
) -> String {
    let hidden = format!(
        "<input type=\"hidden\" name=\"paper\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"back\" value=\"{}\">",
        esc(paper_id),
        esc(&session.csrf),
        esc(back)
    );
    let mut out = String::from("<div class=\"actions\">");
    for (kind, label) in [
        (FeedbackKind::Like, "♥ Like"),
        (FeedbackKind::Save, "★ Save"),
        (FeedbackKind::Dislike, "⊘ Not for me"),
        (FeedbackKind::Dismiss, "✕ Dismiss"),
    ] {
        let on = if rating == Some(kind) {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<form class=\"rate\" method=\"post\" action=\"/rate\">{hidden}<button name=\"kind\" value=\"{}\"{on}>{label}</button></form>",
            kind.as_str()
        );
    }
    if rating.is_some() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/undo\">{hidden}<button>Undo</button></form>"
        );
    }
    let _ = write!(
        out,
        "<a class=\"button\" href=\"/search?q={}\">More like this</a></div><p class=\"said meta\">{}</p>",
        url_part(paper_id),
        rating.map_or("", rated_as)
    );
    out
}

fn authors_line(authors: &[String]) -> String {
    match authors.len() {
        0 => String::new(),
        1..=6 => authors.join(", "),
        n => format!("{} et al. ({n} authors)", authors[..5].join(", ")),
    }
}

/// Any path the page does not have.
pub async fn not_found() -> Failure {
    Failure::new(StatusCode::NOT_FOUND, "There is no such page.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_go_back_only_to_this_page() {
        assert_eq!(back_to(Some("/paper/x?y=1"), "/today"), "/paper/x?y=1");
        for hostile in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "today",
        ] {
            assert_eq!(back_to(Some(hostile), "/today"), "/today", "{hostile}");
        }
        assert_eq!(back_to(None, "/history"), "/history");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ps_session=tok.en; b=2"),
        );
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("tok.en"));
        assert_eq!(cookie(&HeaderMap::new(), COOKIE), None);
    }
}
