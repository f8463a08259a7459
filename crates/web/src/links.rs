//! The page's URLs with their signed tokens: a user's login link (`user link`), the one-click
//! links under each e-mailed pick, and the secret feed URL. Built from `[web] public_url`
//! (for a daemon behind a reverse proxy), else from the listen address.

use paperscout_app::Settings;
use paperscout_app::render::{LinkAction, PickLinks};
use paperscout_store::FeedbackKind;

use crate::error::{Result, WebError};
use crate::secret::Signer;
use crate::tokens::{Action, Claim, issue};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Makes the page's signed URLs.
#[derive(Debug, Clone)]
pub struct LinkMaker {
    signer: Signer,
    /// Scheme, host and path prefix, without a trailing slash.
    base: String,
    link_days: u32,
}

/// The URL the page is reached at: `public_url`, else `http://` and the listen address.
pub fn base_url(listen: &str, public_url: Option<&str>) -> String {
    public_url.map_or_else(
        || format!("http://{listen}"),
        |url| url.trim_end_matches('/').to_owned(),
    )
}

impl LinkMaker {
    /// A maker signing with `signer`, for a page at `base`.
    pub fn new(signer: Signer, base: String, link_days: u32) -> Self {
        Self {
            signer,
            base,
            link_days,
        }
    }

    /// The maker the settings describe, reading (or making) the secret in the data directory;
    /// `listen` overrides `[web] listen`.
    pub fn from_settings(settings: &Settings, listen: Option<&str>) -> Result<Self> {
        let web = &settings.web;
        let listen = listen.map_or_else(|| web.listen_or_default(), str::to_owned);
        Ok(Self::new(
            Signer::load_or_create(&settings.data_dir)?,
            base_url(&listen, web.public_url.as_deref()),
            web.link_days(),
        ))
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Days a mail link works.
    pub fn link_days(&self) -> u32 {
        self.link_days
    }

    /// A path of the page as a full URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A link that signs `user` in, valid for `days`.
    pub fn login(&self, user: &str, epoch: u32, days: u32, now: i64) -> String {
        let token = issue(
            &self.signer,
            &Claim::Login {
                user: user.to_owned(),
                epoch,
                expires: now + i64::from(days) * DAY,
            },
        );
        self.url(&format!("/login/{token}"))
    }

    /// A one-click link doing `action` on a paper.
    pub fn mail(&self, user: &str, epoch: u32, paper: &str, action: Action, now: i64) -> String {
        let token = issue(
            &self.signer,
            &Claim::Mail {
                user: user.to_owned(),
                epoch,
                paper: paper.to_owned(),
                action,
                expires: now + i64::from(self.link_days) * DAY,
            },
        );
        self.url(&format!("/m/{token}"))
    }

    /// The user's Atom feed.
    pub fn feed(&self, user: &str, epoch: u32) -> String {
        let token = issue(
            &self.signer,
            &Claim::Feed {
                user: user.to_owned(),
                epoch,
            },
        );
        self.url(&format!("/feed/{token}"))
    }
}

/// A digest's links for one user whose link epoch is known (the command line's `digest
/// --email`, the daemon's mail, which reads the epoch first).
#[derive(Debug, Clone)]
pub struct UserLinks {
    maker: LinkMaker,
    user: String,
    epoch: u32,
}

impl UserLinks {
    /// `user`'s links, made in `epoch`.
    pub fn new(maker: LinkMaker, user: &str, epoch: u32) -> Self {
        Self {
            maker,
            user: user.to_owned(),
            epoch,
        }
    }

    /// `user`'s links when the settings serve a web page (`[web] listen`), for a mailer's
    /// `with_links`; none when they do not, since a link would then lead nowhere.
    pub fn when_served(
        settings: &Settings,
        user: &str,
        epoch: u32,
    ) -> Result<Option<std::sync::Arc<Self>>> {
        if settings.web.listen.is_none() {
            return Ok(None);
        }
        let maker = LinkMaker::from_settings(settings, None)?;
        Ok(Some(std::sync::Arc::new(Self::new(maker, user, epoch))))
    }
}

/// A digest link's action as a token's.
pub fn action_of(action: LinkAction) -> Action {
    match action {
        LinkAction::Open => Action::Open,
        LinkAction::Like => Action::Rate(FeedbackKind::Like),
        LinkAction::Save => Action::Rate(FeedbackKind::Save),
        LinkAction::Dislike => Action::Rate(FeedbackKind::Dislike),
        LinkAction::Dismiss => Action::Rate(FeedbackKind::Dismiss),
    }
}

/// A token's action as the digest link that carries it, whose label its button repeats.
pub fn link_action_of(action: Action) -> LinkAction {
    match action {
        Action::Open => LinkAction::Open,
        Action::Rate(FeedbackKind::Like) => LinkAction::Like,
        Action::Rate(FeedbackKind::Save) => LinkAction::Save,
        Action::Rate(FeedbackKind::Dislike) => LinkAction::Dislike,
        Action::Rate(FeedbackKind::Dismiss) => LinkAction::Dismiss,
    }
}

impl PickLinks for UserLinks {
    fn link(&self, user: &str, paper_id: &str, action: LinkAction) -> String {
        // A digest is one user's; a link for anyone else would be a bug, so it goes nowhere.
        if user != self.user {
            return self.maker.url("/");
        }
        self.maker.mail(
            user,
            self.epoch,
            paper_id,
            action_of(action),
            paperscout_store::now(),
        )
    }
}

/// Links for any user, reading each user's epoch from the store when a link is made: the
/// daemon's mail, where many users' digests go out.
pub struct StoreLinks<F> {
    maker: LinkMaker,
    epoch_of: F,
}

impl<F: Fn(&str) -> Option<u32> + Send + Sync> StoreLinks<F> {
    /// Links signed by `maker`, epochs from `epoch_of` (none for a user who is gone).
    pub fn new(maker: LinkMaker, epoch_of: F) -> Self {
        Self { maker, epoch_of }
    }
}

impl<F: Fn(&str) -> Option<u32> + Send + Sync> PickLinks for StoreLinks<F> {
    fn link(&self, user: &str, paper_id: &str, action: LinkAction) -> String {
        match (self.epoch_of)(user) {
            Some(epoch) => self.maker.mail(
                user,
                epoch,
                paper_id,
                action_of(action),
                paperscout_store::now(),
            ),
            None => self.maker.url("/"),
        }
    }
}

/// An error for a listen address that is not one.
pub fn bad_listen(listen: &str) -> WebError {
    WebError::Config(format!(
        "{listen:?} is not an address to listen on: give IP:PORT, e.g. 127.0.0.1:8737"
    ))
}

/// The error for a `[web] trusted_proxies` entry that is not an IP address.
pub fn bad_proxy(proxy: &str) -> WebError {
    WebError::Config(format!(
        "[web] trusted_proxies: {proxy:?} is not an IP address: give the proxy's address as it \
         connects to the page, e.g. \"127.0.0.1\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::check;

    #[test]
    fn links_carry_tokens_for_their_user_paper_and_action() {
        let maker = LinkMaker::new(
            Signer::with_key([1; 32]),
            base_url("127.0.0.1:8737", None),
            60,
        );
        let link = UserLinks::new(maker.clone(), "ada", 4).link(
            "ada",
            "arXiv:2503.1",
            LinkAction::Dislike,
        );
        let token = link
            .strip_prefix("http://127.0.0.1:8737/m/")
            .expect("a mail link");
        let claim = check(maker.signer(), token, paperscout_store::now()).expect("valid");
        let Claim::Mail {
            user,
            epoch,
            paper,
            action,
            ..
        } = claim
        else {
            panic!("a mail claim");
        };
        assert_eq!(
            (user.as_str(), epoch, paper.as_str()),
            ("ada", 4, "arXiv:2503.1")
        );
        assert_eq!(action, Action::Rate(FeedbackKind::Dislike));
        let behind_proxy = base_url("127.0.0.1:8737", Some("https://papers.lab.org/ps/"));
        assert_eq!(behind_proxy, "https://papers.lab.org/ps");
    }

    #[test]
    fn a_token_action_maps_back_to_the_link_that_carried_it() {
        for action in [
            LinkAction::Open,
            LinkAction::Like,
            LinkAction::Save,
            LinkAction::Dislike,
            LinkAction::Dismiss,
        ] {
            assert_eq!(link_action_of(action_of(action)), action);
        }
    }
}
