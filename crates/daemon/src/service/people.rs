//! `feedback` and `user`: ratings, profiles and settings, through the same changes the
//! command line makes.

use paperscout_app::users;
use paperscout_proto::{
    Added, FeedbackAnswer, FeedbackRequest, Removed, Revoked, SettingsSet, UserAction, UserAnswer,
    UserRequest,
};
use std::sync::{Arc, Mutex};

use paperscout_store::{Feedback, Store, StoreError, StoredPaper};

use super::{QueuedRating, Service, app, lock};
use crate::error::{DaemonError, Result};

impl Service {
    /// `feedback`: every paper named must be stored (checked before anything is written).
    ///
    /// Ratings arriving together are written together (group commit): each request joins the
    /// queue, and whoever takes the store's writer next writes every queued rating in one
    /// transaction (one sync of the disk) and answers each request; a request answered while it
    /// waited returns at once. A bad request fails alone.
    pub fn feedback(&self, request: &FeedbackRequest) -> Result<FeedbackAnswer> {
        let mine = Arc::new(QueuedRating {
            request: request.clone(),
            answer: Mutex::new(None),
        });
        lock(&self.ratings).push(Arc::clone(&mine));
        let mut writer = lock(&self.writer);
        if let Some(answer) = lock(&mine.answer).take() {
            return answer;
        }
        let batch = std::mem::take(&mut *lock(&self.ratings));
        let now = paperscout_store::now();
        let mut plans = Vec::with_capacity(batch.len());
        let mut events: Vec<(String, Feedback)> = Vec::new();
        for queued in &batch {
            let asked = &queued.request;
            match users::plan_feedback(&*writer, &asked.user, asked.kind, &asked.papers, now) {
                Ok((papers, ratings)) => {
                    for rating in ratings {
                        // The same rating twice in one batch (a double click) is one.
                        let again = events.iter().rev().find(|(user, earlier)| {
                            *user == asked.user && earlier.paper_id == rating.paper_id
                        });
                        if again.is_none_or(|(_, earlier)| earlier.kind != rating.kind) {
                            events.push((asked.user.clone(), rating));
                        }
                    }
                    plans.push(Ok(papers));
                }
                Err(err) => plans.push(Err(err)),
            }
        }
        let refs: Vec<(&str, Feedback)> = events
            .iter()
            .map(|(user, rating)| (user.as_str(), rating.clone()))
            .collect();
        let written = writer
            .add_feedback_many(&refs)
            .map_err(|err| err.to_string());
        for (queued, plan) in batch.iter().zip(plans) {
            let answer = match (&written, plan) {
                (_, Err(err)) => Err(err.into()),
                (Err(message), Ok(_)) => Err(DaemonError::io(
                    "the store could not record the ratings",
                    std::io::Error::other(message.clone()),
                )),
                (Ok(()), Ok(papers)) => Ok(FeedbackAnswer {
                    user: queued.request.user.clone(),
                    kind: queued.request.kind,
                    papers: papers.into_iter().map(|p| p.paper.id).collect(),
                }),
            };
            *lock(&queued.answer) = Some(answer);
        }
        drop(writer);
        lock(&mine.answer).take().unwrap_or_else(|| {
            Err(DaemonError::Bug(
                "a queued rating went unanswered".to_owned(),
            ))
        })
    }

    /// Forgets the user's ratings of a paper (the web page's undo). Returns the paper and how
    /// many ratings were forgotten.
    pub fn undo_feedback(&self, user: &str, paper: &str) -> Result<(StoredPaper, usize)> {
        let mut writer = lock(&self.writer);
        Ok(users::undo_feedback(&mut *writer, user, paper)?)
    }

    /// Adds a BibTeX library's entries to a profile (the web page's upload): matched to stored
    /// papers by arXiv id or DOI, the rest kept as external papers.
    pub fn add_library(
        &self,
        user: &str,
        name: &str,
        text: &str,
    ) -> Result<paperscout_app::library::LibraryAdded> {
        let mut writer = lock(&self.writer);
        if writer.user(user)?.is_none() {
            return Err(StoreError::NoSuchUser(user.to_owned()).into());
        }
        Ok(paperscout_app::library::add_library(
            &mut *writer,
            user,
            name,
            text,
            paperscout_store::now(),
        )?)
    }

    /// Runs `read` on one of the store's readers: for a front door (the web page) whose pages
    /// show more than one operation answers.
    pub fn read_store<T>(&self, read: impl FnOnce(&dyn Store) -> Result<T>) -> Result<T> {
        self.readers.with(|store| read(store))
    }

    /// `user`: add, list, show, remove, set, revoke_links.
    pub fn user(&self, request: &UserRequest) -> Result<UserAnswer> {
        let name = || {
            request.name.as_deref().ok_or_else(|| {
                DaemonError::BadRequest("this user action needs a \"name\"".to_owned())
            })
        };
        match request.action {
            UserAction::List => {
                let users = self.readers.with(|store| Ok(store.users()?))?;
                Ok(UserAnswer::List(users))
            }
            UserAction::Show => {
                let name = name()?;
                let shown = self
                    .readers
                    .with(|store| users::show(store, name).map_err(app))?;
                Ok(UserAnswer::Show(Box::new(shown)))
            }
            UserAction::Remove => {
                let name = name()?;
                let mut writer = lock(&self.writer);
                if !writer.remove_user(name)? {
                    return Err(StoreError::NoSuchUser(name.to_owned()).into());
                }
                Ok(UserAnswer::Removed(Removed {
                    removed: name.to_owned(),
                }))
            }
            UserAction::Set => {
                let name = name()?;
                let mut writer = lock(&self.writer);
                let settings = users::change_settings(&mut *writer, name, &request.settings)?;
                Ok(UserAnswer::Set(SettingsSet {
                    user: name.to_owned(),
                    settings,
                }))
            }
            UserAction::RevokeLinks => {
                let name = name()?;
                let mut writer = lock(&self.writer);
                let links_epoch = users::revoke_links(&mut *writer, name)?;
                Ok(UserAnswer::Revoked(Revoked {
                    revoked: name.to_owned(),
                    links_epoch,
                }))
            }
            UserAction::Add => {
                let name = name()?;
                let now = paperscout_store::now();
                let mut writer = lock(&self.writer);
                let additions = users::Additions {
                    papers: &request.papers,
                    interests: &request.interests,
                    library: None,
                };
                let done = users::add_to_profile(&mut *writer, name, &additions, now)?;
                Ok(UserAnswer::Added(Added {
                    user: name.to_owned(),
                    created: done.created,
                    added: done.added,
                    unknown: done.unknown,
                }))
            }
        }
    }
}
