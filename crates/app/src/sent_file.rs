//! A digest written to a file the user named (`digest --out`), recorded as sent exactly once
//! whatever crashes.
//!
//! The order is the scheduler's outbox order: the output and its paper ids are written to
//! `<out>.pending` (synced, in one rename), the papers are recorded as sent in one transaction,
//! then the output is written to `<out>` and the pending file removed. A crash before the record
//! leaves a pending file whose papers are not recorded: [`finish_interrupted`] removes it and
//! they are chosen again. A crash after leaves one whose papers are: it is completed into
//! `<out>`. Either way no paper is sent twice, and none recorded as sent is in no file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use paperscout_store::Store;

use crate::crash;
use crate::error::{AppError, Result};
use crate::files::{self, pending_path};

/// What `<out>.pending` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    user: String,
    papers: Vec<String>,
    content: String,
}

/// Writes `content` to `out` and records `paper_ids` as sent to `user`, in the crash-safe
/// order above. Returns how many papers were newly recorded.
pub fn write_and_record(
    store: &mut dyn Store,
    user: &str,
    paper_ids: &[&str],
    content: &str,
    out: &Path,
) -> Result<usize> {
    let pending = pending_path(out);
    let staged = Pending {
        user: user.to_owned(),
        papers: paper_ids.iter().map(|&id| id.to_owned()).collect(),
        content: content.to_owned(),
    };
    let json = serde_json::to_vec(&staged).map_err(|source| AppError::Json {
        what: "the pending digest".to_owned(),
        source,
    })?;
    files::write_atomically(&pending, &json)?;
    crash::point("digest-pending");
    let recorded = match store.record_sent(user, paper_ids, paperscout_store::now()) {
        Ok(recorded) => recorded,
        Err(err) => {
            let _ = std::fs::remove_file(&pending);
            return Err(err.into());
        }
    };
    crash::point("digest-recorded");
    files::write_atomically(out, content.as_bytes())?;
    fs_err::remove_file(&pending)?;
    Ok(recorded)
}

/// What [`finish_interrupted`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    /// No digest to this output was interrupted.
    None,
    /// One was interrupted before its papers were recorded: it is gone, and they will be
    /// chosen again.
    Discarded,
    /// One was interrupted after its papers were recorded: it is now in the output, with this
    /// many papers.
    Completed(usize),
}

impl Interrupted {
    /// What to tell the user when a digest to `out` was completed (then the run is over);
    /// none otherwise.
    pub fn completed(&self, user: &str, out: &Path) -> Option<String> {
        let Self::Completed(papers) = self else {
            return None;
        };
        Some(format!(
            "digest for {user}: completed the digest of {papers} papers that a crash \
             interrupted in {}; run again for the next one",
            out.display()
        ))
    }
}

/// Settles a digest to `out` that a crash interrupted (see the module's order).
pub fn finish_interrupted(store: &dyn Store, out: &Path) -> Result<Interrupted> {
    let pending = pending_path(out);
    let text = match std::fs::read(&pending) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Interrupted::None),
        Err(err) => {
            return Err(AppError::io(
                format!("cannot read {}", pending.display()),
                err,
            ));
        }
    };
    let Ok(staged) = serde_json::from_slice::<Pending>(&text) else {
        // A pending file is written in one rename, so this one is not ours: leave it be.
        return Err(AppError::Usage(format!(
            "{} is not a digest paperscout left pending: move it away, then run again",
            pending.display()
        )));
    };
    let sent: std::collections::HashSet<String> = store.sent(&staged.user)?.into_iter().collect();
    if !staged.papers.iter().all(|id| sent.contains(id)) {
        fs_err::remove_file(&pending)?;
        tracing::info!(
            "a digest to {} was interrupted before its papers were recorded; choosing again",
            out.display()
        );
        return Ok(Interrupted::Discarded);
    }
    files::write_atomically(out, staged.content.as_bytes())?;
    fs_err::remove_file(&pending)?;
    Ok(Interrupted::Completed(staged.papers.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn a_pending_digest_is_completed_if_recorded_and_discarded_if_not() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let out = dir.path().join("digest.md");
        let mut store = testing::store();
        assert_eq!(
            finish_interrupted(&store, &out).expect("none"),
            Interrupted::None
        );

        let recorded = write_and_record(&mut store, "ada", &["arXiv:2503.10001"], "# one", &out)
            .expect("written");
        assert_eq!(recorded, 1);
        assert_eq!(fs_err::read_to_string(&out).expect("out"), "# one");
        assert!(!pending_path(&out).exists());

        // As a crash after the record leaves it.
        let staged = Pending {
            user: "ada".to_owned(),
            papers: vec!["arXiv:2503.10001".to_owned()],
            content: "# two".to_owned(),
        };
        let json = serde_json::to_vec(&staged).expect("json");
        fs_err::write(pending_path(&out), &json).expect("pending");
        assert_eq!(
            finish_interrupted(&store, &out).expect("completed"),
            Interrupted::Completed(1)
        );
        assert_eq!(fs_err::read_to_string(&out).expect("out"), "# two");

        // As a crash before the record leaves it.
        let staged = Pending {
            papers: vec!["arXiv:2503.10002".to_owned()],
            content: "# three".to_owned(),
            ..staged
        };
        fs_err::write(
            pending_path(&out),
            serde_json::to_vec(&staged).expect("json"),
        )
        .expect("pending");
        assert_eq!(
            finish_interrupted(&store, &out).expect("discarded"),
            Interrupted::Discarded
        );
        assert_eq!(fs_err::read_to_string(&out).expect("out"), "# two");
        assert!(!pending_path(&out).exists());
    }
}
