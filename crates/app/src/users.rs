//! Profile and feedback changes shared by the local commands and the daemon, so a change made
//! through either is the same change.

use paperscout_store::{
    Feedback, FeedbackKind, ProfileItem, ProfileSubject, Store, StoredPaper, Timestamp, User,
};
use paperscout_types::{
    Cadence, DigestTiming, FacetSetting, Follow, Rules, UserSettings, Watch, Webhook,
};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

/// What to add to a profile, creating the user when there is none of that name.
#[derive(Debug, Clone, Default)]
pub struct Additions<'a> {
    /// Paper keys: arXiv ids in any spelling, DOIs or paperscout ids.
    pub papers: &'a [String],
    /// Statements of interest.
    pub interests: &'a [String],
    /// A BibTeX library: its name (for messages and as the papers' source) and its text.
    pub library: Option<(&'a str, &'a str)>,
}

/// What [`add_to_profile`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileAdded {
    /// Whether the user was created.
    pub created: bool,
    /// Profile items added: papers, library entries and interests.
    pub added: usize,
    /// Paper keys the store does not hold.
    pub unknown: Vec<String>,
    /// Library entries not in the store, added as external papers.
    pub external: usize,
    /// Library entries left out, each with its line and why.
    pub skipped: Vec<String>,
}

/// Creates `user` if there is none, then adds papers, a library and interests to the profile.
pub fn add_to_profile(
    store: &mut dyn Store,
    user: &str,
    additions: &Additions<'_>,
    now: Timestamp,
) -> Result<ProfileAdded> {
    let mut done = ProfileAdded::default();
    if store.user(user)?.is_none() {
        store.add_user(user, now)?;
        done.created = true;
    }
    let (papers, unknown) = add_papers(store, user, additions.papers, now)?;
    done.added += papers;
    done.unknown = unknown;
    if let Some((name, text)) = additions.library {
        let library = crate::library::add_library(store, user, name, text, now)?;
        done.added += library.added;
        done.external = library.external;
        done.skipped = library.skipped;
    }
    done.added += add_interests(store, user, additions.interests, now)?;
    Ok(done)
}

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

/// The user, or the error that names the missing one.
pub(crate) fn require_user(store: &dyn Store, user: &str) -> Result<User> {
    Ok(store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?)
}

/// The ratings a feedback request makes: the user must exist and every key must name a
/// stored paper. A paper whose latest rating is of the same kind already (a double click, the
/// same link from two devices) gets none. Reads only; returns the papers and the new ratings.
pub fn plan_feedback(
    store: &dyn Store,
    user: &str,
    kind: FeedbackKind,
    keys: &[String],
    now: Timestamp,
) -> Result<(Vec<StoredPaper>, Vec<Feedback>)> {
    require_user(store, user)?;
    let papers = find_papers(store, keys)?;
    let mut ratings: Vec<Feedback> = Vec::new();
    for found in &papers {
        let id = &found.paper.id;
        let earlier = match ratings.iter().rev().find(|r| r.paper_id == *id) {
            Some(planned) => Some(planned.kind),
            None => store.latest_feedback(user, id)?,
        };
        if earlier != Some(kind) {
            ratings.push(Feedback {
                paper_id: id.clone(),
                kind,
                at: now,
            });
        }
    }
    Ok((papers, ratings))
}

/// Records a user's feedback on stored papers, all of it in one transaction, as
/// [`plan_feedback`] plans it. Returns the papers.
pub fn record_feedback(
    store: &mut dyn Store,
    user: &str,
    kind: FeedbackKind,
    keys: &[String],
    now: Timestamp,
) -> Result<Vec<StoredPaper>> {
    let (papers, ratings) = plan_feedback(&*store, user, kind, keys, now)?;
    let events: Vec<(&str, Feedback)> = ratings.into_iter().map(|r| (user, r)).collect();
    store.add_feedback_many(&events)?;
    Ok(papers)
}

/// The stored paper of each key, in order; an error naming the first key not stored.
fn find_papers(store: &dyn Store, keys: &[String]) -> Result<Vec<StoredPaper>> {
    keys.iter()
        .map(|key| {
            store
                .find_paper(key)?
                .ok_or_else(|| AppError::UnknownPaper(key.clone()))
        })
        .collect()
}

/// Forgets the user's ratings of papers (an undo). Every paper named must be stored (checked
/// before anything is forgotten). Returns each paper with how many ratings were forgotten.
pub fn undo_feedback(
    store: &mut dyn Store,
    user: &str,
    keys: &[String],
) -> Result<Vec<(StoredPaper, usize)>> {
    require_user(store, user)?;
    let papers = find_papers(&*store, keys)?;
    let mut undone = Vec::with_capacity(papers.len());
    for found in papers {
        let removed = store.remove_feedback(user, &found.paper.id)?;
        undone.push((found, removed));
    }
    Ok(undone)
}

/// Ends every web link and session of a user by moving their link epoch on. Returns the new
/// epoch.
pub fn revoke_links(store: &mut dyn Store, user: &str) -> Result<u32> {
    let mut settings = require_user(&*store, user)?.settings;
    settings.links_epoch = settings.links_epoch.wrapping_add(1);
    store.set_user_settings(user, &settings)?;
    Ok(settings.links_epoch)
}

/// A user as `user show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// The user and their settings.
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
    let user = require_user(store, name)?;
    Ok(Shown {
        user,
        profile: store.profile(name)?,
        feedback: store.feedback(name)?,
        sent: store.sent(name)?.len(),
    })
}

/// A change to a user's settings, as `paperscout user set` flags, a daemon request or the web
/// page give it.
/// Lists add to what is there; `clear_rules` first forgets every rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsChange {
    /// Forget every rule (categories, keywords, authors, floor, size) before adding these
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub clear_rules: bool,
    /// Where e-mailed digests go
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Stop e-mailing this user
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_email: bool,
    /// Only papers in this category (cs.LG) or archive (cs); repeatable, any one suffices
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_categories: Vec<String>,
    /// Never papers in this category or archive (repeatable)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_categories: Vec<String>,
    /// Lift papers whose title or abstract has this word or phrase (repeatable)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boost_keywords: Vec<String>,
    /// Never papers whose title or abstract has this word or phrase (repeatable)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_keywords: Vec<String>,
    /// Lift papers by this author; a surname or a full name (repeatable)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boost_authors: Vec<String>,
    /// Never papers by this author (repeatable)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_authors: Vec<String>,
    /// Send nothing rather than noise: leave out papers whose cosine to every profile item is
    /// below this (-1 to 1)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f32>,
    /// Papers per digest
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// Watch this text for scoops (replacing a watch of the same label)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Box<Watch>>,
    /// Stop watching the text of this label
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwatch: Option<String>,
    /// Follow this library file (an absolute path): keep the profile in step with it
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    /// With `follow`, a Zotero database: only this collection
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Stop following this library file (its papers stay in the profile)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfollow: Option<String>,
    /// The user's word on a facet (replacing their word on the facet of the same anchor; a
    /// normal facet without a name of the user's is forgotten)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facet: Option<Box<FacetSetting>>,
    /// Forget the user's own cadence, time zone, hour and note (the daemon's apply) before
    /// setting these
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub clear_timing: bool,
    /// How often the digest comes: daily, weekdays, weekly:mon (or another day), announcement
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Cadence>,
    /// The user's time zone, an IANA name such as Europe/Berlin
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The time of day (HH:MM, in the user's zone) the digest comes at
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_at: Option<String>,
    /// Whether a due day with nothing new sends a short note saying so
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nothing_note: Option<bool>,
    /// Post the digests to this webhook too (replacing one of the same URL)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// Stop posting to the webhook of this URL
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_webhook: Option<String>,
}

/// Webhooks a user may have at most.
pub const MAX_WEBHOOKS: usize = 5;

/// Library files a user may follow at most.
pub const MAX_FOLLOWS: usize = 10;

/// Facet settings a user may keep at most.
pub const MAX_FACET_SETTINGS: usize = 50;

/// Watched texts a user may keep at most.
pub const MAX_WATCHES: usize = 20;
/// The longest watched text, in bytes (a long abstract is about 3,000).
pub const MAX_WATCH_TEXT: usize = 16 * 1024;

impl SettingsChange {
    /// Applies the change; nothing is changed when a value is invalid.
    pub fn apply(&self, settings: &mut UserSettings) -> Result<()> {
        if let Some(email) = &self.email {
            email.parse::<lettre::Address>().map_err(|err| {
                AppError::BadSetting(format!(
                    "--email {email:?} is not an e-mail address ({err}): give one such as ada@example.org"
                ))
            })?;
        }
        if let Some(floor) = self.min_similarity
            && !(-1.0..=1.0).contains(&floor)
        {
            return Err(AppError::BadSetting(format!(
                "--min-similarity {floor} is not a cosine: give a number from -1 to 1"
            )));
        }
        if self.size == Some(0) {
            return Err(AppError::BadSetting(
                "--size 0 would send nothing: give at least 1".into(),
            ));
        }
        if let Some(watch) = &self.watch {
            check_watch(watch)?;
            let others = settings
                .watches
                .iter()
                .filter(|w| w.label != watch.label && Some(&w.label) != self.unwatch.as_ref())
                .count();
            if others >= MAX_WATCHES {
                return Err(AppError::BadSetting(format!(
                    "{MAX_WATCHES} texts are watched already: unwatch one first"
                )));
            }
        }
        if let Some(label) = &self.unwatch
            && !settings.watches.iter().any(|w| &w.label == label)
        {
            return Err(AppError::BadSetting(format!(
                "nothing is watched as {label:?}: `paperscout user show` lists the watches"
            )));
        }
        if let Some(path) = &self.follow {
            if !std::path::Path::new(path).is_absolute() {
                return Err(AppError::BadSetting(format!(
                    "follow {path:?}: give the library's absolute path"
                )));
            }
            let others = settings.follows.iter().filter(|f| &f.path != path).count();
            if others >= MAX_FOLLOWS {
                return Err(AppError::BadSetting(format!(
                    "{MAX_FOLLOWS} libraries are followed already: unfollow one first"
                )));
            }
        }
        if let Some(path) = &self.unfollow
            && !settings.follows.iter().any(|f| &f.path == path)
        {
            return Err(AppError::BadSetting(format!(
                "{path:?} is not followed: `paperscout user show` lists the followed libraries"
            )));
        }
        if let Some(facet) = &self.facet {
            let others = settings
                .facets
                .iter()
                .filter(|f| f.anchor != facet.anchor)
                .count();
            if others >= MAX_FACET_SETTINGS {
                return Err(AppError::BadSetting(format!(
                    "{MAX_FACET_SETTINGS} facets have settings already: reset one first"
                )));
            }
            if let Some(name) = &facet.name {
                crate::facets::check_name(name)?;
            }
        }
        if let Some(zone) = &self.timezone {
            crate::cadence::Zone::parse(zone)?;
        }
        if let Some(at) = &self.digest_at {
            crate::cadence::parse_time(at)?;
        }
        if let Some(hook) = &self.webhook {
            crate::webhook::check_url(&hook.url)?;
            let others = settings
                .webhooks
                .iter()
                .filter(|h| h.url != hook.url && Some(&h.url) != self.remove_webhook.as_ref())
                .count();
            if others >= MAX_WEBHOOKS {
                return Err(AppError::BadSetting(format!(
                    "{MAX_WEBHOOKS} webhooks are set already: remove one first"
                )));
            }
        }
        if let Some(url) = &self.remove_webhook
            && !settings.webhooks.iter().any(|h| &h.url == url)
        {
            return Err(AppError::BadSetting(format!(
                "no webhook has the URL {url:?}: `paperscout user show` lists them"
            )));
        }
        if self.clear_timing {
            settings.timing = DigestTiming::default();
        }
        let timing = &mut settings.timing;
        if self.cadence.is_some() {
            timing.cadence = self.cadence;
        }
        if let Some(zone) = &self.timezone {
            timing.timezone = Some(zone.trim().to_owned());
        }
        if let Some(at) = &self.digest_at {
            timing.digest_at = Some(at.trim().to_owned());
        }
        if let Some(note) = self.nothing_note {
            timing.nothing_note = note;
        }
        if let Some(url) = &self.remove_webhook {
            settings.webhooks.retain(|h| &h.url != url);
        }
        if let Some(hook) = &self.webhook {
            settings.webhooks.retain(|h| h.url != hook.url);
            settings.webhooks.push(hook.clone());
        }
        let rules = &mut settings.rules;
        if self.clear_rules {
            *rules = Rules::default();
        }
        if self.no_email {
            settings.email = None;
        }
        if let Some(email) = &self.email {
            settings.email = Some(email.clone());
        }
        add_unique(&mut rules.categories, &self.only_categories);
        add_unique(&mut rules.mute_categories, &self.mute_categories);
        add_unique(&mut rules.boost_keywords, &self.boost_keywords);
        add_unique(&mut rules.mute_keywords, &self.mute_keywords);
        add_unique(&mut rules.boost_authors, &self.boost_authors);
        add_unique(&mut rules.mute_authors, &self.mute_authors);
        if self.min_similarity.is_some() {
            rules.min_similarity = self.min_similarity;
        }
        if self.size.is_some() {
            rules.size = self.size;
        }
        if let Some(label) = &self.unwatch {
            settings.watches.retain(|w| &w.label != label);
        }
        if let Some(watch) = &self.watch {
            settings.watches.retain(|w| w.label != watch.label);
            settings.watches.push(Watch::clone(watch));
        }
        if let Some(path) = &self.unfollow {
            settings.follows.retain(|f| &f.path != path);
        }
        if let Some(facet) = &self.facet {
            settings.facets.retain(|f| f.anchor != facet.anchor);
            if facet.name.is_some() || !facet.mode.is_normal() {
                settings.facets.push(FacetSetting::clone(facet));
            }
        }
        if let Some(path) = &self.follow {
            match settings.follows.iter_mut().find(|f| &f.path == path) {
                // Another collection of the same database: read again.
                Some(follow) if follow.collection != self.collection => {
                    follow.collection.clone_from(&self.collection);
                    follow.seen = None;
                }
                Some(_) => {}
                None => settings.follows.push(Follow {
                    path: path.clone(),
                    collection: self.collection.clone(),
                    seen: None,
                    papers: Vec::new(),
                }),
            }
        }
        Ok(())
    }

    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The paper keys of a `--papers` file: one a line, blank lines and `#` comments skipped;
/// none without a file.
pub fn read_keys(file: Option<&std::path::Path>) -> Result<Vec<String>> {
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    Ok(fs_err::read_to_string(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// The change that watches a text: a file's (labelled with its name), or a stored paper's
/// title and abstract (labelled with its id).
pub fn watch_change(
    store: &dyn Store,
    text: Option<(&str, String)>,
    paper: Option<&str>,
    threshold: f32,
) -> Result<SettingsChange> {
    let (label, text) = match (text, paper) {
        (Some((label, text)), _) => (label.to_owned(), text),
        (None, Some(key)) => {
            let found = store
                .find_paper(key)?
                .ok_or_else(|| AppError::UnknownPaper(key.to_owned()))?;
            (found.paper.id.clone(), found.paper.embedding_text())
        }
        (None, None) => {
            return Err(AppError::Usage(
                "give the text to watch: --text FILE or --paper ID".into(),
            ));
        }
    };
    Ok(SettingsChange {
        watch: Some(Box::new(Watch {
            label,
            text,
            threshold,
        })),
        ..SettingsChange::default()
    })
}

/// A watch a user may keep: a label, a text of at most [`MAX_WATCH_TEXT`] bytes, a cosine.
fn check_watch(watch: &Watch) -> Result<()> {
    if watch.label.trim().is_empty() || watch.label.len() > 200 {
        return Err(AppError::BadSetting(
            "a watch needs a label of 1 to 200 bytes".into(),
        ));
    }
    if watch.text.trim().is_empty() || watch.text.len() > MAX_WATCH_TEXT {
        return Err(AppError::BadSetting(format!(
            "a watched text must hold 1 to {MAX_WATCH_TEXT} bytes: give a title and an abstract"
        )));
    }
    if !(0.0..=1.0).contains(&watch.threshold) {
        return Err(AppError::BadSetting(format!(
            "--threshold {} is out of range: give a cosine from 0 to 1, such as 0.8",
            watch.threshold
        )));
    }
    Ok(())
}

fn add_unique(list: &mut Vec<String>, more: &[String]) {
    for item in more {
        let item = item.trim();
        if !item.is_empty() && !list.iter().any(|x| x.eq_ignore_ascii_case(item)) {
            list.push(item.to_owned());
        }
    }
}

/// Changes a user's settings; returns them as they now are.
pub fn change_settings(
    store: &mut dyn Store,
    user: &str,
    change: &SettingsChange,
) -> Result<UserSettings> {
    let mut settings = require_user(&*store, user)?.settings;
    change.apply(&mut settings)?;
    store.set_user_settings(user, &settings)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use paperscout_store::Store;
    use paperscout_types::Fault;

    use super::*;
    use crate::testing;

    #[test]
    fn a_rating_given_twice_is_one_and_an_undo_forgets_it() {
        let mut store = testing::store();
        let key = vec!["2503.10004".to_owned()];
        for at in [10, 11] {
            record_feedback(&mut store, "ada", FeedbackKind::Dislike, &key, at).expect("rated");
        }
        assert_eq!(
            store.feedback("ada").expect("read").len(),
            1,
            "a double click is one"
        );
        record_feedback(&mut store, "ada", FeedbackKind::Save, &key, 12).expect("changed mind");
        assert_eq!(store.feedback("ada").expect("read").len(), 2);
        let with_unknown = vec!["2503.10004".to_owned(), "2503.99999".to_owned()];
        assert!(matches!(
            undo_feedback(&mut store, "ada", &with_unknown),
            Err(AppError::UnknownPaper(key)) if key == "2503.99999"
        ));
        assert_eq!(
            store.feedback("ada").expect("read").len(),
            2,
            "an unknown paper undoes nothing"
        );
        let undone = undo_feedback(&mut store, "ada", &key).expect("undone");
        assert_eq!(undone.len(), 1);
        assert_eq!(
            (undone[0].0.paper.id.as_str(), undone[0].1),
            ("arXiv:2503.10004", 2)
        );
        assert!(store.feedback("ada").expect("read").is_empty());
        assert_eq!(
            undo_feedback(&mut store, "ada", &key).expect("again")[0].1,
            0
        );
        assert!(undo_feedback(&mut store, "nobody", &key).is_err());
    }

    #[test]
    fn watches_are_added_replaced_by_label_checked_and_dropped() {
        let watch = |label: &str, threshold: f32| SettingsChange {
            watch: Some(Box::new(Watch {
                label: label.to_owned(),
                text: "Graph networks\nfor molecules".to_owned(),
                threshold,
            })),
            ..SettingsChange::default()
        };
        let mut settings = UserSettings::default();
        watch("draft", 0.8).apply(&mut settings).expect("watched");
        watch("draft", 0.9).apply(&mut settings).expect("replaced");
        assert_eq!(settings.watches.len(), 1);
        assert_eq!(settings.watches[0].threshold, 0.9);
        let before = settings.clone();
        for bad in [watch("draft", 1.5), watch(" ", 0.8)] {
            assert!(bad.apply(&mut settings).is_err());
        }
        let unknown = SettingsChange {
            unwatch: Some("nothing".to_owned()),
            ..SettingsChange::default()
        };
        assert!(unknown.apply(&mut settings).is_err());
        assert_eq!(settings, before, "a refused change changes nothing");
        for n in 1..MAX_WATCHES {
            watch(&format!("w{n}"), 0.8)
                .apply(&mut settings)
                .expect("room");
        }
        assert!(watch("one too many", 0.8).apply(&mut settings).is_err());
        let drop = SettingsChange {
            unwatch: Some("draft".to_owned()),
            ..SettingsChange::default()
        };
        drop.apply(&mut settings).expect("dropped");
        assert!(settings.watches.iter().all(|w| w.label != "draft"));
        assert_eq!(settings.watches.len(), MAX_WATCHES - 1);
    }

    #[test]
    fn revoking_moves_the_link_epoch_on() {
        let mut store = testing::store();
        assert_eq!(
            store
                .user("ada")
                .expect("read")
                .expect("ada")
                .settings
                .links_epoch,
            0
        );
        assert_eq!(revoke_links(&mut store, "ada").expect("revoked"), 1);
        assert_eq!(revoke_links(&mut store, "ada").expect("revoked"), 2);
        assert_eq!(
            store
                .user("ada")
                .expect("read")
                .expect("ada")
                .settings
                .links_epoch,
            2
        );
    }

    #[test]
    fn a_settings_change_adds_rules_once_and_clear_rules_starts_afresh() {
        let mut store = testing::store();
        let change = SettingsChange {
            email: Some("ada@example.org".to_owned()),
            mute_categories: vec!["cs.CR".to_owned(), " CS.cr ".to_owned()],
            boost_authors: vec!["Hinton".to_owned()],
            size: Some(5),
            ..SettingsChange::default()
        };
        let settings = change_settings(&mut store, "ada", &change).expect("changed");
        assert_eq!(settings.email.as_deref(), Some("ada@example.org"));
        assert_eq!(
            settings.rules.mute_categories,
            ["cs.CR"],
            "case-blind, once"
        );
        assert_eq!(settings.rules.size, Some(5));
        assert_eq!(
            store.user("ada").expect("read").expect("ada").settings,
            settings
        );

        let cleared = SettingsChange {
            clear_rules: true,
            no_email: true,
            min_similarity: Some(0.3),
            ..SettingsChange::default()
        };
        let settings = change_settings(&mut store, "ada", &cleared).expect("changed");
        assert_eq!(settings.email, None);
        assert!(settings.rules.mute_categories.is_empty());
        assert_eq!(settings.rules.min_similarity, Some(0.3));
    }

    #[test]
    fn a_bad_value_changes_nothing_and_says_what_to_give() {
        let mut store = testing::store();
        for (change, says) in [
            (
                SettingsChange {
                    email: Some("not an address".to_owned()),
                    size: Some(3),
                    ..SettingsChange::default()
                },
                "is not an e-mail address",
            ),
            (
                SettingsChange {
                    min_similarity: Some(3.0),
                    ..SettingsChange::default()
                },
                "is not a cosine",
            ),
            (
                SettingsChange {
                    size: Some(0),
                    ..SettingsChange::default()
                },
                "give at least 1",
            ),
        ] {
            let err = change_settings(&mut store, "ada", &change).unwrap_err();
            assert_eq!(err.fault(), Fault::User);
            assert!(err.to_string().contains(says), "{err}");
        }
        assert_eq!(
            store
                .user("ada")
                .expect("read")
                .expect("ada")
                .settings
                .rules
                .size,
            None
        );
        let err = change_settings(&mut store, "bob", &SettingsChange::default()).unwrap_err();
        assert_eq!(err.fault(), Fault::Missing);
    }

    #[test]
    fn feedback_needs_the_user_and_every_paper_before_writing_any() {
        let mut store = testing::store();
        let keys = ["2503.10001".to_owned(), "2503.99999".to_owned()];
        let err = record_feedback(&mut store, "ada", FeedbackKind::Like, &keys, 2).unwrap_err();
        assert!(matches!(err, AppError::UnknownPaper(ref key) if key == "2503.99999"));
        assert!(
            store.feedback("ada").expect("read").is_empty(),
            "nothing written"
        );
        let err =
            record_feedback(&mut store, "bob", FeedbackKind::Like, &keys[..1], 2).unwrap_err();
        assert_eq!(err.fault(), Fault::Missing);
        let liked = record_feedback(&mut store, "ada", FeedbackKind::Like, &keys[..1], 2)
            .expect("recorded");
        assert_eq!(
            liked[0].paper.id, "arXiv:2503.10001",
            "found by its bare arXiv id"
        );
        let (added, unknown) = add_papers(
            &mut store,
            "ada",
            &["2503.10004".to_owned(), "x".to_owned()],
            3,
        )
        .expect("added");
        assert_eq!((added, unknown), (1, vec!["x".to_owned()]));
    }
}
