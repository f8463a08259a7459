//! Search (an arXiv id, a DOI, a title or free text, with date and category filters) and a
//! paper's page (its abstract, why it was or was not picked for this user, similar papers).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use paperscout_proto::{QueryKind, SimilarRequest, WhyNotRequest};
use serde::Deserialize;

use super::{Failure, PageResult, blocking, card, ratings, signed_in, user_page};
use crate::html::{Tab, esc, url_part};
use crate::server::Shared;

/// Papers a search shows.
const HITS: usize = 20;
/// Similar papers on a paper's page.
const SIMILAR: usize = 5;
/// The longest query taken.
const MAX_QUERY: usize = 2000;

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    cat: String,
}

fn nonempty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `/search?q=…&since=…&until=…&cat=…`.
pub async fn search(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(form): Query<SearchForm>,
) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let mut body = format!(
        "<h1>Search</h1><form class=\"wide\" method=\"get\" action=\"/search\">\
         <label>arXiv id, DOI, title or any text<input type=\"search\" name=\"q\" size=\"40\" value=\"{}\" autofocus></label>\
         <label>since<input type=\"date\" name=\"since\" value=\"{}\"></label>\
         <label>until<input type=\"date\" name=\"until\" value=\"{}\"></label>\
         <label>categories<input type=\"text\" name=\"cat\" size=\"10\" placeholder=\"cs.LG, stat\" value=\"{}\"></label>\
         <button>Search</button></form>",
        esc(&form.q),
        esc(&form.since),
        esc(&form.until),
        esc(&form.cat)
    );
    let Some(query) = nonempty(&form.q) else {
        return Ok(user_page("Search", &session, Tab::Search, &body));
    };
    if query.len() > MAX_QUERY {
        return Err(Failure::bad(
            "that query is too long: keep it under 2,000 characters",
        ));
    }
    let request = SimilarRequest {
        query,
        by: QueryKind::Auto,
        k: HITS,
        since: nonempty(&form.since),
        until: nonempty(&form.until),
        categories: form
            .cat
            .split([',', ' '])
            .filter(|c| !c.is_empty())
            .take(20)
            .map(str::to_owned)
            .collect(),
    };
    let user = session.user.clone();
    let found = blocking(&shared, move |service| {
        let answer = match service.similar(&request) {
            Ok(answer) => answer,
            Err(err) if err.fault() != paperscout_types::Fault::Bug => {
                return Ok(Err(err.to_string()));
            }
            Err(err) => return Err(err),
        };
        service.read_store(|store| {
            let rated = ratings(store, &user)?;
            let mut papers = Vec::new();
            for hit in &answer.hits {
                if let Some(stored) = store.paper(&hit.id)? {
                    papers.push((stored.paper, hit.score));
                }
            }
            Ok(Ok((answer.query, papers, rated)))
        })
    })
    .await?;
    match found {
        Err(message) => {
            let _ = write!(body, "<p class=\"notice\">{}</p>", esc(&message));
        }
        Ok((query, papers, rated)) => {
            let about = match &query.id {
                Some(id) => format!(
                    "Papers like <a href=\"/paper/{}\">{}</a>",
                    url_part(id),
                    esc(&query.text)
                ),
                None => format!("Papers about “{}”", esc(&query.text)),
            };
            let _ = write!(
                body,
                "<p class=\"sub\">{about}: {} found.</p>",
                papers.len()
            );
            let back = format!("/search?q={}", url_part(&form.q));
            for (paper, score) in &papers {
                let _ = write!(body, "<p class=\"meta\">similarity {score:.2}</p>");
                body += &card(paper, None, rated.get(&paper.id).copied(), &session, &back);
            }
        }
    }
    Ok(user_page("Search", &session, Tab::Search, &body))
}

/// `/paper/ID`.
pub async fn paper(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let user = session.user.clone();
    let (paper, why, similar, rated) = blocking(&shared, move |service| {
        let (paper, rated) = service.read_store(|store| {
            let paper = store
                .find_paper(&id)?
                .ok_or_else(|| paperscout_app::AppError::UnknownPaper(id.clone()))?;
            Ok((paper.paper, ratings(store, &user)?))
        })?;
        // On the day it was announced: would it have been in that day's digest?
        let why = service
            .why_not(&WhyNotRequest {
                user: user.clone(),
                paper: paper.id.clone(),
                date: paper.date.clone(),
                days: 1,
            })
            .map_err(|err| err.to_string());
        let similar = service
            .similar(&SimilarRequest {
                query: paper.id.clone(),
                by: QueryKind::Paper,
                k: SIMILAR,
                since: None,
                until: None,
                categories: Vec::new(),
            })
            .map(|answer| answer.hits)
            .unwrap_or_default();
        Ok((paper, why, similar, rated))
    })
    .await?;
    let back = format!("/paper/{}", url_part(&paper.id));
    let mut body = card(&paper, None, rated.get(&paper.id).copied(), &session, &back);
    if let Some(links) = &paper.links {
        let mut line = Vec::new();
        if let Some(abs) = &links.abs {
            line.push(format!(
                "<a href=\"{}\" rel=\"noopener\">arXiv page</a>",
                esc(abs)
            ));
        }
        if let Some(pdf) = &links.pdf {
            line.push(format!("<a href=\"{}\" rel=\"noopener\">PDF</a>", esc(pdf)));
        }
        let _ = write!(body, "<p>{}</p>", line.join(" · "));
    }
    body += "<h2>Why it was or was not picked for you</h2>";
    match why {
        Ok(why) => {
            let _ = write!(body, "<p>{}</p>", esc(&why.sentence()));
            if let (Some(score), Some(cutoff)) = (why.score, why.cutoff) {
                let _ = write!(
                    body,
                    "<p class=\"meta\">Its score {score:.2}; the day's last pick scored {cutoff:.2}.</p>"
                );
            }
            if !why.nearest.is_empty() {
                body += "<table><tr><th>nearest in your profile</th><th>similarity</th></tr>";
                for near in &why.nearest {
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{:.2}</td></tr>",
                        esc(&near.item),
                        near.similarity
                    );
                }
                body += "</table>";
            }
        }
        Err(message) => {
            let _ = write!(body, "<p class=\"meta\">{}</p>", esc(&message));
        }
    }
    body += "<h2>Similar papers</h2>";
    for hit in &similar {
        let _ = write!(
            body,
            "<p><a href=\"/paper/{}\">{}</a> <span class=\"meta\">{} · {:.2}</span></p>",
            url_part(&hit.id),
            esc(&hit.title),
            esc(hit.date.as_deref().unwrap_or("")),
            hit.score
        );
    }
    Ok(user_page(&paper.title, &session, Tab::None, &body))
}
