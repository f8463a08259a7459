//! The outbox: each scheduled digest written as files under `<outbox>/<user>/` in the same
//! step that records its papers as sent, so that a crash at any point neither loses a
//! recorded digest nor records one twice.
//!
//! The files are written as `.pending` first and synced, then the delivery is recorded in one
//! transaction (the user's digest of the day done, its papers sent, and its messages queued:
//! the e-mail for a user with an address, a post for each of the user's webhooks), then the
//! files are renamed. [`recover`] settles what a
//! crash left pending: kept when its delivery was recorded, removed when it was not (its papers
//! will be chosen again). A day's files are never overwritten, and the store refuses a second
//! delivery of a day, so a user gets at most one scheduled digest a day whatever crashes.
//!
//! A user's folder is [`paperscout_types::folder_name`] of the name: the name itself, or an
//! escaped form for a name from before names were checked, so no name reaches outside it.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use paperscout_rank::DigestParams;
use paperscout_store::{Channel, Delivery, NewMail, Store};
use paperscout_types::UserSettings;

use crate::choose::{self, Digest, TextEmbedder, Window};
use crate::error::{AppError, Result};
use crate::files::pending_path;
use crate::mail::Mailer;
use crate::render::{self, Format, PickLinks};

/// How a scheduled digest travels besides its files.
#[derive(Clone, Copy, Default)]
pub struct Channels<'a> {
    /// E-mail, when it is set up.
    pub mailer: Option<&'a Mailer>,
    /// One-click links for the webhook posts (the mailer has its own), when the web page is
    /// set up.
    pub links: Option<&'a dyn PickLinks>,
    /// Team channels the user's digests are posted to besides the user's own webhooks.
    pub team_webhooks: &'a [paperscout_types::Webhook],
}

/// What a scheduled delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Nothing new, and nothing sent.
    Nothing,
    /// Nothing new, and the user's "nothing new" note queued.
    Note,
    /// The digest, written to this file and queued on the user's channels.
    Digest(PathBuf),
}

/// Chooses `user`'s digest of the window, writes it into `outbox/<user>/` and records its
/// papers as sent, queuing its messages with them: the e-mail when the user has an address
/// and `channels` a mailer, a post for each of the user's webhooks. With nothing new, a user
/// who asked for a note gets one (on the same channels), recorded as the day's delivery.
///
/// `store` must be the only writer for the whole call, or two calls could pick the same
/// papers.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    channels: Channels<'_>,
    user: &str,
    window: Window,
    params: &DigestParams,
    format: Format,
    outbox: &Path,
) -> Result<Sent> {
    let digest = choose::build(&*store, model, user, window, params, None)?;
    let settings = store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?
        .settings;
    if digest.papers.is_empty() {
        if !settings.timing.nothing_note {
            return Ok(Sent::Nothing);
        }
        let bodies = nothing_messages(&settings, channels, user, &digest.to)?;
        store.record_delivery(&Delivery {
            user,
            day: &digest.to,
            paper_ids: &[],
            at: paperscout_store::now(),
            messages: &as_new_mail(&bodies, &digest.to),
        })?;
        return Ok(Sent::Note);
    }
    let dir = user_folder(outbox, user);
    fs_err::create_dir_all(&dir)?;
    let files = Files::of(&dir, &digest.to, format);
    if let Some(existing) = files.all().find(|path| path.exists()) {
        return Err(AppError::Usage(format!(
            "the outbox already holds {user:?}'s digest of {} ({}); it is never overwritten: \
             move it away to send that day again",
            digest.to,
            existing.display()
        )));
    }
    write_synced(&pending_path(&files.data), &to_json(&digest)?)?;
    if let Some(rendered) = &files.rendered {
        let text = render::render(&digest, format, paperscout_store::now());
        write_synced(&pending_path(rendered), &text)?;
    }
    let bodies = messages(&settings, channels, &digest)?;
    let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
    let recorded = store.record_delivery(&Delivery {
        user,
        day: &digest.to,
        paper_ids: &ids,
        at: paperscout_store::now(),
        messages: &as_new_mail(&bodies, &digest.to),
    });
    if let Err(err) = recorded {
        // Nothing was recorded: the pending files go, as recovery would remove them.
        for path in files.all() {
            let _ = std::fs::remove_file(pending_path(path));
        }
        return Err(err.into());
    }
    crate::crash::point("outbox-recorded");
    if let Some(rendered) = &files.rendered {
        fs_err::rename(pending_path(rendered), rendered)?;
    }
    fs_err::rename(pending_path(&files.data), &files.data)?;
    Ok(Sent::Digest(files.rendered.unwrap_or(files.data)))
}

/// A message to queue: its channel, where it goes, what it says.
type Message = (Channel, String, Vec<u8>);

/// The digest's messages on the user's channels.
fn messages(
    settings: &UserSettings,
    channels: Channels<'_>,
    digest: &Digest,
) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    if let (Some(address), Some(mailer)) = (&settings.email, channels.mailer) {
        out.push((
            Channel::Email,
            address.clone(),
            mailer.compose(digest, address)?,
        ));
    }
    for hook in settings.webhooks.iter().chain(channels.team_webhooks) {
        out.push((
            Channel::Webhook,
            hook.url.clone(),
            crate::webhook::body(digest, hook, channels.links),
        ));
    }
    Ok(out)
}

/// The "nothing new" note on the user's channels.
fn nothing_messages(
    settings: &UserSettings,
    channels: Channels<'_>,
    user: &str,
    day: &str,
) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    if let (Some(address), Some(mailer)) = (&settings.email, channels.mailer) {
        let text = crate::webhook::nothing_text(user, day);
        let to = address.parse().map_err(|err| {
            AppError::BadSetting(format!(
                "{address:?} is not an e-mail address ({err}): fix it with `paperscout user set {user} --email ADDRESS`"
            ))
        })?;
        let message_id = format!(
            "nothing.{}.{}",
            crate::mail::id_safe(user),
            crate::mail::id_safe(day)
        );
        let html = format!("<p>{}</p>", quick_xml::escape::escape(&text));
        let message = crate::mail::build(
            mailer.from(),
            to,
            &format!("paperscout: no new papers for {user} — {day}"),
            &message_id,
            text,
            html,
        )?;
        out.push((Channel::Email, address.clone(), message));
    }
    for hook in settings.webhooks.iter().chain(channels.team_webhooks) {
        out.push((
            Channel::Webhook,
            hook.url.clone(),
            crate::webhook::nothing_body(user, day, hook),
        ));
    }
    Ok(out)
}

fn as_new_mail<'a>(messages: &'a [Message], day: &'a str) -> Vec<NewMail<'a>> {
    messages
        .iter()
        .map(|(channel, recipient, message)| NewMail {
            channel: *channel,
            day,
            recipient,
            message,
        })
        .collect()
}

/// Settles the digests a crash left `.pending` in the outbox: kept if their papers were
/// recorded as sent, removed if not. Returns how many were kept.
pub fn recover(store: &dyn Store, outbox: &Path) -> Result<usize> {
    let mut kept = 0;
    let Ok(users) = std::fs::read_dir(outbox) else {
        return Ok(0);
    };
    for user_dir in users.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        for path in fs_err::read_dir(&user_dir)?.flatten().map(|e| e.path()) {
            let Some(base) = file_name(&path).strip_suffix(".json.pending") else {
                continue;
            };
            let text = fs_err::read_to_string(&path)?;
            let digest: Digest = serde_json::from_str(&text).map_err(|source| AppError::Json {
                what: format!("{} is not a digest", path.display()),
                source,
            })?;
            // The day is the file's: that is the digest this pending file would complete.
            let recorded = store.delivered_on(&digest.user, base)? || {
                // A digest pending from before deliveries were recorded by day.
                let sent: HashSet<String> = store.sent(&digest.user)?.into_iter().collect();
                digest.papers.iter().all(|e| sent.contains(&e.paper.id))
            };
            let siblings = format!("{base}.");
            for sibling in fs_err::read_dir(&user_dir)?.flatten().map(|e| e.path()) {
                let name = file_name(&sibling);
                if name.starts_with(&siblings) && name.ends_with(".pending") && sibling != path {
                    settle(&sibling, recorded)?;
                }
            }
            settle(&path, recorded)?;
            kept += usize::from(recorded);
        }
    }
    Ok(kept)
}

/// Keeps a copy of a digest sent outside the schedule (by the `digest` command or request),
/// after its papers were recorded as sent, so that the web page's today and history show it
/// beside the scheduled ones: `<outbox>/<user>/<day>.sent-<at>.json`. The copy is for
/// reading only: the store's record is what keeps papers from being sent twice, so a copy a
/// crash or a full disk lost costs the page one digest and nothing else, and a failure is
/// logged rather than returned. Nothing is kept of a digest with no papers.
pub fn keep_sent(outbox: &Path, digest: &Digest, at: paperscout_store::Timestamp) {
    if digest.papers.is_empty() {
        return;
    }
    let dir = user_folder(outbox, &digest.user);
    let path = dir.join(format!("{}.sent-{at}.json", digest.to));
    let kept = fs_err::create_dir_all(&dir)
        .map_err(AppError::from)
        .and_then(|()| to_json(digest))
        .and_then(|json| crate::files::write_atomically(&path, json.as_bytes()));
    if let Err(err) = kept {
        tracing::warn!(
            "the digest sent to {} was recorded, but its copy for the web page could not be kept: {err}",
            digest.user
        );
    }
}

/// The keys of `user`'s digests in the outbox, newest first (by day, then by when written): a
/// scheduled digest's day
/// (`2025-03-18`), or a day and the time it was sent for a digest sent outside the schedule
/// (`2025-03-18.sent-1742342400`, see [`keep_sent`]).
pub fn digest_keys(outbox: &Path, user: &str) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(user_folder(outbox, user)) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<(String, Option<std::time::SystemTime>)> = entries
        .flatten()
        .filter_map(|entry| {
            let key = digest_key(&entry.file_name().into_string().ok()?)?.to_owned();
            Some((key, entry.metadata().and_then(|m| m.modified()).ok()))
        })
        .collect();
    // Newest day first; within a day, the digest written last (a scheduled digest and one
    // the command sent may come in either order).
    keys.sort_unstable_by(|(a, a_at), (b, b_at)| b[..10].cmp(&a[..10]).then(b_at.cmp(a_at)));
    Ok(keys.into_iter().map(|(key, _)| key).collect())
}

/// `user`'s digest of `key` (see [`digest_keys`]), if the outbox holds it.
pub fn delivered(outbox: &Path, user: &str, key: &str) -> Result<Option<Digest>> {
    let name = format!("{key}.json");
    if digest_key(&name).is_none() {
        return Err(AppError::Usage(format!(
            "{key:?} names no digest: give a day, YYYY-MM-DD"
        )));
    }
    let path = user_folder(outbox, user).join(name);
    let text = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| AppError::Json {
            what: format!("{} is not a digest", path.display()),
            source,
        })
}

/// `user`'s latest digest in the outbox, scheduled or sent, if it holds any.
pub fn latest_delivered(outbox: &Path, user: &str) -> Result<Option<Digest>> {
    match digest_keys(outbox, user)?.first() {
        Some(key) => delivered(outbox, user, key),
        None => Ok(None),
    }
}

/// The key of a digest's data file (`2025-03-18.json`, `2025-03-18.sent-1742342400.json`);
/// none for any other file.
fn digest_key(file_name: &str) -> Option<&str> {
    let key = file_name.strip_suffix(".json")?;
    let (day, rest) = key.split_at_checked(10)?;
    choose::parse_day(day, "day").ok()?;
    let sent_at = |at: &str| !at.is_empty() && at.bytes().all(|b| b.is_ascii_digit());
    (rest.is_empty() || rest.strip_prefix(".sent-").is_some_and(sent_at)).then_some(key)
}

/// The folder of a user's digests.
pub fn user_folder(outbox: &Path, user: &str) -> PathBuf {
    outbox.join(paperscout_types::folder_name(user))
}

/// A pending file made final, or removed.
fn settle(path: &Path, keep: bool) -> Result<()> {
    if keep {
        let last = path.with_extension("");
        if last.exists() {
            return Err(AppError::Usage(format!(
                "{} and {} are both there: the outbox never overwrites a day's digest; \
                 keep one and remove the other",
                path.display(),
                last.display()
            )));
        }
        fs_err::rename(path, last)?;
    } else {
        fs_err::remove_file(path)?;
    }
    Ok(())
}

/// A digest's files in the outbox: the data as JSON, and the rendered form unless that is
/// JSON too.
struct Files {
    data: PathBuf,
    rendered: Option<PathBuf>,
}

impl Files {
    fn of(dir: &Path, day: &str, format: Format) -> Self {
        let rendered = match format {
            Format::Json => None,
            Format::Markdown => Some("md"),
            Format::Html => Some("html"),
            Format::Atom => Some("atom"),
        };
        Self {
            data: dir.join(format!("{day}.json")),
            rendered: rendered.map(|ext| dir.join(format!("{day}.{ext}"))),
        }
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.data).chain(&self.rendered)
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

fn to_json(digest: &Digest) -> Result<String> {
    serde_json::to_string_pretty(digest).map_err(|source| AppError::Json {
        what: "could not write the digest as JSON".to_owned(),
        source,
    })
}

/// Writes a file and flushes it to disk before returning.
fn write_synced(path: &Path, text: &str) -> Result<()> {
    let mut file = fs_err::File::create(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use paperscout_store::Store;

    use super::*;
    use crate::testing::{self, Words};

    fn window() -> Window {
        Window {
            day: NaiveDate::from_ymd_opt(2025, 3, 18).expect("a day"),
            days: 1,
            after_last_sent: true,
        }
    }

    fn deliver_to(store: &mut dyn Store, outbox: &Path) -> Option<PathBuf> {
        let params = DigestParams {
            size: 2,
            ..DigestParams::default()
        };
        let sent = deliver(
            store,
            &Words::new(),
            Channels::default(),
            "ada",
            window(),
            &params,
            Format::Markdown,
            outbox,
        )
        .expect("delivered");
        match sent {
            Sent::Digest(file) => Some(file),
            Sent::Nothing => None,
            Sent::Note => panic!("ada asked for no note"),
        }
    }

    #[test]
    fn a_digest_is_written_and_recorded_and_the_next_one_has_nothing_new() {
        let mut store = testing::store();
        let outbox = tempfile::tempdir().expect("a temp dir");
        let file = deliver_to(&mut store, outbox.path()).expect("a digest");
        assert_eq!(file, outbox.path().join("ada/2025-03-18.md"));
        assert!(outbox.path().join("ada/2025-03-18.json").is_file());
        let markdown = fs_err::read_to_string(&file).expect("readable");
        assert!(
            markdown.contains("# paperscout digest for ada"),
            "{markdown}"
        );
        assert_eq!(store.sent("ada").expect("sent").len(), 2);
        assert_eq!(
            deliver_to(&mut store, outbox.path()),
            None,
            "nothing new that day"
        );
        assert_eq!(recover(&store, outbox.path()).expect("recovered"), 0);
        assert_eq!(
            digest_keys(outbox.path(), "ada").expect("listed"),
            ["2025-03-18"]
        );
        let read = delivered(outbox.path(), "ada", "2025-03-18")
            .expect("read")
            .expect("there");
        assert_eq!(read.papers.len(), 2);
        assert!(
            delivered(outbox.path(), "ada", "2025-03-17")
                .expect("read")
                .is_none()
        );
        assert!(
            delivered(outbox.path(), "ada", "../../etc").is_err(),
            "days only"
        );
        assert!(
            digest_keys(outbox.path(), "bob")
                .expect("listed")
                .is_empty()
        );
    }

    /// A digest sent outside the schedule is kept beside the scheduled ones and read back
    /// as the latest; a scheduled digest of the same day is still written, and names that
    /// only look like digests are passed over.
    #[test]
    fn a_sent_digest_is_kept_beside_the_scheduled_ones_and_is_the_latest() {
        let mut store = testing::store();
        let outbox = tempfile::tempdir().expect("a temp dir");
        deliver_to(&mut store, outbox.path()).expect("the scheduled digest");
        let scheduled = delivered(outbox.path(), "ada", "2025-03-18")
            .expect("read")
            .expect("there");
        // As the `digest` command would send one more of the same day.
        let sent = Digest {
            papers: scheduled.papers[..1].to_vec(),
            ..scheduled.clone()
        };
        keep_sent(outbox.path(), &sent, 1_742_342_400);
        let empty = Digest {
            papers: Vec::new(),
            ..scheduled.clone()
        };
        keep_sent(outbox.path(), &empty, 1_742_342_500);
        let folder = outbox.path().join("ada");
        for stray in [
            "2025-03-18.sent-.json",
            "2025-03-18.sent-12x.json",
            "notes.json",
        ] {
            fs_err::write(folder.join(stray), "{}").expect("written");
        }
        assert_eq!(
            digest_keys(outbox.path(), "ada").expect("listed"),
            ["2025-03-18.sent-1742342400", "2025-03-18"],
            "an empty digest is not kept, and strays are not digests"
        );
        let latest = latest_delivered(outbox.path(), "ada")
            .expect("read")
            .expect("there");
        assert_eq!(latest.papers, sent.papers);
        // Written later, the scheduled digest of the same day is the latest again.
        let scheduled_file = outbox.path().join("ada/2025-03-18.json");
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        fs_err::File::options()
            .append(true)
            .open(&scheduled_file)
            .expect("opened")
            .set_modified(later)
            .expect("touched");
        assert_eq!(
            digest_keys(outbox.path(), "ada").expect("listed"),
            ["2025-03-18", "2025-03-18.sent-1742342400"]
        );
        assert_eq!(
            recover(&store, outbox.path()).expect("recovered"),
            0,
            "a kept copy is nothing to recover"
        );
        assert!(
            delivered(outbox.path(), "ada", "2025-03-18.sent-../x").is_err(),
            "keys only"
        );
    }

    /// The two crashes a digest can meet: after its papers were recorded (its files are kept)
    /// and before (its files go, and its papers are chosen again).
    #[test]
    fn a_crash_leaves_pending_files_that_recovery_keeps_if_recorded_and_removes_if_not() {
        let outbox = tempfile::tempdir().expect("a temp dir");
        let dir = outbox.path().join("ada");
        fs_err::create_dir_all(&dir).expect("made");
        let mut store = testing::store();
        let digest = choose::build(
            &store,
            &Words::new(),
            "ada",
            window(),
            &DigestParams::default(),
            Some(2),
        )
        .expect("a digest");
        let json = to_json(&digest).expect("json");

        // Crashed before the papers were recorded.
        write_synced(&dir.join("2025-03-18.json.pending"), &json).expect("written");
        write_synced(&dir.join("2025-03-18.md.pending"), "text").expect("written");
        assert_eq!(recover(&store, outbox.path()).expect("recovered"), 0);
        assert_eq!(
            fs_err::read_dir(&dir).expect("listed").count(),
            0,
            "both removed"
        );

        // Crashed after.
        write_synced(&dir.join("2025-03-18.json.pending"), &json).expect("written");
        write_synced(&dir.join("2025-03-18.md.pending"), "text").expect("written");
        let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
        store.record_sent("ada", &ids, 2).expect("recorded");
        assert_eq!(recover(&store, outbox.path()).expect("recovered"), 1);
        assert!(dir.join("2025-03-18.json").is_file());
        assert_eq!(
            fs_err::read_to_string(dir.join("2025-03-18.md")).expect("kept"),
            "text"
        );
        assert!(!dir.join("2025-03-18.md.pending").exists());
    }

    /// Issue 22: a digest's webhook posts are queued with its record, and a user who asked
    /// for one gets a note on a day with nothing new.
    #[test]
    fn webhook_posts_are_queued_with_the_digest_and_a_note_when_asked_for() {
        use paperscout_types::{Webhook, WebhookFormat};
        let mut store = testing::store();
        let mut settings = store.user("ada").expect("read").expect("ada").settings;
        settings.webhooks = vec![
            Webhook {
                url: "http://127.0.0.1:9/slack".into(),
                format: WebhookFormat::Slack,
            },
            Webhook {
                url: "http://127.0.0.1:9/json".into(),
                format: WebhookFormat::Json,
            },
        ];
        store.set_user_settings("ada", &settings).expect("set");
        let outbox = tempfile::tempdir().expect("a temp dir");
        let file = deliver_to(&mut store, outbox.path()).expect("a digest");
        let digest: Digest = serde_json::from_str(
            &fs_err::read_to_string(file.with_extension("json")).expect("read"),
        )
        .expect("a digest");
        let queued = store.undelivered_mail().expect("outbox");
        assert_eq!(
            queued.len(),
            2,
            "one post a webhook, no e-mail without a mailer"
        );
        assert!(queued.iter().all(|m| m.channel == Channel::Webhook));
        let slack: serde_json::Value = serde_json::from_slice(&queued[0].message).expect("JSON");
        assert_eq!(slack["blocks"][0]["type"], "header");
        let text = slack.to_string();
        for entry in &digest.papers {
            let title = entry.paper.title.replace('&', "&amp;");
            assert!(text.contains(&title), "{title} is in the post");
        }
        let own: Digest = serde_json::from_slice(&queued[1].message).expect("the digest's JSON");
        assert_eq!(own.papers.len(), digest.papers.len());

        // Nothing new: nothing is sent, unless the user asked for a note.
        assert!(deliver_to(&mut store, outbox.path()).is_none());
        assert_eq!(store.undelivered_mail().expect("outbox").len(), 2);
        settings.timing.nothing_note = true;
        store.set_user_settings("ada", &settings).expect("set");
        let params = DigestParams {
            size: 2,
            ..DigestParams::default()
        };
        let next_day = Window {
            day: NaiveDate::from_ymd_opt(2025, 3, 19).expect("a day"),
            ..window()
        };
        let sent = deliver(
            &mut store,
            &Words::new(),
            Channels::default(),
            "ada",
            next_day,
            &params,
            Format::Markdown,
            outbox.path(),
        )
        .expect("delivered");
        assert_eq!(sent, Sent::Note);
        let queued = store.undelivered_mail().expect("outbox");
        assert_eq!(queued.len(), 4);
        let note: serde_json::Value = serde_json::from_slice(&queued[2].message).expect("JSON");
        assert!(
            note["text"]
                .as_str()
                .is_some_and(|t| t.contains("no new papers")),
            "{note}"
        );
        assert!(store.delivered_on("ada", "2025-03-19").expect("read"));
    }

    /// Issue 25, defects 2 and 3: one scheduled digest per user and day, whatever is asked,
    /// and a name from before names were checked stays inside the outbox.
    #[test]
    fn a_day_is_delivered_once_and_no_name_escapes_the_outbox() {
        let mut store = testing::store();
        let outbox = tempfile::tempdir().expect("a temp dir");
        let params = DigestParams {
            size: 1,
            ..DigestParams::default()
        };
        let every_paper = Window {
            after_last_sent: false,
            days: 7,
            ..window()
        };
        let send = |store: &mut dyn Store| {
            deliver(
                store,
                &Words::new(),
                Channels::default(),
                "ada",
                every_paper,
                &params,
                Format::Json,
                outbox.path(),
            )
        };
        let Sent::Digest(first) = send(&mut store).expect("delivered") else {
            panic!("a digest");
        };
        let written = fs_err::read_to_string(&first).expect("readable");
        let again = send(&mut store).unwrap_err().to_string();
        assert!(again.contains("never overwritten"), "{again}");
        assert_eq!(fs_err::read_to_string(&first).expect("readable"), written);

        // With the file moved away, the store still refuses the day, and leaves no pending file.
        fs_err::rename(&first, outbox.path().join("moved.json")).expect("moved");
        let refused = send(&mut store).unwrap_err().to_string();
        assert!(refused.contains("already delivered"), "{refused}");
        assert_eq!(
            fs_err::read_dir(first.parent().expect("a folder"))
                .expect("listed")
                .count(),
            0
        );
        assert_eq!(store.sent("ada").expect("sent").len(), 1, "one paper, once");

        assert_eq!(user_folder(outbox.path(), "ada"), outbox.path().join("ada"));
        for hostile in ["..", "/etc", "../../x", "", "."] {
            let folder = user_folder(outbox.path(), hostile);
            assert_eq!(
                folder.parent(),
                Some(outbox.path()),
                "{hostile:?}: {}",
                folder.display()
            );
            assert_ne!(folder, outbox.path().join("ada"));
        }
    }

    #[test]
    fn a_pending_file_that_is_not_a_digest_is_reported_not_guessed_at() {
        let outbox = tempfile::tempdir().expect("a temp dir");
        let dir = outbox.path().join("ada");
        fs_err::create_dir_all(&dir).expect("made");
        fs_err::write(dir.join("2025-03-18.json.pending"), "{ not json").expect("written");
        let err = recover(&testing::store(), outbox.path()).unwrap_err();
        assert!(err.to_string().contains("is not a digest"), "{err}");
        assert!(
            dir.join("2025-03-18.json.pending").exists(),
            "left for a person"
        );
    }
}
