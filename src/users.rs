//! Profile and feedback changes shared by the local commands and the daemon, so a change made
//! through either is the same change.

use anyhow::Result;
use paperscout_store::{
    Feedback, FeedbackKind, ProfileItem, ProfileSubject, Store, StoredPaper, Timestamp, User,
};
use serde::Serialize;

/// Adds stored papers (by arXiv id in any spelling, DOI or paperscout id) to a profile.
/// Returns how many were added and the keys not found in the store.
pub fn add_papers(
    store: &mut dyn Store,
    user: &str,
    keys: &[String],
    now: Timestamp,
) -> Result<(usize, Vec<String>)> {
    let mut added = 0;
    let mut unknown = Vec::new();
    for key in keys {
        match store.find_paper(key)? {
            Some(found) => {
                let item = ProfileItem {
                    subject: ProfileSubject::Paper(found.paper.id),
                    weight: 1.0,
                    added: now,
                };
                store.add_profile_item(user, &item)?;
                added += 1;
            }
            None => unknown.push(key.clone()),
        }
    }
    Ok((added, unknown))
}

/// Adds statements of interest to a profile.
pub fn add_interests(
    store: &mut dyn Store,
    user: &str,
    interests: &[String],
    now: Timestamp,
) -> Result<usize> {
    for interest in interests {
        let item = ProfileItem {
            subject: ProfileSubject::Interest(interest.clone()),
            weight: 1.0,
            added: now,
        };
        store.add_profile_item(user, &item)?;
    }
    Ok(interests.len())
}

/// A key that names no stored paper.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not in the store: ingest it first")]
pub struct UnknownPaper(pub String);

/// Records feedback on stored papers; every key must name one (checked before anything is
/// written). Returns the papers.
pub fn record_feedback(
    store: &mut dyn Store,
    user: &str,
    kind: FeedbackKind,
    keys: &[String],
    now: Timestamp,
) -> Result<Vec<StoredPaper>> {
    let mut papers = Vec::with_capacity(keys.len());
    for key in keys {
        papers.push(
            store
                .find_paper(key)?
                .ok_or_else(|| UnknownPaper(key.clone()))?,
        );
    }
    for found in &papers {
        store.add_feedback(
            user,
            &Feedback {
                paper_id: found.paper.id.clone(),
                kind,
                at: now,
            },
        )?;
    }
    Ok(papers)
}

/// A user as `user show` prints it.
#[derive(Debug, Serialize)]
pub struct Shown {
    /// Who.
    #[serde(flatten)]
    pub user: User,
    /// The profile, oldest first.
    pub profile: Vec<ProfileItem>,
    /// Likes, dislikes, saves and dismissals, oldest first.
    pub feedback: Vec<Feedback>,
    /// Papers sent so far.
    pub sent: usize,
}

/// Everything about a user.
pub fn show(store: &dyn Store, name: &str) -> Result<Shown> {
    let user = store
        .user(name)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(name.to_owned()))?;
    Ok(Shown {
        user,
        profile: store.profile(name)?,
        feedback: store.feedback(name)?,
        sent: store.sent(name)?.len(),
    })
}
