//! What a user set for their own digests: where to send them, the hard rules every peer's
//! users ask for (category filters, keyword and author boosts and mutes, a floor, a size), and
//! the texts they watch for scoops, the libraries they follow, and what they made of the
//! facets their profile falls into.

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
    }
}
