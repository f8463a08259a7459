//! The profile: the papers and interests it holds, adding papers by id or DOI, a BibTeX
//! upload, the rules (categories, keyword and author boosts and mutes, size, floor, e-mail
//! address) through the same settings change the command line makes, when digests come (its
//! own module, [`super::timing`]), the feed URL, and signing out everywhere.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect};
use paperscout_app::users::SettingsChange;
use paperscout_proto::{BacktestRequest, UserAction, UserAnswer, UserRequest};
use paperscout_store::ProfileSubject;
use paperscout_types::Watch;
use serde::Deserialize;

use super::{Failure, PageResult, blocking, cleared_cookie, posted_by, signed_in, user_page};
use crate::html::{Tab, esc, url_part};
use crate::server::Shared;

/// Paper keys one form may add.
const MAX_KEYS: usize = 500;

/// `/profile`.
pub async fn show(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let user = session.user.clone();
    let (shown, titles) = blocking(&shared, move |service| {
        let answer = service.user(&UserRequest::new(UserAction::Show, &user))?;
        let UserAnswer::Show(shown) = answer else {
            return Err(paperscout_daemon::DaemonError::Bug(
                "user show answered something else".into(),
            ));
        };
        let titles = service.read_store(|store| {
            let mut titles = Vec::new();
            for item in &shown.profile {
                if let ProfileSubject::Paper(id) = &item.subject {
                    titles.push(store.paper(id)?.map(|p| p.paper.title).unwrap_or_default());
                }
            }
            Ok(titles)
        })?;
        Ok((shown, titles))
    })
    .await?;
    let csrf = esc(&session.csrf);
    let settings = &shown.user.settings;
    let rules = &settings.rules;
    let mut body = format!(
        "<h1>Your profile</h1><p class=\"sub\">{} items · {} ratings · {} papers sent so far. \
         Changes take effect in your next digest.</p><h2>Papers and interests</h2>",
        shown.profile.len(),
        shown.feedback.len(),
        shown.sent
    );
    let mut titles = titles.into_iter();
    body += "<table>";
    for item in &shown.profile {
        match &item.subject {
            ProfileSubject::Paper(id) => {
                let title = titles.next().unwrap_or_default();
                let _ = write!(
                    body,
                    "<tr><td>paper</td><td><a href=\"/paper/{}\">{}</a> <span class=\"meta\">{}</span></td></tr>",
                    url_part(id),
                    esc(if title.is_empty() { id } else { &title }),
                    esc(id)
                );
            }
            ProfileSubject::Interest(text) => {
                let _ = write!(body, "<tr><td>interest</td><td>{}</td></tr>", esc(text));
            }
        }
    }
    body += "</table>";
    let _ = write!(
        body,
        "<h2>Add</h2><form class=\"wide\" method=\"post\" action=\"/profile/add\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>arXiv ids or DOIs, one a line<textarea name=\"papers\" rows=\"2\" cols=\"30\"></textarea></label>\
         <label>an interest<input type=\"text\" name=\"interest\" size=\"30\" placeholder=\"graph neural networks for molecules\"></label>\
         <button>Add</button></form>\
         <form class=\"wide\" method=\"post\" action=\"/profile/bibtex\" enctype=\"multipart/form-data\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>a BibTeX library (Zotero, Mendeley, JabRef)<input type=\"file\" name=\"library\" accept=\".bib,.bibtex,text/plain\"></label>\
         <button>Upload</button></form>"
    );
    let lines = |list: &[String]| esc(&list.join("\n"));
    let _ = write!(
        body,
        "<h2>Rules</h2><form class=\"wide\" method=\"post\" action=\"/profile/rules\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>e-mail<input type=\"email\" name=\"email\" value=\"{}\"></label>\
         <label>papers a digest<input type=\"number\" name=\"size\" min=\"1\" max=\"100\" value=\"{}\"></label>\
         <label>similarity floor (-1 to 1)<input type=\"number\" name=\"min_similarity\" step=\"0.01\" min=\"-1\" max=\"1\" value=\"{}\"></label>\
         <label>only categories<textarea name=\"only_categories\" rows=\"2\">{}</textarea></label>\
         <label>mute categories<textarea name=\"mute_categories\" rows=\"2\">{}</textarea></label>\
         <label>boost keywords<textarea name=\"boost_keywords\" rows=\"2\">{}</textarea></label>\
         <label>mute keywords<textarea name=\"mute_keywords\" rows=\"2\">{}</textarea></label>\
         <label>boost authors<textarea name=\"boost_authors\" rows=\"2\">{}</textarea></label>\
         <label>mute authors<textarea name=\"mute_authors\" rows=\"2\">{}</textarea></label>\
         <button>Save rules</button></form><p class=\"meta\">One a line. A category is a name (cs.LG) or an archive (cs).</p>",
        esc(settings.email.as_deref().unwrap_or("")),
        rules.size.map(|s| s.to_string()).unwrap_or_default(),
        rules
            .min_similarity
            .map(|s| s.to_string())
            .unwrap_or_default(),
        lines(&rules.categories),
        lines(&rules.mute_categories),
        lines(&rules.boost_keywords),
        lines(&rules.mute_keywords),
        lines(&rules.boost_authors),
        lines(&rules.mute_authors),
    );
    body += &super::timing::section(settings, &session.csrf);
    if !settings.follows.is_empty() {
        body += "<h2>Followed libraries</h2><p class=\"meta\">Kept in step as they change; \
                 <code>paperscout user unfollow</code> stops one.</p><table>";
        for follow in &settings.follows {
            let _ = write!(
                body,
                "<tr><td><code>{}</code>{}</td><td class=\"meta\">{} papers from it</td></tr>",
                esc(&follow.path),
                follow
                    .collection
                    .as_ref()
                    .map_or_else(String::new, |c| format!(" (collection {})", esc(c))),
                follow.papers.len()
            );
        }
        body += "</table>";
    }
    body += "<h2>Watched texts</h2><p class=\"meta\">A new paper this close to one of them is \
             e-mailed to you at once, beside it (it needs your e-mail address).</p><table>";
    for watch in &settings.watches {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"meta\">cosine {}</td><td>{}</td><td><form method=\"post\" \
             action=\"/profile/unwatch\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"label\" value=\"{}\"><button>Stop</button></form></td></tr>",
            esc(&watch.label),
            watch.threshold,
            esc(watch.text.lines().next().unwrap_or_default()),
            esc(&watch.label)
        );
    }
    let _ = write!(
        body,
        "</table><form class=\"wide\" method=\"post\" action=\"/profile/watch\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>a name for it<input type=\"text\" name=\"label\" size=\"30\" placeholder=\"my draft\"></label>\
         <label>the text: a title and an abstract<textarea name=\"text\" rows=\"4\" cols=\"30\"></textarea></label>\
         <label>how close (cosine, 0 to 1)<input type=\"number\" name=\"threshold\" step=\"0.01\" min=\"0\" max=\"1\" value=\"0.8\"></label>\
         <button>Watch</button></form>"
    );
    body += "<h2>Your interests</h2><p>Your digest has a section for each interest your \
             profile falls into: <a href=\"/profile/facets\">see them, rename, mute or boost \
             one</a>.</p>";
    body += "<h2>How well it works for you</h2><p><a href=\"/profile/backtest\">Run your \
             backtest</a>: your latest fifth of papers and likes is hidden, and the days they were \
             announced are ranked again, to see where each would have stood in your digest.</p>";
    let feed = shared.links.feed(&session.user, settings.links_epoch);
    let _ = write!(
        body,
        "<h2>Your feed and your links</h2><p>For a feed reader (keep it private): <code>{}</code></p>\
         <form method=\"post\" action=\"/profile/revoke\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button>Sign out everywhere</button> <span class=\"meta\">ends every session, mail link and the feed URL</span></form>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>Sign out here</button></form>",
        esc(&feed)
    );
    Ok(user_page("Profile", &session, Tab::Profile, &body))
}

/// `/profile/backtest`: the personal backtest (see `paperscout_app::backtest`), which only
/// reads.
pub async fn backtest(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let request = BacktestRequest {
        user: session.user.clone(),
        holdout: 0.2,
    };
    let report = blocking(&shared, move |service| service.backtest(&request)).await?;
    let mut body = format!(
        "<h1>Your backtest</h1><p class=\"sub\">{} of your papers and likes were hidden; each \
         day one of them was announced was ranked again with the other {}, as your digest \
         ranks.</p><table><tr><th>day</th><th>paper</th><th>came in as</th><th>its place</th></tr>",
        report.held_out.len(),
        report.kept
    );
    for held in &report.held_out {
        let place = held.rank.map_or_else(
            || format!("not in the top {}", paperscout_app::backtest::DEPTH),
            |rank| format!("#{rank} of {}", held.candidates),
        );
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"/paper/{}\">{}</a></td><td>{}</td><td>{place}</td></tr>",
            esc(&held.day),
            url_part(&held.paper),
            esc(if held.title.is_empty() {
                &held.paper
            } else {
                &held.title
            }),
            esc(&held.how)
        );
    }
    body += "</table><h2>In short</h2><ul>";
    for (size, share) in &report.hit_at {
        let _ = write!(
            body,
            "<li>a digest of {size} would have held {:.0}% of them</li>",
            share * 100.0
        );
    }
    let _ = write!(body, "<li>mean reciprocal rank {:.3}</li>", report.mrr);
    for (floor, cut) in &report.floor_cost {
        let _ = write!(
            body,
            "<li>a similarity floor of {floor:.1} would have left out {cut} of the top-10 hits</li>"
        );
    }
    body += "</ul><p><a href=\"/profile\">Back to your profile</a></p>";
    Ok(user_page("Backtest", &session, Tab::Profile, &body))
}

/// The add form.
#[derive(Debug, Deserialize)]
pub struct AddForm {
    csrf: String,
    #[serde(default)]
    papers: String,
    #[serde(default)]
    interest: String,
}

/// `POST /profile/add`.
pub async fn add(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<AddForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let papers: Vec<String> = form
        .papers
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if papers.len() > MAX_KEYS {
        return Err(Failure::bad("add at most 500 papers at once"));
    }
    let interest = form.interest.trim().to_owned();
    let request = UserRequest {
        papers,
        interests: if interest.is_empty() {
            Vec::new()
        } else {
            vec![interest]
        },
        ..UserRequest::new(UserAction::Add, &session.user)
    };
    let answer = blocking(&shared, move |service| service.user(&request)).await?;
    if let UserAnswer::Added(added) = answer
        && !added.unknown.is_empty()
    {
        return Err(Failure::bad(format!(
            "not in paperscout's store yet, so not added: {}",
            added.unknown.join(", ")
        )));
    }
    Ok(Redirect::to("/profile").into_response())
}

/// The rules form: every list replaces what was there.
#[derive(Debug, Deserialize)]
pub struct RulesForm {
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    min_similarity: String,
    #[serde(default)]
    only_categories: String,
    #[serde(default)]
    mute_categories: String,
    #[serde(default)]
    boost_keywords: String,
    #[serde(default)]
    mute_keywords: String,
    #[serde(default)]
    boost_authors: String,
    #[serde(default)]
    mute_authors: String,
}

fn list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .take(200)
        .collect()
}

/// The settings change a rules form asks for: the rules replaced whole, the address set or
/// removed.
fn change_of(form: &RulesForm) -> Result<SettingsChange, Failure> {
    let email = form.email.trim();
    let size = match form.size.trim() {
        "" => None,
        text => Some(
            text.parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| Failure::bad("papers a digest is a number from 1 to 100"))?,
        ),
    };
    let min_similarity = match form.min_similarity.trim() {
        "" => None,
        text => Some(
            text.parse::<f32>()
                .ok()
                .filter(|x| (-1.0..=1.0).contains(x))
                .ok_or_else(|| Failure::bad("the similarity floor is a number from -1 to 1"))?,
        ),
    };
    Ok(SettingsChange {
        clear_rules: true,
        email: (!email.is_empty()).then(|| email.to_owned()),
        no_email: email.is_empty(),
        only_categories: list(&form.only_categories),
        mute_categories: list(&form.mute_categories),
        boost_keywords: list(&form.boost_keywords),
        mute_keywords: list(&form.mute_keywords),
        boost_authors: list(&form.boost_authors),
        mute_authors: list(&form.mute_authors),
        min_similarity,
        size,
        ..SettingsChange::default()
    })
}

/// `POST /profile/rules`.
pub async fn rules(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<RulesForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    change_settings(&shared, &session.user, change_of(&form)?, "/profile").await
}

/// Makes `change` to the user's settings, as `user set` does, and goes back to the page `back`.
pub(super) async fn change_settings(
    shared: &Arc<Shared>,
    user: &str,
    change: SettingsChange,
    back: &str,
) -> PageResult {
    let request = UserRequest {
        settings: Box::new(change),
        ..UserRequest::new(UserAction::Set, user)
    };
    blocking(shared, move |service| service.user(&request)).await?;
    Ok(Redirect::to(back).into_response())
}

/// `POST /profile/bibtex`: a multipart upload of a library.
pub async fn bibtex(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> PageResult {
    let mut csrf = String::new();
    let mut library: Option<(String, String)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| Failure::bad("the upload was cut short or too large (4 MiB at most)"))?
    {
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("library") => {
                let name = field.file_name().unwrap_or("library.bib").to_owned();
                let bytes = field.bytes().await.map_err(|_| {
                    Failure::bad("the upload was cut short or too large (4 MiB at most)")
                })?;
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| Failure::bad("a BibTeX file is text (UTF-8)"))?;
                library = Some((name, text));
            }
            _ => {}
        }
    }
    let session = posted_by(&shared, &headers, &csrf).await?;
    let (name, text) = library.ok_or_else(|| Failure::bad("choose a .bib file to upload"))?;
    let user = session.user.clone();
    let added = blocking(&shared, move |service| {
        service.add_library(&user, &name, &text)
    })
    .await?;
    let mut body = format!(
        "<h1>Library added</h1><p class=\"notice\">{} entries joined your profile ({} of them not in paperscout's store, kept as external papers). They shape your next digest.</p>",
        added.added, added.external
    );
    if !added.skipped.is_empty() {
        body += "<h2>Left out</h2><ul>";
        for skipped in added.skipped.iter().take(50) {
            let _ = write!(body, "<li>{}</li>", esc(skipped));
        }
        body += "</ul>";
    }
    body += "<p><a href=\"/profile\">Back to your profile</a></p>";
    Ok(user_page("Library added", &session, Tab::Profile, &body))
}

/// The watch form.
#[derive(Debug, Deserialize)]
pub struct WatchForm {
    csrf: String,
    label: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    threshold: Option<f32>,
}

/// `POST /profile/watch`: watches a text for scoop alerts, as `user watch` does.
pub async fn watch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<WatchForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let watch = Watch {
        label: form.label.trim().to_owned(),
        text: form.text.trim().to_owned(),
        threshold: form.threshold.unwrap_or(0.8),
    };
    let change = SettingsChange {
        watch: Some(Box::new(watch)),
        ..SettingsChange::default()
    };
    change_settings(&shared, &session.user, change, "/profile").await
}

/// The unwatch form.
#[derive(Debug, Deserialize)]
pub struct UnwatchForm {
    csrf: String,
    label: String,
}

/// `POST /profile/unwatch`.
pub async fn unwatch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<UnwatchForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let change = SettingsChange {
        unwatch: Some(form.label),
        ..SettingsChange::default()
    };
    change_settings(&shared, &session.user, change, "/profile").await
}

/// The form token alone.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: String,
}

/// `POST /profile/revoke`: ends every session and link of the user, this one included.
pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let request = UserRequest::new(UserAction::RevokeLinks, &session.user);
    blocking(&shared, move |service| service.user(&request)).await?;
    Ok(([(header::SET_COOKIE, cleared_cookie())], Redirect::to("/")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RulesForm {
        RulesForm {
            csrf: String::new(),
            email: " ada@example.org ".into(),
            size: "5".into(),
            min_similarity: String::new(),
            only_categories: "cs.LG\n\n cs.CV ".into(),
            mute_categories: String::new(),
            boost_keywords: String::new(),
            mute_keywords: "blockchain".into(),
            boost_authors: String::new(),
            mute_authors: String::new(),
        }
    }

    #[test]
    fn a_rules_form_replaces_the_rules_and_checks_its_numbers() {
        let change = change_of(&form()).expect("valid");
        assert!(change.clear_rules);
        assert_eq!(change.email.as_deref(), Some("ada@example.org"));
        assert_eq!(change.only_categories, ["cs.LG", "cs.CV"]);
        assert_eq!(change.size, Some(5));
        assert!(
            change_of(&RulesForm {
                size: "0".into(),
                ..form()
            })
            .is_err()
        );
        assert!(
            change_of(&RulesForm {
                min_similarity: "1e39".into(),
                ..form()
            })
            .is_err()
        );
        let no_address = change_of(&RulesForm {
            email: " ".into(),
            ..form()
        })
        .expect("valid");
        assert!(no_address.no_email && no_address.email.is_none());
    }
}
