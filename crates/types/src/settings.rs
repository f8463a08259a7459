//! What a user set for their own digests: where to send them, the hard rules every peer's
//! users ask for (category filters, keyword and author boosts and mutes, a floor, a size), and
//! the texts they watch for scoops, the libraries they follow, what they made of the
//! facets their profile falls into, when their digests come, and where else they go.

use serde::{Deserialize, Serialize};

/// A user's own settings, kept with the user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserSettings {
    /// Where e-mailed digests go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Hard rules over the ranking.
    pub rules: Rules,
    /// The generation of the user's web links and sessions: every signed link names the one
    /// it was made in, and revoking moves it on, ending them all.
    #[serde(skip_serializing_if = "is_zero")]
    pub links_epoch: u32,
    /// Texts the user watches: a new paper this close to one is sent at once, out of the
    /// daily cycle (a scoop alert).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watches: Vec<Watch>,
    /// Library files the daemon keeps the profile in step with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub follows: Vec<Follow>,
    /// What the user made of the facets their profile falls into: names, mutes, boosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<FacetSetting>,
    /// When scheduled digests come: how often, at what hour, in which time zone.
    #[serde(skip_serializing_if = "DigestTiming::is_unset")]
    pub timing: DigestTiming,
    /// Chat rooms and programs the digests are posted to, besides e-mail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
}

/// When a user's scheduled digests come. What is not set here comes from the daemon's
/// `[schedule]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DigestTiming {
    /// How often.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Cadence>,
    /// The user's time zone, an IANA name (`Europe/Berlin`); none: the daemon's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The time of day (`HH:MM`, in the user's zone) the digest is sent at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_at: Option<String>,
    /// On a due day with nothing new, send a short note saying so instead of nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nothing_note: bool,
}

impl DigestTiming {
    /// Whether nothing is set.
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// How often a user's digest comes. Each digest covers everything announced since the one
/// before, so a weekly digest is the week's best.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Cadence {
    /// Every day (nothing is sent on a day with nothing new).
    #[default]
    Daily,
    /// Monday to Friday.
    Weekdays,
    /// Once a week, on this day (0 Monday … 6 Sunday).
    Weekly(u8),
    /// The morning after each arXiv announcement (Sunday to Thursday, 20:00 US Eastern).
    Announcement,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl std::fmt::Display for Cadence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Daily => f.write_str("daily"),
            Self::Weekdays => f.write_str("weekdays"),
            Self::Weekly(day) => write!(f, "weekly:{}", WEEKDAYS[usize::from(*day % 7)]),
            Self::Announcement => f.write_str("announcement"),
        }
    }
}

impl std::str::FromStr for Cadence {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        let weekday = |name: &str| {
            WEEKDAYS
                .iter()
                .position(|day| name.starts_with(day))
                .and_then(|day| u8::try_from(day).ok())
        };
        match text.as_str() {
            "daily" => Ok(Self::Daily),
            "weekdays" => Ok(Self::Weekdays),
            "announcement" | "announcements" => Ok(Self::Announcement),
            "weekly" => Ok(Self::Weekly(0)),
            other => other
                .strip_prefix("weekly:")
                .and_then(weekday)
                .map(Self::Weekly)
                .ok_or_else(|| {
                    format!(
                        "cadence {other:?} is not one of daily, weekdays, weekly:mon (or another day), announcement"
                    )
                }),
        }
    }
}

impl TryFrom<String> for Cadence {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<Cadence> for String {
    fn from(cadence: Cadence) -> Self {
        cadence.to_string()
    }
}

/// A URL the user's digests are posted to, in the shape the receiving program reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where the digest is posted (http or https).
    pub url: String,
    /// The shape of the posted body.
    #[serde(default)]
    pub format: WebhookFormat,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A Slack incoming webhook: `text` and Block Kit `blocks`.
    Slack,
    /// A Mattermost incoming webhook: Markdown `text`.
    Mattermost,
    /// A Discord webhook: `content` of at most 2,000 characters, and `embeds`.
    Discord,
    /// A Matrix room message (`m.room.message` with `body` and HTML `formatted_body`), for a
    /// bot's send URL or a hookshot webhook.
    Matrix,
    /// paperscout's own digest JSON.
    #[default]
    Json,
}

impl WebhookFormat {
    /// Every format, by name.
    pub const ALL: [(&'static str, Self); 5] = [
        ("slack", Self::Slack),
        ("mattermost", Self::Mattermost),
        ("discord", Self::Discord),
        ("matrix", Self::Matrix),
        ("json", Self::Json),
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, format)| *format == self)
            .map_or("json", |(name, _)| name)
    }
}

impl std::str::FromStr for WebhookFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, format)| *format)
            .ok_or_else(|| {
                format!(
                    "webhook format {text:?} is not one of slack, mattermost, discord, matrix, json"
                )
            })
    }
}

/// A user's word on one facet of their profile (the facets are found anew at each ranking).
/// The setting holds to the facet that holds its anchor, so it survives papers coming and
/// going; it lapses when the anchor leaves the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacetSetting {
    /// A profile item of the facet: a paper's id, or a statement of interest.
    pub anchor: String,
    /// The user's name for the facet, instead of its terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether its papers are left out, given more room, or neither.
    #[serde(default, skip_serializing_if = "FacetMode::is_normal")]
    pub mode: FacetMode,
}

/// How a facet's papers fare in a digest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FacetMode {
    /// Slots by the facet's share of the user's engagement.
    #[default]
    Normal,
    /// None of its papers.
    Muted,
    /// Twice its share of slots.
    Boosted,
}

impl FacetMode {
    /// Whether this is the default.
    pub fn is_normal(&self) -> bool {
        *self == Self::Normal
    }
}

/// A followed library: a BibTeX file the user's reference manager keeps up to date (Zotero's
/// Better BibTeX auto-export, JabRef, a `.bib` kept by hand), or Zotero's own database. When
/// it changes, its new papers join the profile and those that left it leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Follow {
    /// The file, as an absolute path.
    pub path: String,
    /// For a Zotero database: only the items of this collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Its length and modification time when last read; none before the first read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// The papers it put in the profile, which leave again when they leave it (a paper the
    /// user added by hand is never among them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub papers: Vec<String>,
}

/// A watched text: a draft's abstract, or one's own preprint, that a new paper close to it
/// should be known of the day it appears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// What the user calls it: the file it came from, or the paper's id.
    pub label: String,
    /// The text compared with every new paper (title and abstract).
    pub text: String,
    /// The cosine at or above which a new paper is sent.
    pub threshold: f32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Rules a user sets over the ranking. Matching ignores case; a keyword or an author matches
/// whole words ("graph" does not match "paragraph"; "Hinton" matches "Geoffrey E. Hinton"); a
/// category is a full name (`cs.LG`) or a whole archive (`cs`, `math`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Only papers in at least one of these categories (none: every category).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Never papers in any of these categories.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_categories: Vec<String>,
    /// Words or phrases in the title or abstract that lift a paper.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boost_keywords: Vec<String>,
    /// Words or phrases in the title or abstract that rule a paper out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_keywords: Vec<String>,
    /// Authors whose papers are lifted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boost_authors: Vec<String>,
    /// Authors whose papers are ruled out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mute_authors: Vec<String>,
    /// Send nothing rather than noise: leave out papers whose cosine to every profile item is
    /// below this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f32>,
    /// Papers per digest, when the request does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_unknown_keys_are_refused() {
        let settings = UserSettings {
            email: Some("ada@example.org".into()),
            rules: Rules {
                categories: vec!["cs.LG".into()],
                boost_authors: vec!["Hinton".into()],
                size: Some(5),
                ..Rules::default()
            },
            links_epoch: 2,
            watches: vec![Watch {
                label: "draft.txt".into(),
                text: "Graph networks\nWe study them.".into(),
                threshold: 0.8,
            }],
            follows: vec![Follow {
                path: "/home/ada/library.bib".into(),
                collection: None,
                seen: Some("120:1".into()),
                papers: vec!["arXiv:2503.10001".into()],
            }],
            facets: vec![FacetSetting {
                anchor: "arXiv:2503.10001".into(),
                name: Some("graphs".into()),
                mode: FacetMode::Boosted,
            }],
            timing: DigestTiming {
                cadence: Some(Cadence::Weekly(2)),
                timezone: Some("Asia/Tokyo".into()),
                digest_at: Some("07:30".into()),
                nothing_note: true,
            },
            webhooks: vec![Webhook {
                url: "https://hooks.example.org/T1".into(),
                format: WebhookFormat::Slack,
            }],
        };
        let text = serde_json::to_string(&settings).expect("serialises");
        assert_eq!(
            serde_json::from_str::<UserSettings>(&text).expect("parses"),
            settings
        );
        assert_eq!(
            serde_json::from_str::<UserSettings>("{}").expect("parses"),
            UserSettings::default()
        );
        assert!(serde_json::from_str::<UserSettings>(r#"{"rule": {}}"#).is_err());
        assert!(text.contains(r#""cadence":"weekly:wed""#), "{text}");
    }

    #[test]
    fn cadences_read_as_people_write_them() {
        for (text, cadence) in [
            ("daily", Cadence::Daily),
            ("Weekdays", Cadence::Weekdays),
            ("weekly:mon", Cadence::Weekly(0)),
            ("weekly:Friday", Cadence::Weekly(4)),
            ("weekly", Cadence::Weekly(0)),
            ("announcement", Cadence::Announcement),
        ] {
            assert_eq!(text.parse::<Cadence>(), Ok(cadence), "{text}");
            assert_eq!(cadence.to_string().parse::<Cadence>(), Ok(cadence));
        }
        for bad in ["hourly", "weekly:funday", ""] {
            let err = bad.parse::<Cadence>().unwrap_err();
            assert!(err.contains("weekly:mon"), "{err}");
        }
        assert_eq!("Slack".parse::<WebhookFormat>(), Ok(WebhookFormat::Slack));
        assert!("teams".parse::<WebhookFormat>().is_err());
    }
}
