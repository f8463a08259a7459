//! Interests as sections: a user's profile falls into facets found from the data
//! ([`paperscout_rank::facets`]), each named by its strongest terms or by the user, and a
//! digest gives each facet a section, its slots allotted by the facet's share of the user's
//! recent engagement (every facet with a good paper gets one). Each pick is still explained
//! by its profile item.
//!
//! A facet can be muted (none of its papers), boosted (twice its share) or renamed; the
//! user's word is kept in the settings by an anchor item (see
//! [`paperscout_types::FacetSetting`]), since the facets themselves are found anew each time.

use paperscout_rank::facets::{FacetParams, allot, cluster, facet_terms, good_depth, sections};
use paperscout_rank::{DEFAULT_BLOCK_BYTES, DigestParams, fade};
use paperscout_store::Store;
use paperscout_types::{FacetMode, FacetSetting};
use serde::{Deserialize, Serialize};

use crate::choose::{Entry, Pool, SharedRows, TextEmbedder, UserInput};
use crate::error::{AppError, Result};

/// Terms that name a facet.
const NAME_TERMS: usize = 3;

/// Items of a facet a listing shows.
const LISTED_ITEMS: usize = 5;

/// One facet of a user's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facet {
    /// Its number in the listing, from 1: the largest facet first.
    pub number: usize,
    /// The user's name for it, else its terms.
    pub name: String,
    /// Whether the user named it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named: bool,
    /// The terms that set it apart from the other facets, strongest first.
    pub terms: Vec<String>,
    /// The item the user's word on it is kept by: a paper's id or a statement of interest.
    pub anchor: String,
    /// Muted, boosted or neither.
    pub mode: FacetMode,
    /// Its share of the user's engagement (0 to 1): items added count 1, likes and saves fade
    /// with age.
    pub share: f32,
    /// How many profile items it holds.
    pub items: usize,
    /// Its newest items: papers' titles or statements of interest.
    pub examples: Vec<String>,
}

/// A user's facets, as `user facet` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserFacets {
    /// The user.
    pub user: String,
    /// The facets, largest first.
    pub facets: Vec<Facet>,
}

/// One section of a digest: a facet and how many of the digest's papers are in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// The facet's number (see [`Facet::number`]).
    pub facet: usize,
    /// The facet's name.
    pub name: String,
    /// Its papers in the digest, which follow one another.
    pub papers: usize,
}

/// A user's facets and the facet of each profile item.
pub(crate) struct Found {
    pub(crate) facets: Vec<Facet>,
    pub(crate) of_item: Vec<usize>,
}

/// The facets of a loaded user, with their settings applied; `half_life_days` fades likes
/// and saves in the shares. A profile of one facet is named by its terms only when
/// `name_one` (a listing shows the name; a flat digest does not, and naming is most of what
/// finding facets costs): else by its anchor's label.
pub(crate) fn find(
    user: &UserInput,
    rows: &SharedRows,
    half_life_days: f32,
    name_one: bool,
) -> Found {
    let mut vectors = paperscout_rank::Matrix::new(rows.rows.vectors.dim());
    let mut texts = Vec::with_capacity(user.item_rows.len());
    for row in &user.item_rows {
        vectors.push(rows.rows.vectors.row(row.vector as usize));
        texts.push(rows.rows.texts[row.text as usize].clone());
    }
    let found = cluster(&vectors, &FacetParams::default());
    let terms = if found.count() > 1 || name_one {
        facet_terms(&texts, &found, NAME_TERMS)
    } else {
        vec![Vec::new(); found.count()]
    };
    let weight = |item: usize| {
        fade(
            user.item_ages.get(item).copied().unwrap_or(0.0),
            half_life_days,
        )
    };
    let total: f32 = (0..user.items.len())
        .map(weight)
        .sum::<f32>()
        .max(f32::MIN_POSITIVE);
    let mut facets: Vec<Facet> = terms
        .into_iter()
        .enumerate()
        .map(|(f, terms)| {
            let members: Vec<usize> = (0..user.items.len())
                .filter(|&i| found.of_item[i] == f)
                .collect();
            Facet {
                number: f + 1,
                name: if terms.is_empty() {
                    user.items[found.anchors[f]].label.clone()
                } else {
                    terms.join(", ")
                },
                named: false,
                terms,
                anchor: user.items[found.anchors[f]].key.clone(),
                mode: FacetMode::Normal,
                share: members.iter().map(|&i| weight(i)).sum::<f32>() / total,
                items: members.len(),
                examples: members
                    .iter()
                    .take(LISTED_ITEMS)
                    .map(|&i| user.items[i].label.clone())
                    .collect(),
            }
        })
        .collect();
    // The user's word holds to the facet holding its anchor; the first word on a facet wins.
    let mut settled = vec![false; facets.len()];
    for setting in &user.facet_settings {
        let Some(item) = user.items.iter().position(|i| i.key == setting.anchor) else {
            continue;
        };
        let f = found.of_item[item];
        if std::mem::replace(&mut settled[f], true) {
            continue;
        }
        let facet = &mut facets[f];
        facet.anchor.clone_from(&setting.anchor);
        facet.mode = setting.mode;
        if let Some(name) = &setting.name {
            facet.name.clone_from(name);
            facet.named = true;
        }
    }
    Found {
        facets,
        of_item: found.of_item,
    }
}

impl Pool {
    /// Chooses for one user in sections, one per facet of the profile: the flat choice
    /// ([`Pool::choose`]) ranked three digests deep, each paper in the facet of the item it
    /// came from, the digest's slots allotted by share ([`paperscout_rank::facets::allot`]),
    /// muted facets left out, boosted ones given twice their share. A profile of one facet
    /// that is not muted gets the flat choice and no sections.
    pub fn choose_sectioned(
        &self,
        rows: &SharedRows,
        user: &UserInput,
        params: &DigestParams,
    ) -> (Vec<Entry>, Vec<Section>) {
        let found = find(user, rows, params.feedback_half_life_days, false);
        self.choose_in(rows, user, params, &found)
    }

    /// [`Pool::choose_sectioned`] with the user's facets found already.
    pub(crate) fn choose_in(
        &self,
        rows: &SharedRows,
        user: &UserInput,
        params: &DigestParams,
        found: &Found,
    ) -> (Vec<Entry>, Vec<Section>) {
        let muted = found.facets.iter().any(|f| f.mode == FacetMode::Muted);
        if found.facets.len() < 2 && !muted {
            return (self.choose(rows, user, params), Vec::new());
        }
        let depth = good_depth(params.size);
        let deep = DigestParams {
            size: depth,
            ..*params
        };
        let picks = self
            .day
            .rank(&rows.rows, &[user.view()], &deep, DEFAULT_BLOCK_BYTES)
            .pop()
            .unwrap_or_default();
        let facet_of: Vec<usize> = picks
            .iter()
            .map(|pick| found.of_item[pick.closest_item])
            .collect();
        let shares: Vec<f32> = found
            .facets
            .iter()
            .map(|f| match f.mode {
                FacetMode::Normal => f.share,
                FacetMode::Muted => 0.0,
                FacetMode::Boosted => 2.0 * f.share,
            })
            .collect();
        let kept = allot(&facet_of, &shares, params.size, depth);
        let mut entries = Vec::with_capacity(kept.len());
        let mut listed = Vec::new();
        for (f, positions) in sections(&kept, &facet_of) {
            let facet = &found.facets[f];
            listed.push(Section {
                facet: facet.number,
                name: facet.name.clone(),
                papers: positions.len(),
            });
            for position in positions {
                let mut entry = self.entry(picks[position].clone(), user);
                entry.facet = Some(facet.name.clone());
                entries.push(entry);
            }
        }
        (entries, listed)
    }
}

/// A user's facets, found from their profile as a digest finds them.
pub fn list(
    store: &dyn Store,
    model: &dyn TextEmbedder,
    user: &str,
    params: &DigestParams,
) -> Result<UserFacets> {
    let pool = Pool::of(store, model, Vec::new())?;
    let mut rows = SharedRows::new(model.key().dim);
    let input = UserInput::load(store, model, user, &pool, &mut rows)?;
    Ok(UserFacets {
        user: user.to_owned(),
        facets: find(&input, &rows, params.feedback_half_life_days, true).facets,
    })
}

/// What `user facet` changes about a facet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FacetEdit {
    /// A new name.
    pub rename: Option<String>,
    /// A new mode.
    pub mode: Option<FacetMode>,
    /// Forget the user's name for it (its terms name it again) and make it normal.
    pub reset: bool,
}

/// The longest name a facet may be given, in bytes.
pub const MAX_FACET_NAME: usize = 100;

/// The setting `edit` makes of the facet `which` (its number or its name, as listed).
pub fn setting_for(facets: &UserFacets, which: &str, edit: &FacetEdit) -> Result<FacetSetting> {
    facets.facet(which)?.setting(edit)
}

impl UserFacets {
    /// The facet `which` names: its number or its name, as listed.
    pub fn facet(&self, which: &str) -> Result<&Facet> {
        let which = which.trim();
        match which.parse::<usize>() {
            Ok(number) => self.facets.iter().find(|f| f.number == number),
            Err(_) => self.facets.iter().find(|f| f.name.eq_ignore_ascii_case(which)),
        }
        .ok_or_else(|| {
            AppError::BadSetting(format!(
                "{} has no facet {which:?}: give its number or name as `paperscout user facet {}` lists them (1 to {})",
                self.user,
                self.user,
                self.facets.len()
            ))
        })
    }
}

impl Facet {
    /// The setting `edit` makes of this facet: what it leaves unsaid stays as it is.
    pub fn setting(&self, edit: &FacetEdit) -> Result<FacetSetting> {
        if let Some(name) = &edit.rename {
            check_name(name)?;
        }
        let renamed = self.named.then(|| self.name.clone());
        Ok(FacetSetting {
            anchor: self.anchor.clone(),
            name: if edit.reset {
                None
            } else {
                edit.rename
                    .as_ref()
                    .map(|n| n.trim().to_owned())
                    .or(renamed)
            },
            mode: if edit.reset {
                FacetMode::Normal
            } else {
                edit.mode.unwrap_or(self.mode)
            },
        })
    }
}

/// A name a user may give a facet: 1 to [`MAX_FACET_NAME`] bytes, not only blanks.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > MAX_FACET_NAME {
        return Err(AppError::BadSetting(format!(
            "a facet's name must hold 1 to {MAX_FACET_NAME} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use paperscout_store::{MemoryStore, ProfileItem, ProfileSubject, Store};

    use super::*;
    use crate::choose::{Digest, Window, build};
    use crate::testing::{self, Words};
    use crate::users::{SettingsChange, change_settings};

    /// ada follows a graph paper and states one more graph interest and two speech ones.
    fn two_interests() -> MemoryStore {
        let mut store = testing::store();
        for (at, text) in [
            (2, "graph networks for molecules with message passing"),
            (3, "streaming speech recognition with transducers"),
            (4, "speech recognition for streaming audio transducers"),
        ] {
            let item = ProfileItem {
                subject: ProfileSubject::Interest(text.to_owned()),
                weight: 1.0,
                added: at,
            };
            store.add_profile_item("ada", &item).expect("added");
        }
        store
    }

    fn digest(store: &MemoryStore) -> Digest {
        let window = Window {
            day: NaiveDate::from_ymd_opt(2025, 3, 18).expect("a day"),
            days: 1,
            after_last_sent: false,
        };
        build(
            store,
            &Words::new(),
            "ada",
            window,
            &DigestParams::default(),
            Some(4),
        )
        .expect("a digest")
    }

    fn facet_named<'a>(facets: &'a UserFacets, word: &str) -> &'a Facet {
        facets
            .facets
            .iter()
            .find(|f| f.terms.iter().any(|t| t.contains(word)))
            .unwrap_or_else(|| panic!("no facet of {word}: {facets:?}"))
    }

    fn edit(store: &mut MemoryStore, which: &str, edit: &FacetEdit) {
        let facets = list(store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        let setting = setting_for(&facets, which, edit).expect("a setting");
        let change = SettingsChange {
            facet: Some(Box::new(setting)),
            ..SettingsChange::default()
        };
        change_settings(store, "ada", &change).expect("changed");
    }

    #[test]
    fn two_interests_are_two_facets_each_with_its_section() {
        let store = two_interests();
        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        assert_eq!(facets.facets.len(), 2, "{facets:?}");
        let graph = facet_named(&facets, "graph");
        let speech = facet_named(&facets, "speech");
        assert_eq!((graph.items, speech.items), (2, 2));
        assert!((graph.share - 0.5).abs() < 1e-6, "{graph:?}");
        assert!(
            speech.examples.iter().all(|e| e.contains("speech")),
            "{speech:?}"
        );

        let digest = digest(&store);
        assert_eq!(digest.sections.len(), 2, "{digest:?}");
        let in_sections: usize = digest.sections.iter().map(|s| s.papers).sum();
        assert_eq!(in_sections, digest.papers.len());
        // Papers follow their sections, in order.
        let mut at = 0;
        for section in &digest.sections {
            for entry in &digest.papers[at..at + section.papers] {
                assert_eq!(entry.facet.as_deref(), Some(section.name.as_str()));
            }
            at += section.papers;
        }
        let speech_paper = digest
            .papers
            .iter()
            .find(|e| e.paper.id == "arXiv:2503.10005")
            .expect("the speech paper has a slot though graphs rank higher");
        assert_eq!(speech_paper.facet.as_deref(), Some(speech.name.as_str()));
        assert!(speech_paper.because.item.contains("speech"));

        let markdown = crate::render::markdown(&digest);
        assert!(
            markdown.contains(&format!("\n## {}\n", speech.name)),
            "{markdown}"
        );
        assert!(markdown.contains("\n### 1. "), "{markdown}");
        let atom = crate::render::atom(&digest, 0);
        assert!(atom.contains("scheme=\"urn:paperscout:facet\""), "{atom}");
        let html = crate::render::html(&digest);
        assert!(html.contains(&format!(">{}</h2>", speech.name)), "{html}");
    }

    #[test]
    fn a_facet_is_muted_renamed_boosted_and_reset_by_number_or_name() {
        let mut store = two_interests();
        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        let speech = facet_named(&facets, "speech").number.to_string();
        edit(
            &mut store,
            &speech,
            &FacetEdit {
                mode: Some(FacetMode::Muted),
                ..FacetEdit::default()
            },
        );
        let muted = digest(&store);
        assert!(
            muted
                .papers
                .iter()
                .all(|e| e.paper.id != "arXiv:2503.10005"),
            "{muted:?}"
        );
        assert!(muted.sections.iter().all(|s| !s.name.contains("speech")));

        edit(
            &mut store,
            &speech,
            &FacetEdit {
                rename: Some("Talking machines".into()),
                mode: Some(FacetMode::Boosted),
                ..FacetEdit::default()
            },
        );
        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        let renamed = facets
            .facets
            .iter()
            .find(|f| f.name == "Talking machines")
            .expect("renamed");
        assert_eq!((renamed.mode, renamed.named), (FacetMode::Boosted, true));
        let boosted = digest(&store);
        let section = boosted
            .sections
            .iter()
            .find(|s| s.name == "Talking machines")
            .expect("the renamed section");
        assert!(section.papers >= 1);

        // By its new name, back to its terms and normal; the setting is forgotten.
        edit(
            &mut store,
            "talking MACHINES",
            &FacetEdit {
                reset: true,
                ..FacetEdit::default()
            },
        );
        assert!(
            store
                .user("ada")
                .expect("read")
                .expect("ada")
                .settings
                .facets
                .is_empty()
        );
        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        let err = setting_for(&facets, "9", &FacetEdit::default()).expect_err("no facet 9");
        assert!(err.to_string().contains("1 to 2"), "{err}");
        let err = setting_for(
            &facets,
            "1",
            &FacetEdit {
                rename: Some(" ".into()),
                ..FacetEdit::default()
            },
        )
        .expect_err("an empty name");
        assert_eq!(err.fault(), paperscout_types::Fault::User);
    }

    fn why_not(store: &MemoryStore, key: &str) -> crate::why_not::Verdict {
        let window = Window {
            day: NaiveDate::from_ymd_opt(2025, 3, 18).expect("a day"),
            days: 1,
            after_last_sent: false,
        };
        crate::why_not::why_not(
            store,
            &Words::new(),
            "ada",
            key,
            window,
            &DigestParams::default(),
            Some(4),
        )
        .expect("answered")
        .verdict
    }

    #[test]
    fn why_not_names_a_full_section_and_a_muted_facet() {
        use crate::why_not::Verdict;
        let mut store = two_interests();
        // A second, weaker speech paper of the day.
        let paper = testing::paper(
            "2503.10007",
            "2025-03-18",
            "Speech enhancement for noisy rooms",
            "Cleaner audio before recognition.",
            &["eess.AS"],
        );
        let vector = Words::vector(&paper.embedding_text());
        let write = paperscout_store::PaperWrite {
            paper: &paper,
            source: "test",
            embedding: Some(&vector),
        };
        store
            .write_papers(&[write], Some(Words::new().key()), 2)
            .expect("written");
        // Boosted, speech has twice graphs' slots: a graph paper of the flat four is left out.
        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        let speech = facet_named(&facets, "speech").number.to_string();
        let boost = FacetEdit {
            mode: Some(FacetMode::Boosted),
            ..FacetEdit::default()
        };
        edit(&mut store, &speech, &boost);
        let digest = digest(&store);
        let flat = {
            let pool =
                Pool::announced(&store, &Words::new(), "2025-03-18", "2025-03-18").expect("pool");
            let mut rows = SharedRows::new(testing::DIM);
            let input =
                UserInput::load(&store, &Words::new(), "ada", &pool, &mut rows).expect("ada");
            pool.choose(
                &rows,
                &input,
                &DigestParams {
                    size: 4,
                    ..DigestParams::default()
                },
            )
        };
        let displaced: Vec<&str> = flat
            .iter()
            .map(|e| e.paper.id.as_str())
            .filter(|id| digest.papers.iter().all(|e| e.paper.id != *id))
            .collect();
        assert!(
            !displaced.is_empty(),
            "the sections changed nothing: {flat:?}"
        );
        for id in displaced {
            assert!(
                matches!(why_not(&store, id), Verdict::SectionFull { ref facet, .. } if facet.contains("graph")),
                "{id}: {:?}",
                why_not(&store, id)
            );
        }
        for (place, entry) in digest.papers.iter().enumerate() {
            assert_eq!(
                why_not(&store, &entry.paper.id),
                Verdict::Picked { rank: place + 1 }
            );
        }

        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        let speech = facet_named(&facets, "speech");
        let name = speech.name.clone();
        edit(
            &mut store,
            &speech.number.to_string(),
            &FacetEdit {
                mode: Some(FacetMode::Muted),
                ..FacetEdit::default()
            },
        );
        assert_eq!(
            why_not(&store, "2503.10005"),
            Verdict::FacetMuted { facet: name }
        );
    }

    #[test]
    fn one_interest_is_one_facet_and_a_flat_digest() {
        let store = testing::store();
        let facets = list(&store, &Words::new(), "ada", &DigestParams::default()).expect("facets");
        assert_eq!(facets.facets.len(), 1);
        let digest = digest(&store);
        assert!(digest.sections.is_empty());
        assert!(digest.papers.iter().all(|e| e.facet.is_none()));
    }
}
