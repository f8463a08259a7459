//! Signing in and the links that need no session: the landing page, a login link, signing
//! out, the one-click links of the e-mail (a GET shows the paper and one button; only the
//! button's POST records, so a mail scanner that fetches every link records nothing), and the
//! secret Atom feed.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use paperscout_proto::FeedbackRequest;
use serde::Deserialize;

use super::{
    Failure, PageResult, blocking, cleared_cookie, posted_by, rated_as, session, session_cookie,
    valid_claim,
};
use crate::html::{Tab, esc, page, snippet, url_part};
use crate::server::Shared;
use crate::tokens::{Action, Claim};

/// A link that did not check, saying nothing of why (nor whether the user exists).
fn invalid_link() -> Failure {
    Failure {
        status: StatusCode::FORBIDDEN,
        message: "This link is not valid: it has expired, was revoked, or was cut short. Ask for a new one (`paperscout user link NAME` prints one).".to_owned(),
    }
}

/// `/`: today's papers when signed in, else how to sign in.
pub async fn home(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> PageResult {
    if session(&shared, &headers).await?.is_some() {
        return Ok(Redirect::to("/today").into_response());
    }
    let body = "<h1>paperscout</h1><p class=\"sub\">The new papers worth your time, every day.</p>\
        <p class=\"notice\">Sign in with your own link: the one-click links in your digest e-mail \
        do it, or ask whoever runs paperscout for a link (<code>paperscout user link NAME</code>).</p>";
    Ok(Html(page("Sign in", None, Tab::None, body)).into_response())
}

/// `/login/TOKEN`: a valid login link sets the session cookie.
pub async fn login(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> PageResult {
    match valid_claim(&shared, &token).await? {
        Some(Claim::Login { user, epoch, .. }) => Ok((
            [(header::SET_COOKIE, session_cookie(&shared, &user, epoch))],
            Redirect::to("/today"),
        )
            .into_response()),
        _ => Err(invalid_link()),
    }
}

/// The form token a form sends back.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    posted_by(&shared, &headers, &form.csrf).await?;
    Ok(([(header::SET_COOKIE, cleared_cookie())], Redirect::to("/")).into_response())
}

/// The paper a mail link names, as the link's page shows it.
async fn paper_of(shared: &Arc<Shared>, id: &str) -> Result<paperscout_types::Paper, Failure> {
    let id = id.to_owned();
    blocking(shared, move |service| {
        service.read_store(move |store| {
            store
                .paper(&id)?
                .map(|p| p.paper)
                .ok_or_else(|| paperscout_app::AppError::UnknownPaper(id.clone()).into())
        })
    })
    .await
}

/// The button of a mail link's page reads as the link did in the mail.
fn action_label(action: Action) -> String {
    let label = crate::links::link_action_of(action).label();
    let mut chars = label.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `GET /m/TOKEN`: the paper and one button that does what the link says. Reading changes
/// nothing; it signs the user in, so the rest of their pages are one click away.
pub async fn mail_link(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> PageResult {
    let Some(Claim::Mail {
        user,
        epoch,
        paper,
        action,
        ..
    }) = valid_claim(&shared, &token).await?
    else {
        return Err(invalid_link());
    };
    let cookie = [(header::SET_COOKIE, session_cookie(&shared, &user, epoch))];
    if action == Action::Open {
        return Ok((
            cookie,
            Redirect::to(&format!("/paper/{}", url_part(&paper))),
        )
            .into_response());
    }
    let found = paper_of(&shared, &paper).await?;
    let (short, _) = snippet(&found.abstract_text, 400);
    let body = format!(
        "<h1>{}</h1><p class=\"meta\">{}</p><p>{}</p>\
         <form method=\"post\" action=\"/m/{}\"><button class=\"primary\">{}</button></form>\
         <p class=\"meta\">Nothing is recorded until you press the button.</p>",
        esc(&found.title),
        esc(&found.authors.join(", ")),
        esc(&short),
        esc(&token),
        action_label(action)
    );
    Ok((
        cookie,
        Html(page(&found.title, Some(&user), Tab::None, &body)),
    )
        .into_response())
}

/// `POST /m/TOKEN`: records the link's rating (once, however often it is pressed) and says
/// what it will do.
pub async fn mail_action(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    let Some(Claim::Mail {
        user,
        paper,
        action: Action::Rate(kind),
        ..
    }) = valid_claim(&shared, &token).await?
    else {
        return Err(invalid_link());
    };
    let request = FeedbackRequest {
        user: user.clone(),
        kind,
        papers: vec![paper.clone()],
    };
    shared
        .service
        .feedback_async(request)
        .await
        .map_err(Failure::from)?;
    let found = paper_of(&shared, &paper).await?;
    // The undo needs the session the link's page set; without one the paper's page offers it
    // after signing in.
    let undo = match session(&shared, &headers).await? {
        Some(session) => super::rating_forms(&found.id, Some(kind), &session, "/today"),
        None => String::new(),
    };
    let body = format!(
        "<h1>{}</h1><p class=\"notice\">{} It takes effect in your next digest.</p>{undo}\
         <p><a href=\"/today\">Today's papers</a> · <a href=\"/paper/{}\">This paper's page</a></p>",
        esc(&found.title),
        rated_as(kind),
        url_part(&found.id)
    );
    Ok(Html(page("Recorded", Some(&user), Tab::None, &body)).into_response())
}

/// `GET /feed/TOKEN`: the user's latest delivered digest as Atom, for feed readers.
pub async fn feed(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> PageResult {
    let Some(Claim::Feed { user, .. }) = valid_claim(&shared, &token).await? else {
        return Err(invalid_link());
    };
    let outbox = shared.options.outbox.clone();
    let digest = blocking(&shared, move |_| {
        let digest = paperscout_app::outbox::latest_delivered(&outbox, &user)?;
        Ok(digest.unwrap_or(paperscout_app::choose::Digest {
            user,
            from: String::new(),
            to: String::new(),
            candidates: 0,
            papers: Vec::new(),
            sections: Vec::new(),
        }))
    })
    .await?;
    let feed = paperscout_app::render::atom(&digest, paperscout_store::now());
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        feed,
    )
        .into_response())
}
