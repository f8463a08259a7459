//! The outbox: each scheduled digest written as files under `<outbox>/<user>/` in the same
//! step that records its papers as sent, so that a crash at any point neither loses a
//! recorded digest nor records one twice.
//!
//! The files are written as `.pending` first and synced, then the papers are recorded (and,
//! for a user with an e-mail address, the message queued, in the same transaction), then the
//! files are renamed. [`recover`] settles what a crash left pending: kept when its papers were
//! recorded, removed when they were not (they will be chosen again).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use paperscout_rank::DigestParams;
use paperscout_store::Store;

use crate::choose::{self, Digest, TextEmbedder, Window};
use crate::error::{AppError, Result};
use crate::mail::{self, Mailer};
use crate::render::{self, Format};

/// Chooses `user`'s digest of the window, writes it into `outbox/<user>/` and records its
/// papers as sent (queuing the e-mail with them when the user has an address and `mailer`
/// is given). Returns the digest's file, or none when there was nothing new.
///
/// `store` must be the only writer for the whole call, or two calls could pick the same
/// papers.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    mailer: Option<&Mailer>,
    user: &str,
    window: Window,
    params: &DigestParams,
    format: Format,
    outbox: &Path,
) -> Result<Option<PathBuf>> {
    let digest = choose::build(&*store, model, user, window, params, None)?;
    if digest.papers.is_empty() {
        return Ok(None);
    }
    let dir = outbox.join(user);
    fs_err::create_dir_all(&dir)?;
    let files = Files::of(&dir, &digest.to, format);
    write_synced(&pending(&files.data), &to_json(&digest)?)?;
    if let Some(rendered) = &files.rendered {
        let text = render::render(&digest, format, paperscout_store::now());
        write_synced(&pending(rendered), &text)?;
    }
    let email = store.user(user)?.and_then(|u| u.settings.email);
    match (email, mailer) {
        (Some(recipient), Some(mailer)) => {
            mail::queue(store, &digest, mailer, &recipient)?;
        }
        _ => {
            let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
            store.record_sent(user, &ids, paperscout_store::now())?;
        }
    }
    if let Some(rendered) = &files.rendered {
        fs_err::rename(pending(rendered), rendered)?;
    }
    fs_err::rename(pending(&files.data), &files.data)?;
    Ok(Some(files.rendered.unwrap_or(files.data)))
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
            let sent: HashSet<String> = store.sent(&digest.user)?.into_iter().collect();
            let recorded = digest.papers.iter().all(|e| sent.contains(&e.paper.id));
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

/// The days of `user`'s delivered digests in the outbox, newest first.
pub fn delivered_days(outbox: &Path, user: &str) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(outbox.join(user)) else {
        return Ok(Vec::new());
    };
    let mut days: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let day = name.strip_suffix(".json")?;
            choose::parse_day(day, "day").ok()?;
            Some(day.to_owned())
        })
        .collect();
    days.sort_unstable_by(|a, b| b.cmp(a));
    Ok(days)
}

/// `user`'s delivered digest of `day`, if the outbox holds one.
pub fn delivered(outbox: &Path, user: &str, day: &str) -> Result<Option<Digest>> {
    choose::parse_day(day, "day")?;
    let path = outbox.join(user).join(format!("{day}.json"));
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

/// `user`'s latest delivered digest, if the outbox holds any.
pub fn latest_delivered(outbox: &Path, user: &str) -> Result<Option<Digest>> {
    match delivered_days(outbox, user)?.first() {
        Some(day) => delivered(outbox, user, day),
        None => Ok(None),
    }
}

/// A pending file made final, or removed.
fn settle(path: &Path, keep: bool) -> Result<()> {
    if keep {
        fs_err::rename(path, path.with_extension(""))?;
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
}

fn pending(path: &Path) -> PathBuf {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    path.with_extension(format!("{extension}.pending"))
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
        deliver(
            store,
            &Words::new(),
            None,
            "ada",
            window(),
            &params,
            Format::Markdown,
            outbox,
        )
        .expect("delivered")
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
            delivered_days(outbox.path(), "ada").expect("listed"),
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
            delivered_days(outbox.path(), "bob")
                .expect("listed")
                .is_empty()
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
