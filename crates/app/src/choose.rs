//! Building a user's recommendations: the profile and feedback read from the store, the
//! candidates of a window of announcement days, and the digest chooser of `paperscout-rank`.
//!
//! One code path for every caller: `paperscout digest` on the command line, the daemon's
//! `recommend` and `digest` requests. Texts that need a vector (statements of interest,
//! candidates not embedded yet) go to the [`TextEmbedder`] in one call, so the daemon can route
//! them through its model worker and the CLI through the model it loaded.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{Days, NaiveDate};
use paperscout_rank::{
    CandidateSet, CompiledRules, DEFAULT_BLOCK_BYTES, DigestParams, ItemRef, Matrix, PaperFacts,
    Pick, ProfileRows, SharedProfile,
};
use paperscout_store::{FeedbackKind, ProfileSubject, Store, StoredPaper};
use paperscout_types::Paper;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};
use crate::facets::Section;

pub use paperscout_ingest::TextEmbedder;

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
    /// The user's keyword and author rules that lifted it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// A profile item and how near a paper is to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileMatch {
    /// How the item entered the profile.
    pub reason: Reason,
    /// The item: a paper's title or the statement of interest.
    pub item: String,
    /// Cosine between the paper and the item.
    pub similarity: f32,
}

/// One recommended paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The paper.
    #[serde(flatten)]
    pub paper: Paper,
    /// The ranking score (standardised over the candidates; higher is better).
    pub score: f32,
    /// The profile item it came from, and what it shares with it.
    pub because: Because,
    /// The name of the facet (section) it is in, when the digest has sections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facet: Option<String>,
}

/// A user's chosen papers of a window of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// The user the digest is for.
    pub user: String,
    /// The first announcement day considered.
    pub from: String,
    /// The last announcement day considered.
    pub to: String,
    /// Papers that could have been chosen.
    pub candidates: usize,
    /// The chosen papers: best first, or section by section when there are sections.
    pub papers: Vec<Entry>,
    /// One section per facet of the profile with papers in the digest, in the order the
    /// papers are; none when the profile is one interest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
}

impl Digest {
    /// The name of the section that starts at the `n`-th paper, if one does: where the paper's
    /// facet differs from the one before. How every rendering heads its sections.
    pub fn section_starting(&self, n: usize) -> Option<&str> {
        let facet = self.papers.get(n)?.facet.as_deref()?;
        let before = n
            .checked_sub(1)
            .and_then(|b| self.papers[b].facet.as_deref());
        (before != Some(facet)).then_some(facet)
    }
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
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| AppError::BadDay {
        option: option.to_owned(),
        text: text.to_owned(),
    })
}

/// A text and its vector, when the store had one.
type Row = (String, Option<Vec<f32>>);

pub(crate) struct Item {
    pub(crate) reason: Reason,
    pub(crate) label: String,
    /// The paper's id, or the statement of interest: what a facet setting names.
    pub(crate) key: String,
}

/// The candidates of a window, prepared once for any number of users: their papers and the
/// ranking's [`CandidateSet`] (vectors, vocabulary, term vectors).
pub struct Pool {
    /// The candidate papers, in the day's order.
    pub papers: Vec<StoredPaper>,
    pub(crate) day: CandidateSet,
    position: HashMap<String, usize>,
    /// What users' rules look at, prepared the first time a user has rules.
    facts: OnceLock<Vec<PaperFacts>>,
}

impl Pool {
    /// Every paper announced from `from` to `to`, with its stored vector (the missing ones
    /// embedded in one call).
    pub fn announced(
        store: &dyn Store,
        model: &dyn TextEmbedder,
        from: &str,
        to: &str,
    ) -> Result<Self> {
        Self::of(store, model, store.papers_announced(from, to)?)
    }

    /// These papers as candidates.
    pub fn of(
        store: &dyn Store,
        model: &dyn TextEmbedder,
        papers: Vec<StoredPaper>,
    ) -> Result<Self> {
        let key = model.key();
        let mut rows = Vec::with_capacity(papers.len());
        for candidate in &papers {
            let vector = store.embedding(&candidate.paper.id, key)?;
            rows.push((candidate.paper.embedding_text(), vector));
        }
        fill_missing(model, [&mut rows])?;
        let vectors = matrix(key.dim, &rows);
        let texts: Vec<String> = rows.into_iter().map(|(text, _)| text).collect();
        let position = papers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.paper.id.clone(), i))
            .collect();
        Ok(Self {
            day: CandidateSet::new(vectors, &texts),
            papers,
            position,
            facts: OnceLock::new(),
        })
    }

    fn facts(&self) -> &[PaperFacts] {
        self.facts.get_or_init(|| {
            self.papers
                .iter()
                .map(|p| {
                    let paper = &p.paper;
                    PaperFacts::new(
                        &paper.title,
                        &paper.abstract_text,
                        &paper.authors,
                        &paper.categories,
                    )
                })
                .collect()
        })
    }

    /// Candidates.
    pub fn len(&self) -> usize {
        self.papers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.papers.is_empty()
    }

    /// Chooses for several users at once, on every core: the same choice as for each alone.
    /// Each user's picks go to `sink` (index into `users`, picks) in order as they are ready;
    /// `progress` hears (steps done, steps in all).
    pub fn choose_each(
        &self,
        rows: &SharedRows,
        users: &[UserInput],
        params: &DigestParams,
        progress: &mut dyn FnMut(usize, usize),
        sink: &mut dyn FnMut(usize, Vec<Pick>),
    ) {
        let views: Vec<SharedProfile<'_>> = users.iter().map(UserInput::view).collect();
        self.day.rank_each(
            &rows.rows,
            &views,
            params,
            DEFAULT_BLOCK_BYTES,
            progress,
            sink,
        );
    }

    /// The `top` candidates nearest each user's centroid, explained: the fast batch method.
    pub fn centroid_many(
        &self,
        rows: &SharedRows,
        users: &[UserInput],
        top: usize,
    ) -> Vec<Vec<Pick>> {
        let views: Vec<SharedProfile<'_>> = users.iter().map(UserInput::view).collect();
        self.day.centroid_shared(&rows.rows, &views, top)
    }

    /// Chooses for one user.
    pub fn choose(&self, rows: &SharedRows, user: &UserInput, params: &DigestParams) -> Vec<Entry> {
        let picks = self
            .day
            .rank(&rows.rows, &[user.view()], params, DEFAULT_BLOCK_BYTES);
        self.entries(picks.into_iter().next().unwrap_or_default(), user)
    }

    /// The candidate of this paper id, when it is one.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        self.position.get(id).copied()
    }

    /// The unit vector of a candidate, by index.
    pub fn vector(&self, candidate: usize) -> &[f32] {
        self.day.vector(candidate)
    }

    /// A paper of the pool, by index.
    pub fn paper(&self, candidate: usize) -> &StoredPaper {
        &self.papers[candidate]
    }

    /// Picks as entries: the paper and why.
    pub fn entries(&self, picks: Vec<Pick>, user: &UserInput) -> Vec<Entry> {
        picks
            .into_iter()
            .map(|pick| self.entry(pick, user))
            .collect()
    }

    /// A pick as an entry, in no section.
    pub fn entry(&self, pick: Pick, user: &UserInput) -> Entry {
        Entry {
            paper: self.papers[pick.candidate].paper.clone(),
            score: pick.score,
            because: user.because(pick),
            facet: None,
        }
    }
}

/// The profile rows of the users ranked together: each paper's vector and text once, and
/// each statement of interest once, however many users hold them.
pub struct SharedRows {
    pub(crate) rows: ProfileRows,
    /// What explains each text row: a paper's title, or the statement itself.
    labels: Vec<String>,
    papers: HashMap<String, ItemRef>,
    interests: HashMap<String, ItemRef>,
}

/// A profile row to find or add.
enum RowKey {
    Paper(String),
    Interest(String),
}

impl SharedRows {
    /// No rows yet, for vectors of the model's length.
    pub fn new(dim: usize) -> Self {
        Self {
            rows: ProfileRows::new(dim),
            labels: Vec::new(),
            papers: HashMap::new(),
            interests: HashMap::new(),
        }
    }

    fn find(&self, key: &RowKey) -> Option<ItemRef> {
        match key {
            RowKey::Paper(id) => self.papers.get(id).copied(),
            RowKey::Interest(text) => self.interests.get(text).copied(),
        }
    }

    fn add(&mut self, key: RowKey, text: String, label: String, vector: &[f32]) -> ItemRef {
        self.rows.vectors.push(vector);
        self.rows.texts.push(text);
        self.labels.push(label);
        let item = ItemRef {
            vector: (self.rows.vectors.rows() - 1) as u32,
            text: (self.rows.texts.len() - 1) as u32,
        };
        match key {
            RowKey::Paper(id) => self.papers.insert(id, item),
            RowKey::Interest(text) => self.interests.insert(text, item),
        };
        item
    }

    /// The rows of these keys: found, read from the store, or embedded (all that need it in
    /// one call). `None` for a paper the store does not have.
    fn resolve(
        &mut self,
        store: &dyn Store,
        model: &dyn TextEmbedder,
        keys: Vec<RowKey>,
    ) -> Result<Vec<Option<ItemRef>>> {
        let key = model.key();
        let mut found = Vec::with_capacity(keys.len());
        // Rows not held yet: (slot in `found`, key, label), and their texts and vectors.
        let mut missing: Vec<(usize, RowKey, String)> = Vec::new();
        let mut texts: Vec<Row> = Vec::new();
        for row_key in keys {
            if let Some(item) = self.find(&row_key) {
                found.push(Some(item));
                continue;
            }
            let (row, label) = match &row_key {
                RowKey::Interest(text) => ((text.clone(), None), text.clone()),
                RowKey::Paper(id) => {
                    let Some(stored) = store.paper(id)? else {
                        found.push(None);
                        continue;
                    };
                    let vector = store.embedding(&stored.paper.id, key)?;
                    ((stored.paper.embedding_text(), vector), stored.paper.title)
                }
            };
            missing.push((found.len(), row_key, label));
            texts.push(row);
            found.push(None);
        }
        fill_missing(model, [&mut texts])?;
        for ((slot, row_key, label), (text, vector)) in missing.into_iter().zip(texts) {
            // The same key twice in one call: the first added serves both.
            let item = match self.find(&row_key) {
                Some(item) => item,
                None => {
                    let vector = vector.ok_or_else(fewer_vectors)?;
                    self.add(row_key, text, label, &vector)
                }
            };
            found[slot] = Some(item);
        }
        Ok(found)
    }
}

/// One user as the ranking sees them against a [`Pool`]: profile items (newest first) with
/// vectors, texts and ages, disliked papers' vectors and ages, the candidates never to offer
/// them, and what their rules lift.
pub struct UserInput {
    /// The user's name.
    pub name: String,
    /// Papers per digest the user asked for, if they did.
    pub size: Option<usize>,
    pub(crate) items: Vec<Item>,
    pub(crate) item_rows: Vec<ItemRef>,
    pub(crate) item_ages: Vec<f32>,
    negatives: Vec<u32>,
    negative_ages: Vec<f32>,
    excluded: Vec<usize>,
    boosted: Vec<(usize, usize)>,
    /// The rules that lifted each boosted candidate, in words.
    fired: HashMap<usize, Vec<String>>,
    min_similarity: Option<f32>,
    pub(crate) facet_settings: Vec<paperscout_types::FacetSetting>,
}

/// Seconds in a day, for feedback ages.
const DAY_SECONDS: i64 = 86_400;

impl UserInput {
    /// Reads a user's profile, feedback and sent papers; embeds in one call whatever has no
    /// stored vector (statements of interest, papers never embedded).
    pub fn load(
        store: &dyn Store,
        model: &dyn TextEmbedder,
        user: &str,
        pool: &Pool,
        rows: &mut SharedRows,
    ) -> Result<Self> {
        Self::load_hiding(store, model, user, pool, rows, &HashSet::new())
    }

    /// [`UserInput::load`] as if the papers in `hidden` had never been in the profile, rated
    /// or sent: a backtest's held-out papers, which must be ranked like any candidate and
    /// must not inform the ranking.
    pub fn load_hiding(
        store: &dyn Store,
        model: &dyn TextEmbedder,
        user: &str,
        pool: &Pool,
        rows: &mut SharedRows,
        hidden: &HashSet<String>,
    ) -> Result<Self> {
        // One read (one round trip on a database server) for the user's settings, profile,
        // ratings and sent papers.
        let state = store
            .user_state(user)?
            .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?;
        let settings = state.user.settings;
        let now = paperscout_store::now();
        // Whole days: a ranking must not change from one second to the next (a resumed
        // batch re-rank writes the same bytes as an uninterrupted one).
        let age = |at: i64| ((now - at).max(0) / DAY_SECONDS) as f32;
        let mut feedback = state.feedback;
        feedback.retain(|event| !hidden.contains(&event.paper_id));
        let mut profile_items = state.profile;
        profile_items.retain(|item| match &item.subject {
            ProfileSubject::Paper(id) => !hidden.contains(id),
            ProfileSubject::Interest(_) => true,
        });
        // Never offer what was sent, rated, or is in the profile already.
        let mut known: HashSet<String> = state.sent.into_iter().collect();
        known.retain(|id| !hidden.contains(id));
        known.extend(feedback.iter().map(|f| f.paper_id.clone()));
        known.extend(profile_items.iter().filter_map(|item| match &item.subject {
            ProfileSubject::Paper(id) => Some(id.clone()),
            ProfileSubject::Interest(_) => None,
        }));
        let mut excluded: Vec<usize> = known
            .iter()
            .filter_map(|id| pool.position.get(id).copied())
            .collect();
        let rules = CompiledRules::new(&settings.rules);
        let mut boosted = Vec::new();
        let mut fired = HashMap::new();
        if !rules.is_empty() {
            for (candidate, facts) in pool.facts().iter().enumerate() {
                let verdict = rules.judge(facts);
                if verdict.muted_by.is_some() {
                    excluded.push(candidate);
                } else if !verdict.boosted_by.is_empty() {
                    boosted.push((candidate, verdict.boosted_by.len()));
                    fired.insert(candidate, verdict.boosted_by);
                }
            }
        }
        excluded.sort_unstable();
        excluded.dedup();

        // (when, why, what, age as feedback: 0 for what the user added, which never fades)
        let mut profile: Vec<(i64, Reason, String, f32)> = profile_items
            .into_iter()
            .map(|item| match item.subject {
                ProfileSubject::Paper(id) => (item.added, Reason::Added, id, 0.0),
                ProfileSubject::Interest(text) => (item.added, Reason::Interest, text, 0.0),
            })
            .collect();
        let mut negative_ids = Vec::new();
        for event in &feedback {
            let reason = match event.kind {
                FeedbackKind::Like => Reason::Liked,
                FeedbackKind::Save => Reason::Saved,
                FeedbackKind::Dislike | FeedbackKind::Dismiss => {
                    negative_ids.push((event.paper_id.clone(), age(event.at)));
                    continue;
                }
            };
            profile.push((event.at, reason, event.paper_id.clone(), age(event.at)));
        }
        // Newest first.
        profile.sort_by_key(|item| std::cmp::Reverse(item.0));
        let mut keys = Vec::with_capacity(profile.len() + negative_ids.len());
        for (_, reason, subject, _) in &profile {
            keys.push(if *reason == Reason::Interest {
                RowKey::Interest(subject.clone())
            } else {
                RowKey::Paper(subject.clone())
            });
        }
        keys.extend(negative_ids.iter().map(|(id, _)| RowKey::Paper(id.clone())));
        let mut found = rows.resolve(store, model, keys)?.into_iter();
        let mut items = Vec::new();
        let mut item_rows = Vec::new();
        let mut item_ages = Vec::new();
        for ((_, reason, key, item_age), row) in profile.into_iter().zip(found.by_ref()) {
            // A paper the store does not have is left out.
            let Some(row) = row else { continue };
            items.push(Item {
                reason,
                label: rows.labels[row.text as usize].clone(),
                key,
            });
            item_rows.push(row);
            item_ages.push(item_age);
        }
        if items.is_empty() {
            return Err(AppError::EmptyProfile(user.to_owned()));
        }
        let mut negatives = Vec::new();
        let mut negative_ages = Vec::new();
        for ((_, negative_age), row) in negative_ids.iter().zip(found) {
            if let Some(row) = row {
                negatives.push(row.vector);
                negative_ages.push(*negative_age);
            }
        }
        Ok(Self {
            name: user.to_owned(),
            size: settings.rules.size,
            items,
            item_rows,
            item_ages,
            negatives,
            negative_ages,
            excluded,
            boosted,
            fired,
            min_similarity: settings.rules.min_similarity,
            facet_settings: settings.facets,
        })
    }

    pub(crate) fn view(&self) -> SharedProfile<'_> {
        SharedProfile {
            items: self.item_rows.clone(),
            negatives: self.negatives.clone(),
            excluded: &self.excluded,
            item_ages_days: &self.item_ages,
            negative_ages_days: &self.negative_ages,
            boosted: &self.boosted,
            min_similarity: self.min_similarity,
        }
    }

    /// Why a pick was chosen for this user.
    pub fn because(&self, pick: Pick) -> Because {
        let item = &self.items[pick.closest_item];
        Because {
            reason: item.reason,
            item: item.label.clone(),
            similarity: pick.similarity,
            shared_terms: pick.shared_terms,
            rules: self.fired.get(&pick.candidate).cloned().unwrap_or_default(),
        }
    }

    /// The profile items nearest `vector`, best first, at most `n`.
    pub fn nearest_items(&self, rows: &SharedRows, vector: &[f32], n: usize) -> Vec<ProfileMatch> {
        let mut matches: Vec<ProfileMatch> = self
            .items
            .iter()
            .zip(self.similarities(rows, vector))
            .map(|(item, similarity)| ProfileMatch {
                reason: item.reason,
                item: item.label.clone(),
                similarity,
            })
            .collect();
        matches.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        matches.truncate(n);
        matches
    }

    /// Each profile item's cosine with `vector`, in the items' order.
    fn similarities<'a>(
        &'a self,
        rows: &'a SharedRows,
        vector: &'a [f32],
    ) -> impl Iterator<Item = f32> + 'a {
        self.item_rows.iter().map(move |row| {
            paperscout_rank::dense::dot(rows.rows.vectors.row(row.vector as usize), vector)
        })
    }

    /// The profile item nearest `vector` (index into the items), as a pick's closest item is
    /// found; none for an empty profile.
    pub(crate) fn nearest_item(&self, rows: &SharedRows, vector: &[f32]) -> Option<usize> {
        self.similarities(rows, vector)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(item, _)| item)
    }

    /// The user's own similarity floor, when they set one.
    pub fn floor(&self) -> Option<f32> {
        self.min_similarity
    }

    /// This user without their floor (`min_similarity`): every eligible candidate ranked,
    /// for a caller that asks what a floor would have cost.
    pub(crate) fn without_floor(mut self) -> Self {
        self.min_similarity = None;
        self
    }

    /// Candidates this user may be offered.
    pub fn eligible(&self, pool: &Pool) -> usize {
        pool.len() - self.excluded.len()
    }
}

/// Chooses `user`'s papers of the window: ranked against the profile, pushed down by
/// dislikes, lifted or ruled out by the user's rules, diversified, explained. Papers sent
/// before, rated, or in the profile are never chosen. An empty window gives an empty digest.
/// The digest holds `size` papers at most when given, else as many as the user asked for,
/// else `params.size`.
pub fn build(
    store: &dyn Store,
    model: &dyn TextEmbedder,
    user: &str,
    window: Window,
    params: &DigestParams,
    size: Option<usize>,
) -> Result<Digest> {
    build_shaped(store, model, user, window, params, size, true)
}

/// [`build`], in sections per facet of the profile when `sectioned` (as every digest is), else
/// flat: best first, as the batch re-rank ranks.
pub fn build_shaped(
    store: &dyn Store,
    model: &dyn TextEmbedder,
    user: &str,
    window: Window,
    params: &DigestParams,
    size: Option<usize>,
    sectioned: bool,
) -> Result<Digest> {
    store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?;
    let sent: HashSet<String> = store.sent(user)?.into_iter().collect();
    let (from, to) = window_days(store, &sent, window)?;
    let pool = Pool::announced(store, model, &from, &to)?;
    let mut digest = Digest {
        user: user.to_owned(),
        from,
        to,
        candidates: 0,
        papers: Vec::new(),
        sections: Vec::new(),
    };
    if pool.is_empty() {
        return Ok(digest);
    }
    let mut rows = SharedRows::new(model.key().dim);
    let input = UserInput::load(store, model, user, &pool, &mut rows)?;
    digest.candidates = input.eligible(&pool);
    if digest.candidates > 0 {
        let params = DigestParams {
            size: size.or(input.size).unwrap_or(params.size),
            ..*params
        };
        if sectioned {
            (digest.papers, digest.sections) = pool.choose_sectioned(&rows, &input, &params);
        } else {
            digest.papers = pool.choose(&rows, &input, &params);
        }
    }
    Ok(digest)
}

/// The first and last day of the window: since the last digest (the day after the newest
/// paper sent), else the last `days` days.
pub(crate) fn window_days(
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
    let mut vectors = model
        .embed_texts(&texts)
        .map_err(AppError::Embedding)?
        .into_iter();
    for group in groups {
        for (_, slot) in group.iter_mut().filter(|(_, vector)| vector.is_none()) {
            *slot = Some(vectors.next().ok_or_else(fewer_vectors)?);
        }
    }
    Ok(())
}

fn fewer_vectors() -> AppError {
    AppError::Bug("the embedder returned fewer vectors than texts".to_owned())
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

#[cfg(test)]
mod tests {
    use paperscout_store::{Feedback, FeedbackKind, MemoryStore, Store};
    use paperscout_types::UserSettings;

    use super::*;
    use crate::testing::{self, Words};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 18).expect("a day")
    }

    fn digest_of(store: &MemoryStore, after_last_sent: bool) -> Digest {
        let window = Window {
            day: day(),
            days: 1,
            after_last_sent,
        };
        build(
            store,
            &Words::new(),
            "ada",
            window,
            &DigestParams::default(),
            Some(3),
        )
        .expect("a digest")
    }

    fn ids(digest: &Digest) -> Vec<&str> {
        digest.papers.iter().map(|e| e.paper.id.as_str()).collect()
    }

    #[test]
    fn the_papers_like_the_profile_come_first_and_each_is_explained() {
        let store = testing::store();
        let digest = digest_of(&store, true);
        assert_eq!(
            (digest.from.as_str(), digest.to.as_str()),
            ("2025-03-18", "2025-03-18")
        );
        assert_eq!(
            digest.candidates, 6,
            "the profile paper's day is outside the window"
        );
        let mut top = ids(&digest);
        top.sort_unstable();
        assert_eq!(
            top,
            ["arXiv:2503.10001", "arXiv:2503.10002", "arXiv:2503.10003"],
            "the three graph papers"
        );
        for entry in &digest.papers {
            assert_eq!(entry.because.reason, Reason::Added);
            assert_eq!(entry.because.item, "Graph neural networks for molecules");
            assert!(entry.because.similarity > 0.3, "{:?}", entry.because);
        }
    }

    #[test]
    fn sent_rated_and_muted_papers_are_never_chosen_and_a_boost_is_explained() {
        let mut store = testing::store();
        store
            .record_sent("ada", &["arXiv:2503.10001"], 2)
            .expect("recorded");
        store
            .add_feedback(
                "ada",
                &Feedback {
                    paper_id: "arXiv:2503.10002".to_owned(),
                    kind: FeedbackKind::Dismiss,
                    at: 2,
                },
            )
            .expect("rated");
        let mut settings = UserSettings::default();
        settings.rules.mute_categories = vec!["cs.CR".to_owned()];
        settings.rules.boost_keywords = vec!["robots".to_owned()];
        store.set_user_settings("ada", &settings).expect("set");

        let digest = digest_of(&store, false);
        let chosen = ids(&digest);
        for never in ["arXiv:2503.10001", "arXiv:2503.10002", "arXiv:2503.10003"] {
            assert!(!chosen.contains(&never), "{never} in {chosen:?}");
        }
        assert_eq!(
            digest.candidates, 3,
            "six papers less one sent, one rated, one muted"
        );
        let robots = digest
            .papers
            .iter()
            .find(|e| e.paper.id == "arXiv:2503.10006")
            .expect("the boosted paper is chosen");
        assert_eq!(robots.because.rules, ["keyword \"robots\""]);
        assert_eq!(
            chosen[0], "arXiv:2503.10006",
            "the boost lifts it to the top"
        );
    }

    #[test]
    fn a_digest_starts_after_the_newest_day_already_sent() {
        let mut store = testing::store();
        store
            .record_sent("ada", &["arXiv:2503.10001"], 2)
            .expect("recorded");
        let digest = digest_of(&store, true);
        assert_eq!(digest.from, "2025-03-19", "the 18th was sent");
        assert!(digest.papers.is_empty());
    }

    #[test]
    fn an_unknown_user_is_missing_and_an_empty_profile_the_users_to_fill() {
        let mut store = testing::store();
        let window = Window {
            day: day(),
            days: 1,
            after_last_sent: true,
        };
        let params = DigestParams::default();
        let err = build(&store, &Words::new(), "bob", window, &params, None).unwrap_err();
        assert_eq!(err.fault(), paperscout_types::Fault::Missing);
        store.add_user("bob", 1).expect("bob is added");
        let err = build(&store, &Words::new(), "bob", window, &params, None).unwrap_err();
        assert!(
            matches!(err, AppError::EmptyProfile(ref name) if name == "bob"),
            "{err}"
        );
        assert!(parse_day("18/03/2025", "--date").is_err());
    }
}
