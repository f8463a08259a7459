//! `feedback` and `user`: ratings, profiles and settings, through the same changes the
//! command line makes.

use paperscout_app::users;
use paperscout_proto::{
    Added, FeedbackAnswer, FeedbackRequest, Removed, Revoked, SettingsSet, UndoAnswer, UndoRequest,
    UserAction, UserAnswer, UserRequest,
};

use paperscout_store::{Store, StoreError};

use super::{Service, app, lock};
use crate::error::{DaemonError, Result};

fn rating_lost() -> DaemonError {
    DaemonError::Bug("a queued rating went unanswered".to_owned())
}

impl Service {
    /// `feedback`: every paper named must be stored (checked before anything is written).
    /// Ratings arriving together are written together, by the rating writer's thread (see
    /// `ratings`); a bad request fails alone.
    pub fn feedback(&self, request: &FeedbackRequest) -> Result<FeedbackAnswer> {
        self.ratings
            .submit(request.clone())
            .blocking_recv()
            .unwrap_or_else(|_| Err(rating_lost()))
    }

    /// [`Service::feedback`] for an async caller: it waits for the answer without holding a
    /// thread.
    pub async fn feedback_async(&self, request: FeedbackRequest) -> Result<FeedbackAnswer> {
        self.ratings
            .submit(request)
            .await
            .unwrap_or_else(|_| Err(rating_lost()))
    }

    /// `undo`: forgets the user's ratings of papers (also the web page's undo). Every paper
    /// named must be stored, or nothing is forgotten.
    pub fn undo(&self, request: &UndoRequest) -> Result<UndoAnswer> {
        let mut writer = lock(&self.writer);
        let undone = users::undo_feedback(&mut *writer, &request.user, &request.papers)?;
        Ok(UndoAnswer::new(&request.user, undone))
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

    /// Keeps every followed library in step with its file (see
    /// [`paperscout_app::library::sync_follows`]): a user at a time, under the writer, only
    /// files that changed read. What changed is logged; a file that cannot be read is logged
    /// once, and tried again each round.
    pub fn sync_libraries(&self) -> Result<()> {
        let users = self.readers.with(|store| Ok(store.users()?))?;
        for user in users.iter().filter(|u| !u.settings.follows.is_empty()) {
            let name = &user.name;
            let changes = {
                let mut writer = lock(&self.writer);
                paperscout_app::library::sync_follows(&mut *writer, name, paperscout_store::now())?
            };
            let mut unreadable = lock(&self.unreadable_libraries);
            for (path, outcome) in changes {
                let key = format!("{name}\n{path}");
                match outcome {
                    Ok(synced) => {
                        unreadable.remove(&key);
                        tracing::info!(
                            user = %name,
                            library = %path,
                            added = synced.added.len(),
                            removed = synced.removed.len(),
                            skipped = synced.skipped.len(),
                            "a followed library changed"
                        );
                    }
                    Err(err) if unreadable.insert(key) => tracing::warn!(
                        "{name} follows {path}, which cannot be read ({err}); tried again every few seconds"
                    ),
                    Err(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Runs `read` on one of the store's readers: for a front door (the web page) whose pages
    /// show more than one operation answers.
    pub fn read_store<T>(&self, read: impl FnOnce(&dyn Store) -> Result<T>) -> Result<T> {
        self.readers.with(|store| read(store))
    }

    /// A user's link epoch (none for no such user), from memory after the first time: what
    /// every session and mail link of the web page is checked against.
    pub fn link_epoch(&self, user: &str) -> Result<Option<u32>> {
        let read = || {
            self.readers
                .with(|store| Ok(store.user(user)?.map(|u| u.settings.links_epoch)))
        };
        if self.is_clustered() {
            // Other daemons change users too: a link revoked through one holds on every
            // other at its next request, so nothing is remembered.
            return read();
        }
        self.epochs.get(user, read)
    }

    /// `user`: add, list, show, remove, set, revoke_links.
    pub fn user(&self, request: &UserRequest) -> Result<UserAnswer> {
        let answer = self.change_user(request);
        if !matches!(request.action, UserAction::List | UserAction::Show) {
            // Whatever it did, the next session check reads the user afresh.
            self.epochs.forget(request.name.as_deref());
        }
        answer
    }

    fn change_user(&self, request: &UserRequest) -> Result<UserAnswer> {
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
                Ok(UserAnswer::Set(Box::new(SettingsSet {
                    user: name.to_owned(),
                    settings,
                })))
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
