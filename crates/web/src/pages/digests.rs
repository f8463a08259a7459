//! Today (the latest delivered digest, or the next one as it stands when none was sent yet)
//! and history (past digests, and every rating with its undo).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use paperscout_app::choose::Digest;
use paperscout_app::outbox;
use paperscout_proto::RecommendRequest;

use super::{PageResult, blocking, card, rating_forms, ratings, signed_in, user_page};
use crate::html::{Tab, esc, url_part};
use crate::server::Shared;

/// Papers the preview of a first digest shows.
const PREVIEW: usize = 10;

/// `/today`.
pub async fn today(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let user = session.user.clone();
    let outbox_dir = shared.options.outbox.clone();
    let (digest, delivered, rated) = blocking(&shared, move |service| {
        let (digest, delivered) = match outbox::latest_delivered(&outbox_dir, &user)? {
            Some(digest) => (digest, true),
            None => (
                service.recommend(&RecommendRequest {
                    user: user.clone(),
                    n: PREVIEW,
                    date: None,
                    days: 7,
                    mmr_lambda: None,
                    flat: false,
                })?,
                false,
            ),
        };
        let rated = service.read_store(|store| ratings(store, &user))?;
        Ok((digest, delivered, rated))
    })
    .await?;
    let mut body = if delivered {
        format!(
            "<h1>Your digest of {}</h1><p class=\"sub\">{} of {} papers announced {} … {}. A rating takes effect in your next digest.</p>",
            esc(&digest.to),
            digest.papers.len(),
            digest.candidates,
            esc(&digest.from),
            esc(&digest.to)
        )
    } else {
        format!(
            "<h1>Your papers</h1><p class=\"notice\">No digest has been sent to you yet: this is what it would hold now, from the {} papers announced {} … {}.</p>",
            digest.candidates,
            esc(&digest.from),
            esc(&digest.to)
        )
    };
    if digest.papers.is_empty() {
        body += "<p>Nothing new for you. Add papers or interests on your <a href=\"/profile\">profile</a>.</p>";
    }
    for (n, entry) in digest.papers.iter().enumerate() {
        if let Some(facet) = digest.section_starting(n) {
            let _ = write!(
                body,
                "<h2 class=\"section\">{} <a class=\"meta\" href=\"/profile/facets\">interest</a></h2>",
                esc(facet)
            );
        }
        body += &card(
            &entry.paper,
            Some(&entry.because),
            rated.get(&entry.paper.id).copied(),
            &session,
            "/today",
        );
    }
    Ok(user_page("Today", &session, Tab::Today, &body))
}

/// `/history`: every delivered digest (its picks, each rated or not) and every rating.
pub async fn history(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response.into_response()),
    };
    let user = session.user.clone();
    let outbox_dir = shared.options.outbox.clone();
    let (digests, events, rated) = blocking(&shared, move |service| {
        let mut digests: Vec<Digest> = Vec::new();
        for day in outbox::digest_keys(&outbox_dir, &user)? {
            if let Some(digest) = outbox::delivered(&outbox_dir, &user, &day)? {
                digests.push(digest);
            }
        }
        let (events, rated) = service.read_store(|store| {
            let mut events = Vec::new();
            for event in store.feedback(&user)?.into_iter().rev() {
                let title = store
                    .paper(&event.paper_id)?
                    .map(|p| p.paper.title)
                    .unwrap_or_default();
                events.push((event, title));
            }
            Ok((events, ratings(store, &user)?))
        })?;
        Ok((digests, events, rated))
    })
    .await?;
    let mut body = String::from("<h1>History</h1><h2>Your ratings</h2>");
    if events.is_empty() {
        body +=
            "<p class=\"meta\">None yet: rate papers on <a href=\"/today\">today's page</a>.</p>";
    } else {
        body += "<table><tr><th>paper</th><th>rating</th><th>when</th><th></th></tr>";
        for (event, title) in &events {
            let when = chrono_day(event.at);
            let _ = write!(
                body,
                "<tr><td><a href=\"/paper/{}\">{}</a></td><td>{}</td><td class=\"meta\">{when}</td><td>\
                 <form method=\"post\" action=\"/undo\"><input type=\"hidden\" name=\"paper\" value=\"{}\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"back\" value=\"/history\">\
                 <button>Undo</button></form></td></tr>",
                url_part(&event.paper_id),
                esc(title),
                event.kind.as_str(),
                esc(&event.paper_id),
                esc(&session.csrf)
            );
        }
        body += "</table>";
    }
    body += "<h2>Past digests</h2>";
    if digests.is_empty() {
        body += "<p class=\"meta\">No digest has been delivered yet.</p>";
    }
    for digest in &digests {
        let _ = write!(
            body,
            "<h3>{} <span class=\"meta\">({} papers)</span></h3>",
            esc(&digest.to),
            digest.papers.len()
        );
        for entry in &digest.papers {
            let _ = write!(
                body,
                "<div class=\"pick\"><a href=\"/paper/{}\">{}</a>{}</div>",
                url_part(&entry.paper.id),
                esc(&entry.paper.title),
                rating_forms(
                    &entry.paper.id,
                    rated.get(&entry.paper.id).copied(),
                    &session,
                    "/history"
                )
            );
        }
    }
    Ok(user_page("History", &session, Tab::History, &body))
}

/// A timestamp's day, `YYYY-MM-DD` (UTC).
fn chrono_day(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_civil_dates() {
        assert_eq!(super::chrono_day(0), "1970-01-01");
        assert_eq!(super::chrono_day(1_742_342_400), "2025-03-19");
    }
}
