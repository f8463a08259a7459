//! Building a user's recommendations: the profile and feedback read from the store, the
//! candidates of a window of announcement days, and the digest chooser of `paperscout-rank`.
//!
//! One code path for every caller: `paperscout digest` on the command line, and the daemon's
//! `recommend` and `digest` requests. Texts that need a vector (statements of interest,
//! candidates not embedded yet) go to the [`TextEmbedder`] in one call, so the daemon can route
//! them through its model worker and the CLI through the model it loaded.

use std::collections::HashSet;

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate};
use paperscout_rank::Matrix;
use paperscout_rank::digest::{DigestInput, DigestParams, select};
use paperscout_store::{FeedbackKind, ModelKey, ProfileSubject, Store, StoredPaper};
use paperscout_types::Paper;
use serde::{Deserialize, Serialize};

/// A user with nothing in the profile to rank by.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0}'s profile is empty: add papers or interests with `paperscout user add {0} --papers FILE --interest TEXT`"
)]
pub struct EmptyProfile(pub String);

/// Whatever turns texts into vectors of the store's model.
pub trait TextEmbedder {
    /// The model the vectors come from.
    fn key(&self) -> &ModelKey;
    /// One unit vector per text, in order.
    fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// Why a profile item is in the profile: how a pick's explanation begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The user added the paper to the profile.
    Added,
    /// A statement of interest.
    Interest,
    /// A liked paper.
    Liked,
    /// A saved paper.
    Saved,
}

/// Which profile item a pick came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Because {
    /// How the item entered the profile.
    pub reason: Reason,
    /// The item: a paper's title or the statement of interest.
    pub item: String,
    /// Cosine between the pick and the item.
    pub similarity: f32,
    /// Distinctive terms both share.
    pub shared_terms: Vec<String>,
}

/// One recommended paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The paper.
    #[serde(flatten)]
    pub paper: Paper,
    /// The ranking score (standardised over the candidates; higher is better).
    pub score: f32,
    /// Why.
    pub because: Because,
}

/// A user's chosen papers of a window of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// Whose.
    pub user: String,
    /// The first announcement day considered.
    pub from: String,
    /// The last announcement day considered.
    pub to: String,
    /// Papers that could have been chosen.
    pub candidates: usize,
    /// The chosen papers, best first.
    pub papers: Vec<Entry>,
}

/// Which days' papers are candidates.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The last day.
    pub day: NaiveDate,
    /// How many days up to `day` a first digest covers.
    pub days: u32,
    /// Start after the newest day already sent, when that is later (a digest does; a
    /// recommendation preview does not).
    pub after_last_sent: bool,
}

/// Today, in UTC.
pub fn today() -> NaiveDate {
    chrono::DateTime::from_timestamp(paperscout_store::now(), 0)
        .map_or(NaiveDate::MIN, |now| now.date_naive())
}

/// Parses a `YYYY-MM-DD` day, saying which option was wrong.
pub fn parse_day(text: &str, option: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("{option} {text:?} is not a day (YYYY-MM-DD)"))
}

/// A text and its vector, when the store had one.
type Row = (String, Option<Vec<f32>>);

struct Item {
    reason: Reason,
    label: String,
    text: String,
    vector: Option<Vec<f32>>,
}

/// Chooses `user`'s papers of the window: ranked against the profile, pushed down by
/// dislikes, diversified, explained. Papers sent before, rated, or in the profile are never
/// candidates. An empty window gives an empty digest.
pub fn build(
    store: &dyn Store,
    model: &dyn TextEmbedder,
    user: &str,
    window: Window,
    params: &DigestParams,
) -> Result<Digest> {
    store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?;
    let sent: HashSet<String> = store.sent(user)?.into_iter().collect();
    let feedback = store.feedback(user)?;
    let (from, to) = window_days(store, &sent, window)?;

    let profile_items = store.profile(user)?;
    // Never offer what was sent, rated, or is in the profile already.
    let mut known: HashSet<String> = feedback.iter().map(|f| f.paper_id.clone()).collect();
    known.extend(profile_items.iter().filter_map(|item| match &item.subject {
        ProfileSubject::Paper(id) => Some(id.clone()),
        ProfileSubject::Interest(_) => None,
    }));
    let candidates: Vec<StoredPaper> = store
        .papers_announced(&from, &to)?
        .into_iter()
        .filter(|p| !sent.contains(&p.paper.id) && !known.contains(&p.paper.id))
        .collect();
    let mut digest = Digest {
        user: user.to_owned(),
        from,
        to,
        candidates: candidates.len(),
        papers: Vec::new(),
    };
    if candidates.is_empty() {
        return Ok(digest);
    }

    let mut profile: Vec<(i64, Reason, String)> = profile_items
        .into_iter()
        .map(|item| match item.subject {
            ProfileSubject::Paper(id) => (item.added, Reason::Added, id),
            ProfileSubject::Interest(text) => (item.added, Reason::Interest, text),
        })
        .collect();
    let mut negative_ids = Vec::new();
    for event in &feedback {
        match event.kind {
            FeedbackKind::Like => profile.push((event.at, Reason::Liked, event.paper_id.clone())),
            FeedbackKind::Save => profile.push((event.at, Reason::Saved, event.paper_id.clone())),
            FeedbackKind::Dislike | FeedbackKind::Dismiss => {
                negative_ids.push(event.paper_id.clone());
            }
        }
    }
    // Newest first.
    profile.sort_by_key(|item| std::cmp::Reverse(item.0));
    let key = model.key();
    let mut items = Vec::new();
    for (_, reason, subject) in profile {
        items.push(match reason {
            Reason::Interest => Item {
                reason,
                label: subject.clone(),
                text: subject,
                vector: None,
            },
            _ => {
                let Some(stored) = store.paper(&subject)? else {
                    continue;
                };
                Item {
                    reason,
                    label: stored.paper.title.clone(),
                    text: stored.paper.embedding_text(),
                    vector: store.embedding(&stored.paper.id, key)?,
                }
            }
        });
    }
    if items.is_empty() {
        return Err(EmptyProfile(user.to_owned()).into());
    }
    let mut negatives = Vec::new();
    for id in &negative_ids {
        if let Some(stored) = store.paper(id)? {
            let vector = store.embedding(id, key)?;
            negatives.push((stored.paper.embedding_text(), vector));
        }
    }
    let mut candidate_rows = Vec::with_capacity(candidates.len());
    for candidate in &candidates {
        let vector = store.embedding(&candidate.paper.id, key)?;
        candidate_rows.push((candidate.paper.embedding_text(), vector));
    }
    let mut item_rows: Vec<Row> = items
        .iter_mut()
        .map(|item| (item.text.clone(), item.vector.take()))
        .collect();
    fill_missing(model, [&mut item_rows, &mut negatives, &mut candidate_rows])?;

    let item_vectors = matrix(key.dim, &item_rows);
    let negative_vectors = matrix(key.dim, &negatives);
    let candidate_vectors = matrix(key.dim, &candidate_rows);
    let candidate_texts: Vec<String> = candidate_rows.into_iter().map(|(text, _)| text).collect();
    let item_texts: Vec<String> = item_rows.into_iter().map(|(text, _)| text).collect();
    let input = DigestInput {
        candidate_vectors: &candidate_vectors,
        candidate_texts: &candidate_texts,
        item_vectors: &item_vectors,
        item_texts: &item_texts,
        negative_vectors: &negative_vectors,
    };
    digest.papers = select(&input, params)
        .into_iter()
        .map(|pick| {
            let item = &items[pick.closest_item];
            Entry {
                paper: candidates[pick.candidate].paper.clone(),
                score: pick.score,
                because: Because {
                    reason: item.reason,
                    item: item.label.clone(),
                    similarity: pick.similarity,
                    shared_terms: pick.shared_terms,
                },
            }
        })
        .collect();
    Ok(digest)
}

/// The first and last day of the window: since the last digest (the day after the newest
/// paper sent), else the last `days` days.
fn window_days(
    store: &dyn Store,
    sent: &HashSet<String>,
    window: Window,
) -> Result<(String, String)> {
    let day = window.day;
    let window_start = day
        .checked_sub_days(Days::new(u64::from(window.days.max(1)) - 1))
        .unwrap_or(day);
    let mut from = window_start;
    if window.after_last_sent {
        let mut last_sent: Option<NaiveDate> = None;
        for id in sent {
            if let Some(date) = store.paper(id)?.and_then(|stored| stored.paper.date)
                && let Ok(date) = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            {
                last_sent = last_sent.max(Some(date));
            }
        }
        if let Some(last) = last_sent
            && last >= window_start
        {
            from = last.succ_opt().unwrap_or(last);
        }
    }
    Ok((
        from.format("%Y-%m-%d").to_string(),
        day.format("%Y-%m-%d").to_string(),
    ))
}

/// Embeds, in one call, every text whose vector the store did not have.
fn fill_missing<const N: usize>(
    model: &dyn TextEmbedder,
    groups: [&mut Vec<Row>; N],
) -> Result<()> {
    let mut texts = Vec::new();
    for group in &groups {
        texts.extend(
            group
                .iter()
                .filter(|(_, vector)| vector.is_none())
                .map(|(text, _)| text.clone()),
        );
    }
    if texts.is_empty() {
        return Ok(());
    }
    let mut vectors = model.embed_texts(&texts)?.into_iter();
    for group in groups {
        for (_, slot) in group.iter_mut().filter(|(_, vector)| vector.is_none()) {
            *slot = Some(
                vectors
                    .next()
                    .context("the embedder returned fewer vectors than texts")?,
            );
        }
    }
    Ok(())
}

fn matrix(dim: usize, rows: &[Row]) -> Matrix {
    let mut matrix = Matrix::new(dim);
    for (_, vector) in rows {
        if let Some(vector) = vector {
            matrix.push(vector);
        }
    }
    matrix
}
