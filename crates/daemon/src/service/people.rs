//! `feedback` and `user`: ratings, profiles and settings, through the same changes the
//! command line makes.

use paperscout_app::users;
use paperscout_proto::{
    Added, FeedbackAnswer, FeedbackRequest, Removed, SettingsSet, UserAction, UserAnswer,
    UserRequest,
};
use paperscout_store::{Store, StoreError};

use super::{Service, app, lock};
use crate::error::{DaemonError, Result};

impl Service {
    /// `feedback`: every paper named must be stored (checked before anything is written).
    pub fn feedback(&self, request: &FeedbackRequest) -> Result<FeedbackAnswer> {
        let kind = request.kind;
        let mut writer = lock(&self.writer);
        let papers = users::record_feedback(
            &mut *writer,
            &request.user,
            kind,
            &request.papers,
            paperscout_store::now(),
        )?;
        Ok(FeedbackAnswer {
            user: request.user.clone(),
            kind,
            papers: papers.into_iter().map(|p| p.paper.id).collect(),
        })
    }

    /// `user`: add, list, show, remove, set.
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
            UserAction::Add => {
                let name = name()?;
                let now = paperscout_store::now();
                let mut writer = lock(&self.writer);
                let created = if writer.user(name)?.is_none() {
                    writer.add_user(name, now)?;
                    true
                } else {
                    false
                };
                let (papers, unknown) =
                    users::add_papers(&mut *writer, name, &request.papers, now)?;
                let interests = users::add_interests(&mut *writer, name, &request.interests, now)?;
                Ok(UserAnswer::Added(Added {
                    user: name.to_owned(),
                    created,
                    added: papers + interests,
                    unknown,
                }))
            }
        }
    }
}
