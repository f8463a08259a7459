//! The [`Store`] trait: everything paperscout asks of its storage, in one place, so the SQLite
//! store and its in-memory twin can be swapped and tested against the same expectations.

use paperscout_types::{Paper, UserSettings};

use crate::error::Result;
use crate::records::{
    Classification, Delivery, Feedback, ModelKey, NewMail, PaperWrite, ProfileItem, QueuedMail,
    Stats, StoredPaper, StoredRecommendations, Timestamp, User, UserState, WriteSummary,
};

/// Papers, embeddings, users, profiles, feedback and sent digests.
///
/// Writes that take a slice are all-or-nothing: after an error or a crash, either every item
/// of the call is stored or none is.
pub trait Store {
    /// What writing each paper would change, and whether it would then lack an embedding of its
    /// current text under `model` (never for [`crate::Change::Older`] records). Reads only.
    fn classify(&self, papers: &[Paper], model: Option<&ModelKey>) -> Result<Vec<Classification>>;

    /// Merges each paper into the store (see [`crate::merge()`]) and stores the embeddings given,
    /// under `model`, in one transaction. An embedding must be of the paper's
    /// [`Paper::embedding_text`]; it is ignored for records older than the stored version.
    fn write_papers(
        &mut self,
        writes: &[PaperWrite<'_>],
        model: Option<&ModelKey>,
        now: Timestamp,
    ) -> Result<WriteSummary>;

    /// The paper with this paperscout id (`arXiv:2503.11677`, `doi:10.1000/x`).
    fn paper(&self, id: &str) -> Result<Option<StoredPaper>>;

    /// A paper by paperscout id, arXiv id in any spelling, or DOI.
    fn find_paper(&self, key: &str) -> Result<Option<StoredPaper>>;

    /// Papers announced between two days (`YYYY-MM-DD`, both included), by date then id.
    fn papers_announced(&self, from: &str, to: &str) -> Result<Vec<StoredPaper>>;

    /// Up to `limit` papers, in id order after `after`, that lack an embedding of their current
    /// text under `model`: the work list of `paperscout embed --missing`.
    fn missing_embeddings(
        &self,
        model: &ModelKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Paper>>;

    /// Stores embeddings under `model`, each computed from the paper's text as given, in one
    /// transaction. Returns how many were stored.
    fn put_embeddings(&mut self, model: &ModelKey, rows: &[(&Paper, &[f32])]) -> Result<usize>;

    /// A paper's embedding under `model`, if it is of the paper's current text.
    fn embedding(&self, paper_id: &str, model: &ModelKey) -> Result<Option<Vec<f32>>>;

    /// Calls `visit` with every current embedding under `model`; returns how many there were.
    fn for_each_embedding(
        &self,
        model: &ModelKey,
        visit: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<usize>;

    /// What the store holds.
    fn stats(&self) -> Result<Stats>;

    /// Creates a user.
    fn add_user(&mut self, name: &str, now: Timestamp) -> Result<User>;

    /// A user by name.
    fn user(&self, name: &str) -> Result<Option<User>>;

    /// Every user, by name.
    fn users(&self) -> Result<Vec<User>>;

    /// A user with their profile, ratings and papers sent, as the four reads would give them
    /// (`None` for no such user); a store that can reads them in one go.
    fn user_state(&self, name: &str) -> Result<Option<UserState>> {
        let Some(user) = self.user(name)? else {
            return Ok(None);
        };
        Ok(Some(UserState {
            profile: self.profile(name)?,
            feedback: self.feedback(name)?,
            sent: self.sent(name)?,
            user,
        }))
    }

    /// Removes a user with their profile, feedback and digest history. False if there was none.
    fn remove_user(&mut self, name: &str) -> Result<bool>;

    /// Adds an item to a user's profile; a paper item must name a stored paper.
    fn add_profile_item(&mut self, user: &str, item: &ProfileItem) -> Result<()>;

    /// A user's profile items, oldest first.
    fn profile(&self, user: &str) -> Result<Vec<ProfileItem>>;

    /// Takes a paper out of a user's profile (every item naming it); returns how many items
    /// went.
    fn remove_profile_paper(&mut self, user: &str, paper_id: &str) -> Result<usize>;

    /// Records a user's reaction to a stored paper.
    fn add_feedback(&mut self, user: &str, feedback: &Feedback) -> Result<()>;

    /// Records several users' reactions in one transaction: all of them, or none when a user
    /// or a paper is unknown (group commit of concurrent ratings).
    fn add_feedback_many(&mut self, events: &[(&str, Feedback)]) -> Result<()>;

    /// A user's feedback, oldest first.
    fn feedback(&self, user: &str) -> Result<Vec<Feedback>>;

    /// The kind of the user's latest rating of a paper, if they rated it.
    fn latest_feedback(
        &self,
        user: &str,
        paper_id: &str,
    ) -> Result<Option<crate::records::FeedbackKind>>;

    /// Forgets every rating the user gave a paper (an undo); returns how many there were.
    fn remove_feedback(&mut self, user: &str, paper_id: &str) -> Result<usize>;

    /// Records papers as sent to a user, in one transaction. Papers already sent are left as
    /// they were; returns how many were newly recorded.
    fn record_sent(&mut self, user: &str, paper_ids: &[&str], at: Timestamp) -> Result<usize>;

    /// The ids of every paper ever sent to a user, sorted.
    fn sent(&self, user: &str) -> Result<Vec<String>>;

    /// Replaces a user's settings (e-mail address, rules).
    fn set_user_settings(&mut self, user: &str, settings: &UserSettings) -> Result<()>;

    /// [`Store::record_sent`] and queues the digest's e-mail, in one transaction: after a
    /// crash either both happened or neither. Returns how many papers were newly recorded and
    /// the mail's number in the outbox.
    fn record_sent_with_mail(
        &mut self,
        user: &str,
        paper_ids: &[&str],
        at: Timestamp,
        mail: &NewMail<'_>,
    ) -> Result<(usize, i64)>;

    /// Records a scheduled digest as delivered, in one transaction: the user's digest of its
    /// day is done, its papers are sent, its e-mail (if any) is queued. Fails with
    /// [`crate::StoreError::AlreadyDelivered`], changing nothing, when that day is done already,
    /// so that no crash or second daemon sends a user two digests of one day. Returns how many
    /// papers were newly recorded and the mail's number in the outbox.
    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(usize, Vec<i64>)>;

    /// Whether the user's scheduled digest of `day` (`YYYY-MM-DD`) is recorded as delivered.
    fn delivered_on(&self, user: &str, day: &str) -> Result<bool>;

    /// The day of the user's latest scheduled digest recorded as delivered.
    fn last_delivery(&self, user: &str) -> Result<Option<String>>;

    /// Every queued message (e-mail, webhook post) not delivered yet, oldest first.
    fn undelivered_mail(&self) -> Result<Vec<QueuedMail>>;

    /// Marks a queued message delivered.
    fn mail_delivered(&mut self, id: i64, at: Timestamp) -> Result<()>;

    /// Records a failed delivery attempt made at `at`; the message stays queued.
    fn mail_failed(&mut self, id: i64, error: &str, at: Timestamp) -> Result<()>;

    /// Replaces each given user's stored recommendations, all in one transaction; every paper
    /// must be stored.
    fn set_recommendations(&mut self, users: &[(&str, &StoredRecommendations)]) -> Result<()>;

    /// A user's stored recommendations, if a re-rank stored any.
    fn recommendations(&self, user: &str) -> Result<Option<StoredRecommendations>>;
}
