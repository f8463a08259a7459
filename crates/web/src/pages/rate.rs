//! Rating from a page: like, save, dislike or dismiss a paper, and undo. Answered with the
//! page again (a redirect back), or with JSON for the page's script, which rates without a
//! reload.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect};
use axum::{Form, Json};
use paperscout_proto::{FeedbackRequest, UndoRequest};
use paperscout_store::FeedbackKind;
use serde::Deserialize;

use super::{Failure, PageResult, back_to, blocking, posted_by, rated_as};
use crate::server::Shared;

/// A rating form.
#[derive(Debug, Deserialize)]
pub struct RateForm {
    paper: String,
    kind: String,
    csrf: String,
    back: Option<String>,
}

/// An undo form.
#[derive(Debug, Deserialize)]
pub struct UndoForm {
    paper: String,
    csrf: String,
    back: Option<String>,
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// `POST /rate`.
pub async fn rate(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<RateForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let kind: FeedbackKind = form
        .kind
        .parse()
        .map_err(|_| Failure::bad("a rating is like, save, dislike or dismiss"))?;
    let request = FeedbackRequest {
        user: session.user,
        kind,
        papers: vec![form.paper],
    };
    shared
        .service
        .feedback_async(request)
        .await
        .map_err(Failure::from)?;
    if wants_json(&headers) {
        let message = format!("{} It takes effect in your next digest.", rated_as(kind));
        return Ok(Json(serde_json::json!({"kind": kind, "message": message})).into_response());
    }
    Ok(Redirect::to(&back_to(form.back.as_deref(), "/today")).into_response())
}

/// `POST /undo`: forgets the user's ratings of the paper.
pub async fn undo(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<UndoForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let request = UndoRequest {
        user: session.user,
        papers: vec![form.paper],
    };
    blocking(&shared, move |service| service.undo(&request)).await?;
    if wants_json(&headers) {
        return Ok(
            Json(serde_json::json!({"kind": null, "message": "Rating undone."})).into_response(),
        );
    }
    Ok(Redirect::to(&back_to(form.back.as_deref(), "/today")).into_response())
}
