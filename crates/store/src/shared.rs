//! Stores behind a pointer are stores too.
//!
//! - `&Mutex<S>`, for a store shared between threads, holds the lock for one call at a time,
//!   so a long job (an ingest that spends most of its time in the model) leaves the store free
//!   for other writers between its transactions.
//! - `Box<S>`, for a store whose kind is chosen at run time (`Box<dyn Store + Send>`: the
//!   SQLite file or a PostgreSQL database), calls the store in the box.
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

fn lock<S: ?Sized>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every [`Store`] method, forwarded to the store `$shared(self)` (for `&self` methods) or
/// `$exclusive(self)` (for `&mut self` ones) reaches.
macro_rules! forward_store {
    ($shared:ident, $exclusive:ident) => {
        fn classify(
            &self,
            papers: &[Paper],
            model: Option<&ModelKey>,
        ) -> Result<Vec<Classification>> {
            $shared(self).classify(papers, model)
        }

        fn write_papers(
            &mut self,
            writes: &[PaperWrite<'_>],
            model: Option<&ModelKey>,
            now: Timestamp,
        ) -> Result<WriteSummary> {
            $exclusive(self).write_papers(writes, model, now)
        }

        fn paper(&self, id: &str) -> Result<Option<StoredPaper>> {
            $shared(self).paper(id)
        }

        fn find_paper(&self, key: &str) -> Result<Option<StoredPaper>> {
            $shared(self).find_paper(key)
        }

        fn papers_announced(&self, from: &str, to: &str) -> Result<Vec<StoredPaper>> {
            $shared(self).papers_announced(from, to)
        }

        fn missing_embeddings(
            &self,
            model: &ModelKey,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<Paper>> {
            $shared(self).missing_embeddings(model, after, limit)
        }

        fn put_embeddings(&mut self, model: &ModelKey, rows: &[(&Paper, &[f32])]) -> Result<usize> {
            $exclusive(self).put_embeddings(model, rows)
        }

        fn embedding(&self, paper_id: &str, model: &ModelKey) -> Result<Option<Vec<f32>>> {
            $shared(self).embedding(paper_id, model)
        }

        fn for_each_embedding(
            &self,
            model: &ModelKey,
            visit: &mut dyn FnMut(&str, &[f32]),
        ) -> Result<usize> {
            $shared(self).for_each_embedding(model, visit)
        }

        fn stats(&self) -> Result<Stats> {
            $shared(self).stats()
        }

        fn add_user(&mut self, name: &str, now: Timestamp) -> Result<User> {
            $exclusive(self).add_user(name, now)
        }

        fn user(&self, name: &str) -> Result<Option<User>> {
            $shared(self).user(name)
        }

        fn users(&self) -> Result<Vec<User>> {
            $shared(self).users()
        }

        fn remove_user(&mut self, name: &str) -> Result<bool> {
            $exclusive(self).remove_user(name)
        }

        fn add_profile_item(&mut self, user: &str, item: &ProfileItem) -> Result<()> {
            $exclusive(self).add_profile_item(user, item)
        }

        fn profile(&self, user: &str) -> Result<Vec<ProfileItem>> {
            $shared(self).profile(user)
        }

        fn remove_profile_paper(&mut self, user: &str, paper_id: &str) -> Result<usize> {
            $exclusive(self).remove_profile_paper(user, paper_id)
        }

        fn add_feedback(&mut self, user: &str, feedback: &Feedback) -> Result<()> {
            $exclusive(self).add_feedback(user, feedback)
        }

        fn add_feedback_many(&mut self, events: &[(&str, Feedback)]) -> Result<()> {
            $exclusive(self).add_feedback_many(events)
        }

        fn feedback(&self, user: &str) -> Result<Vec<Feedback>> {
            $shared(self).feedback(user)
        }

        fn user_state(&self, name: &str) -> Result<Option<crate::records::UserState>> {
            $shared(self).user_state(name)
        }

        fn latest_feedback(
            &self,
            user: &str,
            paper_id: &str,
        ) -> Result<Option<crate::records::FeedbackKind>> {
            $shared(self).latest_feedback(user, paper_id)
        }

        fn remove_feedback(&mut self, user: &str, paper_id: &str) -> Result<usize> {
            $exclusive(self).remove_feedback(user, paper_id)
        }

        fn record_sent(&mut self, user: &str, paper_ids: &[&str], at: Timestamp) -> Result<usize> {
            $exclusive(self).record_sent(user, paper_ids, at)
        }

        fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(usize, Vec<i64>)> {
            $exclusive(self).record_delivery(delivery)
        }

        fn delivered_on(&self, user: &str, day: &str) -> Result<bool> {
            $shared(self).delivered_on(user, day)
        }

        fn last_delivery(&self, user: &str) -> Result<Option<String>> {
            $shared(self).last_delivery(user)
        }

        fn sent(&self, user: &str) -> Result<Vec<String>> {
            $shared(self).sent(user)
        }

        fn set_user_settings(&mut self, user: &str, settings: &UserSettings) -> Result<()> {
            $exclusive(self).set_user_settings(user, settings)
        }

        fn record_sent_with_mail(
            &mut self,
            user: &str,
            paper_ids: &[&str],
            at: Timestamp,
            mail: &NewMail<'_>,
        ) -> Result<(usize, i64)> {
            $exclusive(self).record_sent_with_mail(user, paper_ids, at, mail)
        }

        fn undelivered_mail(&self) -> Result<Vec<QueuedMail>> {
            $shared(self).undelivered_mail()
        }

        fn mail_delivered(&mut self, id: i64, at: Timestamp) -> Result<()> {
            $exclusive(self).mail_delivered(id, at)
        }

        fn mail_failed(&mut self, id: i64, error: &str, at: Timestamp) -> Result<()> {
            $exclusive(self).mail_failed(id, error, at)
        }

        fn set_recommendations(&mut self, users: &[(&str, &StoredRecommendations)]) -> Result<()> {
            $exclusive(self).set_recommendations(users)
        }

        fn recommendations(&self, user: &str) -> Result<Option<StoredRecommendations>> {
            $shared(self).recommendations(user)
        }
    };
}

/// The store in the box: written out so that the `Box`'s own impl is never chosen again.
#[expect(
    clippy::borrowed_box,
    reason = "the Box impl must name its own type to forward"
)]
fn unbox<S: ?Sized>(store: &Box<S>) -> &S {
    store
}

fn unbox_mut<S: ?Sized>(store: &mut Box<S>) -> &mut S {
    store
}

impl<S: Store + ?Sized> Store for &Mutex<S> {
    forward_store!(lock, lock);
}

impl<S: Store + ?Sized> Store for Box<S> {
    forward_store!(unbox, unbox_mut);
}
