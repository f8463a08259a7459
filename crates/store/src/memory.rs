//! The in-memory twin of the SQLite store, for unit tests of the crates above.
//!
//! It keeps the same promises as [`crate::SqliteStore`] (the merge rules, all-or-nothing
//! writes, current-text embeddings) and is checked against it by the same tests, but keeps
//! nothing when dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use paperscout_types::{ArxivId, Paper, UserSettings, normalise_doi};

use crate::error::{Result, StoreError};
use crate::merge::{after_write, merge};
use crate::records::{
    Change, Classification, Delivery, Feedback, ModelKey, ModelStats, NewMail, PaperWrite,
    ProfileItem, ProfileSubject, QueuedMail, Stats, StoredPaper, StoredRecommendations, Timestamp,
    User, WriteSummary, text_digest,
};
use crate::store::Store;

type Digest = [u8; 32];

/// A store that lives in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    papers: BTreeMap<String, (StoredPaper, Digest)>,
    models: Vec<ModelKey>,
    /// (paper id, index into `models`) → (digest of the embedded text, vector).
    embeddings: HashMap<(String, usize), (Digest, Vec<f32>)>,
    users: BTreeMap<String, User>,
    profiles: HashMap<i64, Vec<ProfileItem>>,
    feedback: HashMap<i64, Vec<Feedback>>,
    sent: HashMap<i64, BTreeSet<String>>,
    /// The days of each user's delivered scheduled digests.
    deliveries: HashMap<i64, BTreeSet<String>>,
    /// Queued e-mails by number, with when each was delivered.
    outbox: BTreeMap<i64, (QueuedMail, Option<Timestamp>)>,
    recommendations: HashMap<i64, StoredRecommendations>,
    next_user_id: i64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn model_index(&self, model: &ModelKey) -> Option<usize> {
        self.models
            .iter()
            .position(|known| known.name == model.name && known.sha256 == model.sha256)
    }

    fn register_model(&mut self, model: &ModelKey) -> usize {
        self.model_index(model).unwrap_or_else(|| {
            self.models.push(model.clone());
            self.models.len() - 1
        })
    }

    fn has_current_embedding(&self, paper_id: &str, model: Option<usize>, digest: &Digest) -> bool {
        model.is_some_and(|model| {
            self.embeddings
                .get(&(paper_id.to_owned(), model))
                .is_some_and(|(embedded, _)| embedded == digest)
        })
    }

    fn user_id(&self, name: &str) -> Result<i64> {
        self.users
            .get(name)
            .map(|user| user.id)
            .ok_or_else(|| StoreError::NoSuchUser(name.to_owned()))
    }

    /// Puts a message in the outbox; returns its number.
    fn queue(&mut self, user: &str, mail: &NewMail<'_>, at: Timestamp) -> i64 {
        let id = self.outbox.keys().next_back().map_or(1, |last| last + 1);
        let queued = QueuedMail {
            id,
            channel: mail.channel,
            user: user.to_owned(),
            day: mail.day.to_owned(),
            recipient: mail.recipient.to_owned(),
            message: mail.message.to_vec(),
            queued: at,
            attempts: 0,
            last_error: None,
            last_attempt: None,
        };
        self.outbox.insert(id, (queued, None));
        id
    }

    fn require_paper(&self, id: &str) -> Result<()> {
        if self.papers.contains_key(id) {
            Ok(())
        } else {
            Err(StoreError::NoSuchPaper(id.to_owned()))
        }
    }
}

impl Store for MemoryStore {
    fn classify(&self, papers: &[Paper], model: Option<&ModelKey>) -> Result<Vec<Classification>> {
        let model_index = model.and_then(|model| self.model_index(model));
        Ok(papers
            .iter()
            .map(|incoming| {
                let stored = self.papers.get(&incoming.id);
                let (change, merged) = merge(stored.map(|(s, _)| &s.paper), incoming);
                let after = after_write(change, merged.as_ref(), stored.map(|(s, _)| &s.paper));
                let needs_embedding = model.is_some()
                    && after.is_some_and(|paper| {
                        !self.has_current_embedding(&paper.id, model_index, &text_digest(paper))
                    });
                Classification {
                    change,
                    needs_embedding,
                }
            })
            .collect())
    }

    fn write_papers(
        &mut self,
        writes: &[PaperWrite<'_>],
        model: Option<&ModelKey>,
        now: Timestamp,
    ) -> Result<WriteSummary> {
        // Check everything that can fail before changing anything: all or nothing.
        if let Some(model) = model {
            for write in writes {
                if let Some(vector) = write.embedding {
                    model.check(&write.paper.id, vector)?;
                }
            }
        }
        let model_index = model.map(|model| self.register_model(model));
        let mut summary = WriteSummary::default();
        for write in writes {
            let incoming = write.paper;
            let stored = self.papers.get(&incoming.id);
            let (change, merged) = merge(stored.map(|(s, _)| &s.paper), incoming);
            summary.count(change);
            if let Some(merged) = merged {
                let first_seen = stored.map_or(now, |(s, _)| s.first_seen);
                let digest = text_digest(&merged);
                let entry = StoredPaper {
                    paper: merged,
                    source: write.source.to_owned(),
                    first_seen,
                    updated: now,
                };
                self.papers.insert(incoming.id.clone(), (entry, digest));
            }
            if let (Some(vector), Some(model_index)) = (write.embedding, model_index)
                && change != Change::Older
            {
                self.embeddings.insert(
                    (incoming.id.clone(), model_index),
                    (text_digest(incoming), vector.to_vec()),
                );
                summary.embedded += 1;
            }
        }
        Ok(summary)
    }

    fn paper(&self, id: &str) -> Result<Option<StoredPaper>> {
        Ok(self.papers.get(id).map(|(paper, _)| paper.clone()))
    }

    fn find_paper(&self, key: &str) -> Result<Option<StoredPaper>> {
        if let Some(found) = self.paper(key.trim())? {
            return Ok(Some(found));
        }
        let matches = |paper: &Paper| {
            if let Some(id) = ArxivId::parse(key) {
                paper.arxiv_id.as_deref() == Some(id.base.as_str())
            } else {
                normalise_doi(key).is_some_and(|doi| paper.doi.as_deref() == Some(doi.as_str()))
            }
        };
        Ok(self
            .papers
            .values()
            .find(|(stored, _)| matches(&stored.paper))
            .map(|(stored, _)| stored.clone()))
    }

    fn papers_announced(&self, from: &str, to: &str) -> Result<Vec<StoredPaper>> {
        let mut found: Vec<StoredPaper> = self
            .papers
            .values()
            .filter(|(stored, _)| {
                stored
                    .paper
                    .date
                    .as_deref()
                    .is_some_and(|date| from <= date && date <= to)
            })
            .map(|(stored, _)| stored.clone())
            .collect();
        found.sort_by(|a, b| (&a.paper.date, &a.paper.id).cmp(&(&b.paper.date, &b.paper.id)));
        Ok(found)
    }

    fn missing_embeddings(
        &self,
        model: &ModelKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Paper>> {
        let model_index = self.model_index(model);
        Ok(self
            .papers
            .iter()
            .filter(|(id, _)| after.is_none_or(|after| id.as_str() > after))
            .filter(|(id, (_, digest))| !self.has_current_embedding(id, model_index, digest))
            .take(limit)
            .map(|(_, (stored, _))| stored.paper.clone())
            .collect())
    }

    fn put_embeddings(&mut self, model: &ModelKey, rows: &[(&Paper, &[f32])]) -> Result<usize> {
        for (paper, vector) in rows {
            model.check(&paper.id, vector)?;
            self.require_paper(&paper.id)?;
        }
        let model_index = self.register_model(model);
        for (paper, vector) in rows {
            self.embeddings.insert(
                (paper.id.clone(), model_index),
                (text_digest(paper), vector.to_vec()),
            );
        }
        Ok(rows.len())
    }

    fn embedding(&self, paper_id: &str, model: &ModelKey) -> Result<Option<Vec<f32>>> {
        let (Some(model_index), Some((_, digest))) =
            (self.model_index(model), self.papers.get(paper_id))
        else {
            return Ok(None);
        };
        Ok(self
            .embeddings
            .get(&(paper_id.to_owned(), model_index))
            .filter(|(embedded, _)| embedded == digest)
            .map(|(_, vector)| vector.clone()))
    }

    fn for_each_embedding(
        &self,
        model: &ModelKey,
        visit: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<usize> {
        let Some(model_index) = self.model_index(model) else {
            return Ok(0);
        };
        let mut count = 0;
        for (id, (_, digest)) in &self.papers {
            if let Some((embedded, vector)) = self.embeddings.get(&(id.clone(), model_index))
                && embedded == digest
            {
                visit(id, vector);
                count += 1;
            }
        }
        Ok(count)
    }

    fn stats(&self) -> Result<Stats> {
        let dates = self
            .papers
            .values()
            .filter_map(|(stored, _)| stored.paper.date.clone());
        let first_date = dates.clone().min();
        let last_date = dates.max();
        let mut models: Vec<ModelStats> = self
            .models
            .iter()
            .enumerate()
            .map(|(index, model)| ModelStats {
                name: model.name.clone(),
                sha256: model.sha256.clone(),
                dim: model.dim,
                count: self
                    .papers
                    .iter()
                    .filter(|(id, (_, digest))| self.has_current_embedding(id, Some(index), digest))
                    .count() as u64,
            })
            .collect();
        models.sort_by(|a, b| (&a.name, &a.sha256).cmp(&(&b.name, &b.sha256)));
        Ok(Stats {
            papers: self.papers.len() as u64,
            embeddings: models.iter().map(|model| model.count).sum(),
            models,
            users: self.users.len() as u64,
            first_date,
            last_date,
            file_bytes: None,
        })
    }

    fn add_user(&mut self, name: &str, now: Timestamp) -> Result<User> {
        paperscout_types::check_user_name(name)?;
        if self.users.contains_key(name) {
            return Err(StoreError::UserExists(name.to_owned()));
        }
        self.next_user_id += 1;
        let user = User {
            id: self.next_user_id,
            name: name.to_owned(),
            created: now,
            settings: UserSettings::default(),
        };
        self.users.insert(name.to_owned(), user.clone());
        Ok(user)
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        Ok(self.users.get(name).cloned())
    }

    fn users(&self) -> Result<Vec<User>> {
        Ok(self.users.values().cloned().collect())
    }

    fn remove_user(&mut self, name: &str) -> Result<bool> {
        let Some(user) = self.users.remove(name) else {
            return Ok(false);
        };
        self.profiles.remove(&user.id);
        self.feedback.remove(&user.id);
        self.sent.remove(&user.id);
        self.deliveries.remove(&user.id);
        self.outbox.retain(|_, (mail, _)| mail.user != name);
        self.recommendations.remove(&user.id);
        Ok(true)
    }

    fn add_profile_item(&mut self, user: &str, item: &ProfileItem) -> Result<()> {
        let user_id = self.user_id(user)?;
        if let ProfileSubject::Paper(id) = &item.subject {
            self.require_paper(id)?;
        }
        let items = self.profiles.entry(user_id).or_default();
        // Oldest first, and in insertion order among equal times, as SQLite returns them.
        let at = items.partition_point(|existing| existing.added <= item.added);
        items.insert(at, item.clone());
        Ok(())
    }

    fn profile(&self, user: &str) -> Result<Vec<ProfileItem>> {
        let user_id = self.user_id(user)?;
        Ok(self.profiles.get(&user_id).cloned().unwrap_or_default())
    }

    fn add_feedback(&mut self, user: &str, feedback: &Feedback) -> Result<()> {
        let user_id = self.user_id(user)?;
        self.require_paper(&feedback.paper_id)?;
        let events = self.feedback.entry(user_id).or_default();
        let at = events.partition_point(|existing| existing.at <= feedback.at);
        events.insert(at, feedback.clone());
        Ok(())
    }

    fn add_feedback_many(&mut self, events: &[(&str, Feedback)]) -> Result<()> {
        for (user, feedback) in events {
            self.user_id(user)?;
            self.require_paper(&feedback.paper_id)?;
        }
        for (user, feedback) in events {
            self.add_feedback(user, feedback)?;
        }
        Ok(())
    }

    fn feedback(&self, user: &str) -> Result<Vec<Feedback>> {
        let user_id = self.user_id(user)?;
        Ok(self.feedback.get(&user_id).cloned().unwrap_or_default())
    }

    fn latest_feedback(
        &self,
        user: &str,
        paper_id: &str,
    ) -> Result<Option<crate::records::FeedbackKind>> {
        let user_id = self.user_id(user)?;
        Ok(self.feedback.get(&user_id).and_then(|events| {
            events
                .iter()
                .rev()
                .find(|event| event.paper_id == paper_id)
                .map(|event| event.kind)
        }))
    }

    fn remove_profile_paper(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        let user_id = self.user_id(user)?;
        let items = self.profiles.entry(user_id).or_default();
        let before = items.len();
        items.retain(|item| item.subject != ProfileSubject::Paper(paper_id.to_owned()));
        Ok(before - items.len())
    }

    fn remove_feedback(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        let user_id = self.user_id(user)?;
        let events = self.feedback.entry(user_id).or_default();
        let before = events.len();
        events.retain(|event| event.paper_id != paper_id);
        Ok(before - events.len())
    }

    fn record_sent(&mut self, user: &str, paper_ids: &[&str], _at: Timestamp) -> Result<usize> {
        let user_id = self.user_id(user)?;
        for paper_id in paper_ids {
            self.require_paper(paper_id)?;
        }
        let sent = self.sent.entry(user_id).or_default();
        Ok(paper_ids
            .iter()
            .filter(|paper_id| sent.insert((**paper_id).to_owned()))
            .count())
    }

    fn sent(&self, user: &str) -> Result<Vec<String>> {
        let user_id = self.user_id(user)?;
        Ok(self
            .sent
            .get(&user_id)
            .map(|sent| sent.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(usize, Vec<i64>)> {
        let user_id = self.user_id(delivery.user)?;
        if self.delivered_on(delivery.user, delivery.day)? {
            return Err(StoreError::AlreadyDelivered {
                user: delivery.user.to_owned(),
                day: delivery.day.to_owned(),
            });
        }
        // Checked before anything changes, so that a failure changes nothing.
        for paper_id in delivery.paper_ids {
            self.require_paper(paper_id)?;
        }
        let recorded = self.record_sent(delivery.user, delivery.paper_ids, delivery.at)?;
        let mail = delivery
            .messages
            .iter()
            .map(|mail| self.queue(delivery.user, mail, delivery.at))
            .collect();
        self.deliveries
            .entry(user_id)
            .or_default()
            .insert(delivery.day.to_owned());
        Ok((recorded, mail))
    }

    fn last_delivery(&self, user: &str) -> Result<Option<String>> {
        let user_id = self.user_id(user)?;
        Ok(self
            .deliveries
            .get(&user_id)
            .and_then(|days| days.last().cloned()))
    }

    fn delivered_on(&self, user: &str, day: &str) -> Result<bool> {
        let user_id = self.user_id(user)?;
        Ok(self
            .deliveries
            .get(&user_id)
            .is_some_and(|days| days.contains(day)))
    }

    fn set_user_settings(&mut self, user: &str, settings: &UserSettings) -> Result<()> {
        let stored = self
            .users
            .get_mut(user)
            .ok_or_else(|| StoreError::NoSuchUser(user.to_owned()))?;
        stored.settings = settings.clone();
        Ok(())
    }

    fn record_sent_with_mail(
        &mut self,
        user: &str,
        paper_ids: &[&str],
        at: Timestamp,
        mail: &NewMail<'_>,
    ) -> Result<(usize, i64)> {
        let recorded = self.record_sent(user, paper_ids, at)?;
        Ok((recorded, self.queue(user, mail, at)))
    }

    fn undelivered_mail(&self) -> Result<Vec<QueuedMail>> {
        let mut mail: Vec<QueuedMail> = self
            .outbox
            .values()
            .filter(|(_, delivered)| delivered.is_none())
            .map(|(mail, _)| mail.clone())
            .collect();
        mail.sort_by_key(|m| (m.queued, m.id));
        Ok(mail)
    }

    fn mail_delivered(&mut self, id: i64, at: Timestamp) -> Result<()> {
        if let Some((mail, delivered)) = self.outbox.get_mut(&id) {
            mail.attempts += 1;
            mail.last_error = None;
            *delivered = Some(at);
        }
        Ok(())
    }

    fn mail_failed(&mut self, id: i64, error: &str, at: Timestamp) -> Result<()> {
        if let Some((mail, _)) = self.outbox.get_mut(&id) {
            mail.attempts += 1;
            mail.last_error = Some(error.to_owned());
            mail.last_attempt = Some(at);
        }
        Ok(())
    }

    fn set_recommendations(&mut self, users: &[(&str, &StoredRecommendations)]) -> Result<()> {
        // Checked whole before anything changes: all or nothing.
        let mut ids = Vec::with_capacity(users.len());
        for (user, stored) in users {
            ids.push(self.user_id(user)?);
            for paper in &stored.papers {
                self.require_paper(&paper.paper_id)?;
            }
        }
        for (id, (_, stored)) in ids.into_iter().zip(users) {
            self.recommendations.insert(id, (*stored).clone());
        }
        Ok(())
    }

    fn recommendations(&self, user: &str) -> Result<Option<StoredRecommendations>> {
        let id = self.user_id(user)?;
        Ok(self.recommendations.get(&id).cloned())
    }
}
