//! Signed tokens: what a login link, a session cookie, a one-click mail link and a feed URL
//! carry. Each is its claim (fields joined by newlines, base64url) and a truncated HMAC of it,
//! so the server keeps no table of them: a token is valid when its MAC checks, it has not
//! expired, and its user's link epoch is still the one it names (`user link --revoke` moves the
//! epoch on, ending every token of that user at once).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paperscout_store::FeedbackKind;

use crate::secret::Signer;

/// Bytes of the MAC a token keeps: 128 bits.
const TAG_BYTES: usize = 16;

/// What a one-click link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Rate the paper.
    Rate(FeedbackKind),
    /// Open the paper's page.
    Open,
}

impl Action {
    /// The action's name in a token and a URL.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rate(kind) => kind.as_str(),
            Self::Open => "open",
        }
    }

    /// The action of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "open" => Self::Open,
            "like" => Self::Rate(FeedbackKind::Like),
            "save" => Self::Rate(FeedbackKind::Save),
            "dislike" => Self::Rate(FeedbackKind::Dislike),
            "dismiss" => Self::Rate(FeedbackKind::Dismiss),
            _ => return None,
        })
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// `user link`: sign in as the user until `expires`.
    Login {
        /// The user.
        user: String,
        /// The user's link epoch when it was made.
        epoch: u32,
        /// Seconds since 1970 after which it is void.
        expires: i64,
    },
    /// The session cookie a login sets.
    Session {
        /// The user.
        user: String,
        /// The user's link epoch.
        epoch: u32,
        /// When the session ends.
        expires: i64,
    },
    /// A link in a digest e-mail: one action on one paper.
    Mail {
        /// The user.
        user: String,
        /// The user's link epoch.
        epoch: u32,
        /// The paper's id.
        paper: String,
        /// What to do.
        action: Action,
        /// When the link stops working.
        expires: i64,
    },
    /// The user's Atom feed, for feed readers: no expiry, ended by a revocation.
    Feed {
        /// The user.
        user: String,
        /// The user's link epoch.
        epoch: u32,
    },
}

impl Claim {
    /// The user the token is for.
    pub fn user(&self) -> &str {
        match self {
            Self::Login { user, .. }
            | Self::Session { user, .. }
            | Self::Mail { user, .. }
            | Self::Feed { user, .. } => user,
        }
    }

    /// The link epoch it was made in.
    pub fn epoch(&self) -> u32 {
        match self {
            Self::Login { epoch, .. }
            | Self::Session { epoch, .. }
            | Self::Mail { epoch, .. }
            | Self::Feed { epoch, .. } => *epoch,
        }
    }

    fn expires(&self) -> Option<i64> {
        match self {
            Self::Login { expires, .. }
            | Self::Session { expires, .. }
            | Self::Mail { expires, .. } => Some(*expires),
            Self::Feed { .. } => None,
        }
    }

    fn encode(&self) -> String {
        match self {
            Self::Login {
                user,
                epoch,
                expires,
            } => format!("login\n{user}\n{epoch}\n{expires}"),
            Self::Session {
                user,
                epoch,
                expires,
            } => format!("session\n{user}\n{epoch}\n{expires}"),
            Self::Mail {
                user,
                epoch,
                paper,
                action,
                expires,
            } => format!(
                "mail\n{user}\n{epoch}\n{paper}\n{}\n{expires}",
                action.name()
            ),
            Self::Feed { user, epoch } => format!("feed\n{user}\n{epoch}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let fields: Vec<&str> = text.split('\n').collect();
        let user = |i: usize| fields.get(i).map(|s| (*s).to_owned());
        let number = |i: usize| fields.get(i)?.parse::<i64>().ok();
        let epoch = |i: usize| fields.get(i)?.parse::<u32>().ok();
        Some(match (fields.first().copied()?, fields.len()) {
            ("login", 4) => Self::Login {
                user: user(1)?,
                epoch: epoch(2)?,
                expires: number(3)?,
            },
            ("session", 4) => Self::Session {
                user: user(1)?,
                epoch: epoch(2)?,
                expires: number(3)?,
            },
            ("mail", 6) => Self::Mail {
                user: user(1)?,
                epoch: epoch(2)?,
                paper: user(3)?,
                action: Action::parse(fields[4])?,
                expires: number(5)?,
            },
            ("feed", 3) => Self::Feed {
                user: user(1)?,
                epoch: epoch(2)?,
            },
            _ => return None,
        })
    }
}

/// The token of a claim.
pub fn issue(signer: &Signer, claim: &Claim) -> String {
    let body = URL_SAFE_NO_PAD.encode(claim.encode());
    let tag = signer.sign(body.as_bytes());
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
}

/// The claim of a token whose MAC checks and which has not expired at `now`; none otherwise.
/// The caller checks the epoch against the user's.
pub fn check(signer: &Signer, token: &str, now: i64) -> Option<Claim> {
    let (body, tag) = token.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if tag.len() != TAG_BYTES || !signer.verify(body.as_bytes(), &tag) {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    let claim = Claim::decode(&text)?;
    match claim.expires() {
        Some(expires) if expires < now => None,
        _ => Some(claim),
    }
}

/// The form token of a session: a MAC of the session's own token, so a page of one session
/// cannot post for another and a cross-site form cannot know it.
pub fn csrf_of(signer: &Signer, session_token: &str) -> String {
    let tag = signer.sign(format!("csrf\n{session_token}").as_bytes());
    URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
}

/// Whether `given` is the form token of `session_token`.
pub fn csrf_checks(signer: &Signer, session_token: &str, given: &str) -> bool {
    URL_SAFE_NO_PAD.decode(given).is_ok_and(|tag| {
        tag.len() == TAG_BYTES && signer.verify(format!("csrf\n{session_token}").as_bytes(), &tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::with_key([7; 32])
    }

    #[test]
    fn every_claim_survives_its_token_and_nothing_else_does() {
        let claims = [
            Claim::Login {
                user: "ada".into(),
                epoch: 2,
                expires: 100,
            },
            Claim::Session {
                user: "ada".into(),
                epoch: 0,
                expires: 100,
            },
            Claim::Mail {
                user: "ada".into(),
                epoch: 1,
                paper: "arXiv:2503.11677".into(),
                action: Action::Rate(FeedbackKind::Dislike),
                expires: 100,
            },
            Claim::Feed {
                user: "ada".into(),
                epoch: 3,
            },
        ];
        for claim in claims {
            let token = issue(&signer(), &claim);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "{token} is URL-safe"
            );
            assert_eq!(check(&signer(), &token, 50), Some(claim.clone()));
            assert_eq!(
                check(&Signer::with_key([8; 32]), &token, 50),
                None,
                "another key"
            );
            let (body, tag) = token.split_once('.').expect("two parts");
            let forged = format!(
                "{}.{tag}",
                URL_SAFE_NO_PAD.encode(claim.encode().replace("ada", "bob"))
            );
            assert_eq!(check(&signer(), &forged, 50), None, "a changed claim");
            assert_eq!(check(&signer(), body, 50), None, "no tag");
        }
    }

    #[test]
    fn tokens_expire_and_form_tokens_belong_to_one_session() {
        let login = issue(
            &signer(),
            &Claim::Login {
                user: "ada".into(),
                epoch: 0,
                expires: 100,
            },
        );
        assert!(check(&signer(), &login, 100).is_some());
        assert!(check(&signer(), &login, 101).is_none());
        let csrf = csrf_of(&signer(), "session-a");
        assert!(csrf_checks(&signer(), "session-a", &csrf));
        assert!(!csrf_checks(&signer(), "session-b", &csrf));
        assert!(!csrf_checks(&signer(), "session-a", ""));
    }
}
