//! When the user's digests come, on the profile page: cadence, time zone, hour and the
//! "nothing new" note, saved through the same settings change `paperscout user set` makes.
//! Webhooks are shown (without their secret paths) but set from the command line only: a URL
//! the daemon posts to is not something a web client should be able to point anywhere.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use paperscout_app::users::SettingsChange;
use paperscout_types::{Cadence, UserSettings};
use serde::Deserialize;

use super::profile::change_settings;
use super::{Failure, PageResult, posted_by};
use crate::html::esc;

/// The cadences the form offers, with how they read.
const CADENCES: [(&str, &str); 11] = [
    ("", "as the server is set up"),
    ("daily", "every day"),
    ("weekdays", "Monday to Friday"),
    ("announcement", "the morning after each arXiv announcement"),
    ("weekly:mon", "weekly, on Monday"),
    ("weekly:tue", "weekly, on Tuesday"),
    ("weekly:wed", "weekly, on Wednesday"),
    ("weekly:thu", "weekly, on Thursday"),
    ("weekly:fri", "weekly, on Friday"),
    ("weekly:sat", "weekly, on Saturday"),
    ("weekly:sun", "weekly, on Sunday"),
];

/// The profile page's section: the form, and the webhooks.
pub fn section(settings: &UserSettings, csrf: &str) -> String {
    let timing = &settings.timing;
    let chosen = timing.cadence.map(|c| c.to_string()).unwrap_or_default();
    let mut options = String::new();
    for (value, label) in CADENCES {
        let _ = write!(
            options,
            "<option value=\"{value}\"{}>{label}</option>",
            if *value == chosen { " selected" } else { "" }
        );
    }
    let mut body = format!(
        "<h2>When your digest comes</h2><form class=\"wide\" method=\"post\" action=\"/profile/timing\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>how often<select name=\"cadence\">{options}</select></label>\
         <label>at (your time; empty: the server's hour)<input type=\"time\" name=\"digest_at\" value=\"{}\"></label>\
         <label>your time zone (empty: the server's)<input type=\"text\" name=\"timezone\" size=\"24\" placeholder=\"Europe/Berlin\" value=\"{}\"></label>\
         <label><input type=\"checkbox\" name=\"nothing_note\" value=\"on\"{}> a short note on days with nothing new</label>\
         <button>Save</button></form><p class=\"meta\">A digest covers everything announced since \
         the one before: a weekly one is the week's best, Monday's holds the weekend.</p>",
        esc(csrf),
        esc(timing.digest_at.as_deref().unwrap_or("")),
        esc(timing.timezone.as_deref().unwrap_or("")),
        if timing.nothing_note { " checked" } else { "" },
    );
    if !settings.webhooks.is_empty() {
        body += "<p>Also posted to:</p><table>";
        for hook in &settings.webhooks {
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td class=\"meta\">{}</td></tr>",
                esc(&paperscout_app::webhook::redact(&hook.url)),
                hook.format.name()
            );
        }
        body += "</table>";
    }
    body += "<p class=\"meta\">Chat rooms (Slack, Mattermost, Discord, Matrix) are set up from \
             the command line: <code>paperscout user set NAME --webhook URL --webhook-format slack</code>.</p>";
    body
}

/// The timing form.
#[derive(Debug, Deserialize)]
pub struct TimingForm {
    csrf: String,
    #[serde(default)]
    cadence: String,
    #[serde(default)]
    digest_at: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    nothing_note: Option<String>,
}

/// The change a timing form asks for: the user's timing replaced whole.
fn change_of(form: &TimingForm) -> Result<SettingsChange, Failure> {
    let cadence = match form.cadence.trim() {
        "" => None,
        text => Some(
            text.parse::<Cadence>()
                .map_err(|_| Failure::bad("how often is one of the choices offered"))?,
        ),
    };
    let filled = |text: &str| {
        let text = text.trim();
        (!text.is_empty()).then(|| text.chars().take(64).collect::<String>())
    };
    Ok(SettingsChange {
        clear_timing: true,
        cadence,
        digest_at: filled(&form.digest_at),
        timezone: filled(&form.timezone),
        nothing_note: Some(form.nothing_note.is_some()),
        ..SettingsChange::default()
    })
}

/// `POST /profile/timing`.
pub async fn change(
    State(shared): State<Arc<crate::server::Shared>>,
    headers: HeaderMap,
    Form(form): Form<TimingForm>,
) -> PageResult {
    let session = posted_by(&shared, &headers, &form.csrf).await?;
    change_settings(&shared, &session.user, change_of(&form)?, "/profile").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(cadence: &str, at: &str, zone: &str, note: bool) -> TimingForm {
        TimingForm {
            csrf: String::new(),
            cadence: cadence.into(),
            digest_at: at.into(),
            timezone: zone.into(),
            nothing_note: note.then(|| "on".to_owned()),
        }
    }

    #[test]
    fn a_timing_form_replaces_the_timing_and_refuses_a_made_up_cadence() {
        let change = change_of(&form("weekly:fri", "07:30", " Asia/Tokyo ", true)).expect("valid");
        assert!(change.clear_timing);
        assert_eq!(change.cadence, Some(Cadence::Weekly(4)));
        assert_eq!(change.digest_at.as_deref(), Some("07:30"));
        assert_eq!(change.timezone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(change.nothing_note, Some(true));
        let empty = change_of(&form("", "", "", false)).expect("valid");
        assert_eq!(
            (empty.cadence, empty.digest_at, empty.timezone),
            (None, None, None)
        );
        assert!(change_of(&form("hourly", "", "", false)).is_err());
    }

    #[test]
    fn the_section_escapes_what_the_user_typed_and_hides_webhook_secrets() {
        let mut settings = UserSettings::default();
        settings.timing.timezone = Some("\"><script>".into());
        settings.webhooks.push(paperscout_types::Webhook {
            url: "https://hooks.slack.com/services/T/B/secret".into(),
            format: paperscout_types::WebhookFormat::Slack,
        });
        let html = section(&settings, "token");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("secret"), "{html}");
        assert!(html.contains("hooks.slack.com"));
    }
}
