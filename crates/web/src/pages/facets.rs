//! Your interests: the facets the profile falls into (a digest's sections), each with its
//! terms, share and newest items, and a form to rename, mute, boost or reset it: the same
//! settings change as `paperscout user facet`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use paperscout_app::facets::FacetEdit;
use paperscout_app::users::SettingsChange;
use paperscout_proto::FacetsRequest;
use paperscout_types::FacetMode;
use serde::Deserialize;

use super::{Failure, PageResult, blocking, posted_by, signed_in, user_page};
use crate::html::{Tab, esc};
use crate::server::Shared;

/// `/profile/facets`.
pub async fn show(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> PageResult {
    let session = match signed_in(&shared, &headers).await {
        Ok(session) => session,
        Err(response) => return Ok(response),
    };
    let request = FacetsRequest {
        user: session.user.clone(),
    };
    let list = blocking(&shared, move |service| service.facets(&request)).await?;
    let csrf = esc(&session.csrf);
    let mut body = format!(
        "<h1>Your interests</h1><p class=\"sub\">Your profile falls into {} facet{}, found from \
         its papers and interests. A digest gives each its own section, with places by its \
         share of what you added, liked and saved lately; every facet with a good paper gets one.</p>",
        list.facets.len(),
        if list.facets.len() == 1 { "" } else { "s" }
    );
    for facet in &list.facets {
        let mode = match facet.mode {
            FacetMode::Normal => "",
            FacetMode::Muted => " <span class=\"meta\">(muted)</span>",
            FacetMode::Boosted => " <span class=\"meta\">(boosted)</span>",
        };
        let _ = write!(
            body,
            "<div class=\"pick\"><h3>{}. {}{mode}</h3><p class=\"meta\">{} · {} item{} · {:.0}% of your engagement</p><ul>",
            facet.number,
            esc(&facet.name),
            esc(&facet.terms.join(", ")),
            facet.items,
            if facet.items == 1 { "" } else { "s" },
            facet.share * 100.0
        );
        for example in &facet.examples {
            let _ = write!(body, "<li>{}</li>", esc(example));
        }
        let selected = |mode: FacetMode| if facet.mode == mode { " selected" } else { "" };
        let _ = write!(
            body,
            "</ul><form class=\"wide\" method=\"post\" action=\"/profile/facet\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"anchor\" value=\"{}\">\
             <label>name<input type=\"text\" name=\"name\" maxlength=\"{}\" value=\"{}\"></label>\
             <label>in digests<select name=\"mode\"><option value=\"normal\"{}>its share</option>\
             <option value=\"boosted\"{}>twice its share</option><option value=\"muted\"{}>never</option></select></label>\
             <button>Save</button> <button name=\"reset\" value=\"1\">Reset</button></form></div>",
            esc(&facet.anchor),
            paperscout_app::facets::MAX_FACET_NAME,
            esc(&facet.name),
            selected(FacetMode::Normal),
            selected(FacetMode::Boosted),
            selected(FacetMode::Muted),
        );
    }
    body += "<p><a href=\"/profile\">Back to your profile</a></p>";
    Ok(user_page("Interests", &session, Tab::Profile, &body))
}

/// The facet form.
#[derive(Debug, Deserialize)]
pub struct FacetForm {
    csrf: String,
    anchor: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    reset: Option<String>,
}

/// `POST /profile/facet`: the user's word on one facet, named by its anchor as listed.
pub async fn change(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<FacetForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    let mode = match form.mode.as_str() {
        "" | "normal" => FacetMode::Normal,
        "muted" => FacetMode::Muted,
        "boosted" => FacetMode::Boosted,
        _ => return Err(Failure::bad("a facet is normal, muted or boosted")),
    };
    let user = session.user.clone();
    let setting = blocking(&shared, move |service| {
        let list = service.facets(&FacetsRequest { user })?;
        let facet = list
            .facets
            .iter()
            .find(|f| f.anchor == form.anchor)
            .ok_or_else(|| {
                paperscout_app::AppError::BadSetting(
                    "that facet changed meanwhile: reload the page and try again".into(),
                )
            })?;
        let name = form.name.trim();
        let edit = FacetEdit {
            // The listed name sent back unchanged is no new name.
            rename: (!name.is_empty() && name != facet.name).then(|| name.to_owned()),
            mode: Some(mode),
            reset: form.reset.is_some(),
        };
        let mut setting = facet.setting(&edit)?;
        if name.is_empty() {
            // A cleared name gives the facet back its terms.
            setting.name = None;
        }
        Ok(setting)
    })
    .await?;
    let change = SettingsChange {
        facet: Some(Box::new(setting)),
        ..SettingsChange::default()
    };
    super::profile::change_settings(&shared, &session.user, change, "/profile/facets").await
}
