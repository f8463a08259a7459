//! Digests posted to chat rooms and programs: the body each receiver reads (Slack's Block Kit,
//! Mattermost's Markdown, Discord's embeds, a Matrix room message, paperscout's own JSON),
//! queued in the store's outbox with the digest's record like e-mail, and posted by
//! [`post`] when the outbox is delivered.
//!
//! Each receiver's documented limits are kept (Slack: 50 blocks, 3,000 characters a text;
//! Discord: 2,000 characters of content, 10 embeds, 6,000 characters in all), by showing fewer
//! picks and saying how many were left out, never by sending something the receiver refuses.

use std::time::Duration;

use paperscout_store::QueuedMail;
use paperscout_types::{Webhook, WebhookFormat};
use serde_json::{Value, json};

use crate::choose::{Digest, Entry};
use crate::error::{AppError, Result};
use crate::render::{LinkAction, PickLinks, because_line};

/// Picks a Slack message or a Discord post shows at most (a Discord post holds 10 embeds).
const MAX_PICKS_SHOWN: usize = 10;

/// Seconds a receiver has to answer.
const TIMEOUT_SECS: u64 = 30;

/// The body posted to `hook` for a digest.
pub fn body(digest: &Digest, hook: &Webhook, links: Option<&dyn PickLinks>) -> Vec<u8> {
    let value = match hook.format {
        WebhookFormat::Slack => slack(digest, links),
        WebhookFormat::Mattermost => mattermost(digest, links),
        WebhookFormat::Discord => discord(digest, links),
        WebhookFormat::Matrix => matrix(digest, links),
        WebhookFormat::Json => own_json(digest, links),
    };
    value.to_string().into_bytes()
}

/// The body of a "nothing new" note for `hook`.
pub fn nothing_body(user: &str, day: &str, hook: &Webhook) -> Vec<u8> {
    let text = nothing_text(user, day);
    let value = match hook.format {
        WebhookFormat::Slack | WebhookFormat::Mattermost => json!({ "text": text }),
        WebhookFormat::Discord => json!({ "content": text }),
        WebhookFormat::Matrix => json!({ "msgtype": "m.notice", "body": text }),
        WebhookFormat::Json => json!({ "user": user, "to": day, "papers": [] }),
    };
    value.to_string().into_bytes()
}

/// What a "nothing new" note says.
pub fn nothing_text(user: &str, day: &str) -> String {
    format!("paperscout: no new papers for {user} since the last digest ({day}).")
}

/// The heading every format opens with.
fn title(digest: &Digest) -> String {
    let count = digest.papers.len();
    format!(
        "paperscout: {count} new paper{} for {} — {}",
        if count == 1 { "" } else { "s" },
        digest.user,
        digest.to
    )
}

/// The paper's abstract page, else its PDF.
fn paper_url(entry: &Entry) -> Option<&str> {
    let links = entry.paper.links.as_ref()?;
    links.abs.as_deref().or(links.pdf.as_deref())
}

/// The rating links of a pick, as (label, URL).
fn ratings(
    digest: &Digest,
    entry: &Entry,
    links: Option<&dyn PickLinks>,
) -> Vec<(&'static str, String)> {
    links.map_or_else(Vec::new, |links| {
        LinkAction::RATINGS
            .iter()
            .map(|action| {
                (
                    action.label(),
                    links.link(&digest.user, &entry.paper.id, *action),
                )
            })
            .collect()
    })
}

/// A line saying how many picks a short form left out.
fn left_out(digest: &Digest, shown: usize) -> Option<String> {
    let left = digest.papers.len().saturating_sub(shown);
    (left > 0).then(|| format!("… and {left} more in the full digest"))
}

/// Cuts a text to at most `chars` characters, ending with an ellipsis when it was cut.
fn cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn escapes `&`, `<` and `>` only.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack incoming-webhook message: `text` (the notification) and Block Kit `blocks`: a
/// header, then a section and a context line for each pick.
fn slack(digest: &Digest, links: Option<&dyn PickLinks>) -> Value {
    let heading = title(digest);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&heading, 150) },
    })];
    let shown = digest.papers.len().min(MAX_PICKS_SHOWN);
    for (n, entry) in digest.papers.iter().take(shown).enumerate() {
        if let Some(section) = digest.section_starting(n) {
            blocks.push(json!({
                "type": "section",
                "text": { "type": "mrkdwn", "text": format!("*{}*", slack_escape(&cut(section, 200))) },
            }));
        }
        let paper = &entry.paper;
        let name = slack_escape(&cut(&paper.title, 300));
        let heading = match paper_url(entry) {
            Some(url) => format!("*<{}|{name}>*", slack_escape(url)),
            None => format!("*{name}*"),
        };
        let text = format!(
            "{heading}\n{}\n_{}_",
            slack_escape(&cut(&paper.authors.join(", "), 400)),
            slack_escape(&cut(&because_line(&entry.because), 1000))
        );
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": cut(&text, 3000) },
        }));
        let ratings = ratings(digest, entry, links);
        if !ratings.is_empty() {
            let line: Vec<String> = ratings
                .iter()
                .map(|(label, url)| format!("<{}|{label}>", slack_escape(url)))
                .collect();
            blocks.push(json!({
                "type": "context",
                "elements": [{ "type": "mrkdwn", "text": line.join(" · ") }],
            }));
        }
    }
    if let Some(more) = left_out(digest, shown) {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": more }],
        }));
    }
    json!({ "text": heading, "blocks": blocks })
}

/// A Mattermost incoming-webhook message: the digest's Markdown (with its links) as `text`.
fn mattermost(digest: &Digest, links: Option<&dyn PickLinks>) -> Value {
    let text = crate::render::markdown_linked(digest, links);
    json!({ "username": "paperscout", "text": cut(&text, 16_000) })
}

/// A Discord webhook post: the heading as `content`, one embed for each pick (title, link,
/// authors, the reason and the rating links), within Discord's limits.
fn discord(digest: &Digest, links: Option<&dyn PickLinks>) -> Value {
    let mut embeds = Vec::new();
    let mut total = 0;
    for entry in digest.papers.iter().take(MAX_PICKS_SHOWN) {
        let mut description = cut(&entry.paper.authors.join(", "), 300);
        description += &format!("\n*{}*", cut(&because_line(&entry.because), 400));
        let ratings: Vec<String> = ratings(digest, entry, links)
            .iter()
            .map(|(label, url)| format!("[{label}]({url})"))
            .collect();
        if !ratings.is_empty() {
            description += &format!("\n{}", ratings.join(" · "));
        }
        let name = cut(&entry.paper.title, 256);
        // 6,000 characters across every embed of a post.
        if total + name.chars().count() + description.chars().count() > 5_800 {
            break;
        }
        total += name.chars().count() + description.chars().count();
        let mut embed = json!({ "title": name, "description": cut(&description, 4096) });
        if let Some(url) = paper_url(entry) {
            embed["url"] = Value::from(url);
        }
        embeds.push(embed);
    }
    let mut content = title(digest);
    if let Some(more) = left_out(digest, embeds.len()) {
        content += &format!("\n{more}");
    }
    json!({ "username": "paperscout", "content": cut(&content, 2000), "embeds": embeds })
}

/// A Matrix `m.room.message` event's content: the Markdown as `body`, and a small HTML list
/// as `formatted_body`.
fn matrix(digest: &Digest, links: Option<&dyn PickLinks>) -> Value {
    let esc = |text: &str| quick_xml::escape::escape(text).into_owned();
    let mut html = format!("<h3>{}</h3>", esc(&title(digest)));
    let mut list_open = false;
    for (n, entry) in digest.papers.iter().enumerate() {
        if let Some(section) = digest.section_starting(n) {
            if list_open {
                html += "</ol>";
            }
            html += &format!("<h4>{}</h4><ol start=\"{}\">", esc(section), n + 1);
            list_open = true;
        } else if !list_open {
            html += "<ol>";
            list_open = true;
        }
        let name = esc(&entry.paper.title);
        let name = match paper_url(entry) {
            Some(url) => format!("<a href=\"{}\">{name}</a>", esc(url)),
            None => name,
        };
        html += &format!(
            "<li><strong>{name}</strong><br>{}<br><em>{}</em>",
            esc(&entry.paper.authors.join(", ")),
            esc(&because_line(&entry.because))
        );
        let ratings: Vec<String> = ratings(digest, entry, links)
            .iter()
            .map(|(label, url)| format!("<a href=\"{}\">{label}</a>", esc(url)))
            .collect();
        if !ratings.is_empty() {
            html += &format!("<br>{}", ratings.join(" · "));
        }
        html += "</li>";
    }
    if list_open {
        html += "</ol>";
    }
    json!({
        "msgtype": "m.text",
        "body": crate::render::markdown_linked(digest, links),
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    })
}

/// paperscout's digest JSON, with each pick's rating links when there are any.
fn own_json(digest: &Digest, links: Option<&dyn PickLinks>) -> Value {
    let mut value = serde_json::to_value(digest).unwrap_or(Value::Null);
    if let (Some(papers), Some(_)) = (value.get_mut("papers").and_then(Value::as_array_mut), links)
    {
        for (entry, paper) in digest.papers.iter().zip(papers) {
            let ratings: serde_json::Map<String, Value> = ratings(digest, entry, links)
                .into_iter()
                .map(|(label, url)| (label.replace(' ', "_"), Value::from(url)))
                .collect();
            paper["rating_links"] = Value::Object(ratings);
        }
    }
    value
}

/// Posts a queued webhook body. A Matrix client-API send URL
/// (`…/rooms/ROOM/send/m.room.message`) is PUT with a transaction id made of the message's
/// number, so that a post repeated after a crash shows once in the room; every other URL is
/// POSTed. Any answer but 2xx is a failure, and the message stays queued.
pub fn post(mail: &QueuedMail) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(TIMEOUT_SECS)))
        .http_status_as_error(false)
        .user_agent(concat!("paperscout/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let url = mail.recipient.as_str();
    let fail = |why: String| AppError::Webhook(format!("{}: {why}", redact(url)));
    let answer = if is_matrix_send(url) {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let transaction = format!("paperscout.{}.{}", mail.id, mail.day);
        let url = if query.is_empty() {
            format!("{path}/{transaction}")
        } else {
            format!("{path}/{transaction}?{query}")
        };
        agent
            .put(&url)
            .header("Content-Type", "application/json")
            .send(&mail.message[..])
    } else {
        agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(&mail.message[..])
    };
    let answer = answer.map_err(|err| fail(err.to_string()))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(fail(format!(
            "the receiver answered HTTP {}",
            status.as_u16()
        )))
    }
}

/// A webhook URL as it may be logged or shown: its scheme and host, the path (which holds the
/// receiver's secret in Slack's, Discord's and most others') replaced by `…`.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    if scheme.is_empty() {
        format!("{host}/…")
    } else {
        format!("{scheme}://{host}/…")
    }
}

/// Whether a URL is a Matrix homeserver's send endpoint for room messages.
fn is_matrix_send(url: &str) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.contains("/_matrix/client/") && path.ends_with("/send/m.room.message")
}

/// Checks a webhook URL before it is kept: http or https, with a host.
pub fn check_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(AppError::BadSetting(format!(
            "webhook {url:?} is not an http or https URL: give the URL the chat service gave you"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use paperscout_rank::DigestParams;

    use super::*;
    use crate::choose::{self, Window};
    use crate::testing::{self, Words};

    struct Links;

    impl PickLinks for Links {
        fn link(&self, user: &str, paper_id: &str, action: LinkAction) -> String {
            format!(
                "https://papers.example.org/r/{user}/{paper_id}/{}",
                action.label()
            )
        }
    }

    /// ada's digest of the test store, with `many` copies of its picks to test the limits.
    fn digest(many: usize) -> Digest {
        let store = testing::store();
        let window = Window {
            day: NaiveDate::from_ymd_opt(2025, 3, 18).expect("a day"),
            days: 7,
            after_last_sent: false,
        };
        let mut digest = choose::build(
            &store,
            &Words::new(),
            "ada",
            window,
            &DigestParams::default(),
            None,
        )
        .expect("a digest");
        assert!(!digest.papers.is_empty());
        let picks = digest.papers.clone();
        while digest.papers.len() < many {
            digest.papers.extend(picks.iter().cloned());
        }
        digest
    }

    fn hook(format: WebhookFormat) -> Webhook {
        Webhook {
            url: "https://hooks.example.org/T/B/secret".into(),
            format,
        }
    }

    fn posted(digest: &Digest, format: WebhookFormat) -> Value {
        serde_json::from_slice(&body(digest, &hook(format), Some(&Links))).expect("JSON")
    }

    #[test]
    fn slack_gets_block_kit_within_its_limits() {
        let digest = digest(1);
        let slack = posted(&digest, WebhookFormat::Slack);
        assert!(
            slack["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("paperscout:"))
        );
        let blocks = slack["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        let text = slack.to_string();
        assert!(text.contains("more like this"), "rating links: {text}");
        let many = posted(&self::digest(40), WebhookFormat::Slack);
        let blocks = many["blocks"].as_array().expect("blocks");
        assert!(blocks.len() <= 50, "{} blocks", blocks.len());
        assert!(many.to_string().contains("more in the full digest"));
        for block in blocks {
            if let Some(text) = block["text"]["text"].as_str() {
                assert!(text.chars().count() <= 3000);
            }
        }
    }

    #[test]
    fn discord_gets_embeds_within_its_limits() {
        let many = posted(&digest(40), WebhookFormat::Discord);
        let embeds = many["embeds"].as_array().expect("embeds");
        assert!(!embeds.is_empty() && embeds.len() <= 10);
        let total: usize = embeds
            .iter()
            .map(|e| {
                e["title"].as_str().map_or(0, |t| t.chars().count())
                    + e["description"].as_str().map_or(0, |t| t.chars().count())
            })
            .sum();
        assert!(total <= 6000, "{total} characters");
        assert!(
            many["content"]
                .as_str()
                .is_some_and(|c| c.chars().count() <= 2000)
        );
    }

    #[test]
    fn matrix_gets_a_room_message_and_every_text_is_escaped() {
        let mut digest = digest(1);
        digest.papers[0].paper.title = "<script>alert(1)</script> & more".into();
        let matrix = posted(&digest, WebhookFormat::Matrix);
        assert_eq!(matrix["msgtype"], "m.text");
        assert_eq!(matrix["format"], "org.matrix.custom.html");
        assert!(
            matrix["body"]
                .as_str()
                .is_some_and(|b| b.contains("<script>"))
        );
        let html = matrix["formatted_body"].as_str().expect("HTML");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        let slack = posted(&digest, WebhookFormat::Slack).to_string();
        assert!(!slack.contains("<script>") && slack.contains("&lt;script&gt;"));
        let own = posted(&digest, WebhookFormat::Json);
        assert!(own["papers"][0]["rating_links"]["save"].is_string());
    }

    #[test]
    fn urls_are_checked_and_their_secrets_kept_out_of_logs() {
        assert!(check_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        for bad in [
            "ftp://x/y",
            "hooks.slack.com/x",
            "https://",
            "https:///x",
            "http://a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            redact("https://hooks.slack.com/services/T/B/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("https://user:pw@example.org/x?y"),
            "https://example.org/…"
        );
        assert!(is_matrix_send(
            "https://matrix.example.org/_matrix/client/v3/rooms/!r:x/send/m.room.message?access_token=t"
        ));
        assert!(!is_matrix_send("https://hooks.example.org/matrix"));
    }
}
