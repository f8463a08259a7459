//! A store shared between threads: `&Mutex<S>` is itself a [`Store`] that holds the lock for
//! one call at a time, so a long job (an ingest that spends most of its time in the model)
//! leaves the store free for other writers between its transactions.
//!
//! A poisoned lock is taken anyway: every write is one transaction, which a panic rolls back,
//! so the store behind it is consistent.

use std::sync::{Mutex, MutexGuard, PoisonError};

use paperscout_types::{Paper, UserSettings};

use crate::error::Result;
use crate::records::{
    Classification, Delivery, Feedback, ModelKey, NewMail, PaperWrite, ProfileItem, QueuedMail,
    Stats, StoredPaper, StoredRecommendations, Timestamp, User, WriteSummary,
};
use crate::store::Store;

fn lock<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Store> Store for &Mutex<S> {
    fn classify(&self, papers: &[Paper], model: Option<&ModelKey>) -> Result<Vec<Classification>> {
        lock(self).classify(papers, model)
    }

    fn write_papers(
        &mut self,
        writes: &[PaperWrite<'_>],
        model: Option<&ModelKey>,
        now: Timestamp,
    ) -> Result<WriteSummary> {
        lock(self).write_papers(writes, model, now)
    }

    fn paper(&self, id: &str) -> Result<Option<StoredPaper>> {
        lock(self).paper(id)
    }

    fn find_paper(&self, key: &str) -> Result<Option<StoredPaper>> {
        lock(self).find_paper(key)
    }

    fn papers_announced(&self, from: &str, to: &str) -> Result<Vec<StoredPaper>> {
        lock(self).papers_announced(from, to)
    }

    fn missing_embeddings(
        &self,
        model: &ModelKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Paper>> {
        lock(self).missing_embeddings(model, after, limit)
    }

    fn put_embeddings(&mut self, model: &ModelKey, rows: &[(&Paper, &[f32])]) -> Result<usize> {
        lock(self).put_embeddings(model, rows)
    }

    fn embedding(&self, paper_id: &str, model: &ModelKey) -> Result<Option<Vec<f32>>> {
        lock(self).embedding(paper_id, model)
    }

    fn for_each_embedding(
        &self,
        model: &ModelKey,
        visit: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<usize> {
        lock(self).for_each_embedding(model, visit)
    }

    fn stats(&self) -> Result<Stats> {
        lock(self).stats()
    }

    fn add_user(&mut self, name: &str, now: Timestamp) -> Result<User> {
        lock(self).add_user(name, now)
    }

    fn user(&self, name: &str) -> Result<Option<User>> {
        lock(self).user(name)
    }

    fn users(&self) -> Result<Vec<User>> {
        lock(self).users()
    }

    fn remove_user(&mut self, name: &str) -> Result<bool> {
        lock(self).remove_user(name)
    }

    fn add_profile_item(&mut self, user: &str, item: &ProfileItem) -> Result<()> {
        lock(self).add_profile_item(user, item)
    }

    fn profile(&self, user: &str) -> Result<Vec<ProfileItem>> {
        lock(self).profile(user)
    }

    fn remove_profile_paper(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        lock(self).remove_profile_paper(user, paper_id)
    }

    fn add_feedback(&mut self, user: &str, feedback: &Feedback) -> Result<()> {
        lock(self).add_feedback(user, feedback)
    }

    fn add_feedback_many(&mut self, events: &[(&str, Feedback)]) -> Result<()> {
        lock(self).add_feedback_many(events)
    }

    fn feedback(&self, user: &str) -> Result<Vec<Feedback>> {
        lock(self).feedback(user)
    }

    fn latest_feedback(
        &self,
        user: &str,
        paper_id: &str,
    ) -> Result<Option<crate::records::FeedbackKind>> {
        lock(self).latest_feedback(user, paper_id)
    }

    fn remove_feedback(&mut self, user: &str, paper_id: &str) -> Result<usize> {
        lock(self).remove_feedback(user, paper_id)
    }

    fn record_sent(&mut self, user: &str, paper_ids: &[&str], at: Timestamp) -> Result<usize> {
        lock(self).record_sent(user, paper_ids, at)
    }

    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(usize, Vec<i64>)> {
        lock(self).record_delivery(delivery)
    }

    fn delivered_on(&self, user: &str, day: &str) -> Result<bool> {
        lock(self).delivered_on(user, day)
    }

    fn last_delivery(&self, user: &str) -> Result<Option<String>> {
        lock(self).last_delivery(user)
    }

    fn sent(&self, user: &str) -> Result<Vec<String>> {
        lock(self).sent(user)
    }

    fn set_user_settings(&mut self, user: &str, settings: &UserSettings) -> Result<()> {
        lock(self).set_user_settings(user, settings)
    }

    fn record_sent_with_mail(
        &mut self,
        user: &str,
        paper_ids: &[&str],
        at: Timestamp,
        mail: &NewMail<'_>,
    ) -> Result<(usize, i64)> {
        lock(self).record_sent_with_mail(user, paper_ids, at, mail)
    }

    fn undelivered_mail(&self) -> Result<Vec<QueuedMail>> {
        lock(self).undelivered_mail()
    }

    fn mail_delivered(&mut self, id: i64, at: Timestamp) -> Result<()> {
        lock(self).mail_delivered(id, at)
    }

    fn mail_failed(&mut self, id: i64, error: &str, at: Timestamp) -> Result<()> {
        lock(self).mail_failed(id, error, at)
    }

    fn set_recommendations(&mut self, users: &[(&str, &StoredRecommendations)]) -> Result<()> {
        lock(self).set_recommendations(users)
    }

    fn recommendations(&self, user: &str) -> Result<Option<StoredRecommendations>> {
        lock(self).recommendations(user)
    }
}
