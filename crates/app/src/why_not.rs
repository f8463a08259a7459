//! Why a paper was or was not picked for a user: where it ranks among the window's candidates,
//! the profile items it is nearest, and the exact reason it was left out when it was (sent
//! before, rated, in the profile, muted by a rule, announced outside the window, below the
//! similarity floor, pushed out by diversity for a named pick, or simply outranked).
//!
//! It asks the chooser of [`crate::choose`] itself, with the digest's own window and knobs,
//! so the answer is what the next digest would do, not a second opinion.

use std::collections::HashSet;

use paperscout_rank::dense::dot;
use paperscout_rank::{CompiledRules, DigestParams, PaperFacts};
use paperscout_store::{FeedbackKind, ProfileSubject, Store};
use serde::{Deserialize, Serialize};

use crate::choose::{
    Because, Pool, ProfileMatch, SharedRows, TextEmbedder, UserInput, Window, window_days,
};
use crate::{AppError, Result};

/// How far down the ranking a why-not looks before it says "further down than this".
pub const DEPTH: usize = 200;

/// Profile items shown as the paper's nearest.
const NEAREST: usize = 3;

/// The paper asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asked {
    /// Its paperscout id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its announcement day, when known.
    pub date: Option<String>,
}

/// The one reason a paper is, or is not, in the user's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// It is in the digest, at this place (1 the first).
    Picked {
        /// Its place.
        rank: usize,
    },
    /// It was sent in an earlier digest; none is sent twice.
    AlreadySent,
    /// The user rated it; rated papers are never offered again.
    Rated {
        /// How.
        kind: FeedbackKind,
    },
    /// It is in the user's profile.
    InProfile,
    /// One of the user's rules rules it out.
    Muted {
        /// The rule, in words.
        rule: String,
    },
    /// It was announced outside the digest's window of days.
    OutsideWindow {
        /// The first day of the window.
        from: String,
        /// The last day.
        to: String,
    },
    /// Its cosine to every profile item is below the floor.
    BelowFloor {
        /// The floor.
        floor: f32,
        /// Its best cosine to a profile item.
        similarity: f32,
    },
    /// Relevance alone would have picked it, but diversity gave its place to a pick much like
    /// it.
    PushedOutBy {
        /// The pick's id.
        id: String,
        /// The pick's title.
        title: String,
        /// Cosine between the two papers.
        similarity: f32,
        /// Where it ranks with diversity.
        rank: usize,
    },
    /// The user muted the facet of their profile it belongs to (the facet of its nearest item).
    FacetMuted {
        /// The facet's name.
        facet: String,
    },
    /// It scores high enough for the digest, but its facet's section was full: the other
    /// facets' slots went to their own papers (see [`crate::facets`]).
    SectionFull {
        /// The facet's name.
        facet: String,
        /// Where it ranks by score alone.
        rank: usize,
    },
    /// The digest's picks scored higher.
    Outranked {
        /// Where it ranks (1 the first); `None` below the first [`DEPTH`].
        rank: Option<usize>,
    },
}

/// The answer: the paper, the verdict, and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhyNot {
    /// The user asked about.
    pub user: String,
    /// The paper asked about.
    pub paper: Asked,
    /// The first day of the digest's window.
    pub from: String,
    /// The last day of the window.
    pub to: String,
    /// Papers the digest could choose from.
    pub candidates: usize,
    /// Papers a digest holds for this user.
    pub size: usize,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Its ranking score, when it was ranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The score of the digest's last pick: the score to beat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<f32>,
    /// Its explanation as a pick would have it, when it was ranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<Because>,
    /// The profile items it is nearest, best first.
    pub nearest: Vec<ProfileMatch>,
}

impl WhyNot {
    /// The verdict as one sentence, for people.
    pub fn sentence(&self) -> String {
        let size = self.size;
        match &self.verdict {
            Verdict::Picked { rank } => {
                format!(
                    "It is pick {rank} of {size} in the digest of {} … {}.",
                    self.from, self.to
                )
            }
            Verdict::AlreadySent => {
                "It was sent in an earlier digest; no paper is sent twice.".to_owned()
            }
            Verdict::Rated { kind } => format!(
                "You rated it ({}); rated papers are not offered again.",
                kind.as_str()
            ),
            Verdict::InProfile => "It is in your profile already.".to_owned(),
            Verdict::Muted { rule } => format!("Your rule {rule} rules it out."),
            Verdict::OutsideWindow { from, to } => format!(
                "It was announced {}, outside the digest's days {from} … {to}.",
                self.paper.date.as_deref().unwrap_or("on an unknown day")
            ),
            Verdict::BelowFloor { floor, similarity } => format!(
                "Its best similarity to your profile, {similarity:.2}, is below your floor of {floor:.2}."
            ),
            Verdict::PushedOutBy {
                title,
                similarity,
                rank,
                ..
            } => format!(
                "By relevance alone it would be picked, but it ranks {rank} with diversity: the pick \
                 “{title}” is much like it (similarity {similarity:.2})."
            ),
            Verdict::FacetMuted { facet } => {
                format!("It belongs to your interest “{facet}”, which you muted.")
            }
            Verdict::SectionFull { facet, rank } => format!(
                "It ranks {rank} by score, but your interest “{facet}” had its share of the \
                 digest's {size} places; the others went to your other interests."
            ),
            Verdict::Outranked { rank: Some(rank) } => format!(
                "It ranks {rank} of {}; a digest holds {size}{}.",
                self.candidates,
                self.cutoff
                    .map(|cut| format!(", and the last pick scores {cut:.2}"))
                    .unwrap_or_default()
            ),
            Verdict::Outranked { rank: None } => format!(
                "It ranks below the first {} of {} candidates; a digest holds {size}.",
                DEPTH.min(self.candidates),
                self.candidates
            ),
        }
    }
}

/// Why `key` (an arXiv id, DOI or paperscout id) is or is not in `user`'s digest of `window`.
pub fn why_not(
    store: &dyn Store,
    model: &dyn TextEmbedder,
    user: &str,
    key: &str,
    window: Window,
    params: &DigestParams,
    size: Option<usize>,
) -> Result<WhyNot> {
    let settings = store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?
        .settings;
    let found = store
        .find_paper(key)?
        .ok_or_else(|| AppError::UnknownPaper(key.to_owned()))?;
    let paper = found.paper;
    let sent: HashSet<String> = store.sent(user)?.into_iter().collect();
    let (from, to) = window_days(store, &sent, window)?;
    let pool = Pool::announced(store, model, &from, &to)?;
    let mut rows = SharedRows::new(model.key().dim);
    let input = UserInput::load(store, model, user, &pool, &mut rows)?;
    let size = size.or(input.size).unwrap_or(params.size);
    let vector = match store.embedding(&paper.id, model.key())? {
        Some(vector) => vector,
        None => model
            .embed_texts(&[paper.embedding_text()])
            .map_err(AppError::Embedding)?
            .pop()
            .ok_or_else(|| AppError::Bug("the embedder returned no vector".to_owned()))?,
    };
    let mut answer = WhyNot {
        user: user.to_owned(),
        paper: Asked {
            id: paper.id.clone(),
            title: paper.title.clone(),
            date: paper.date.clone(),
        },
        from: from.clone(),
        to: to.clone(),
        candidates: input.eligible(&pool),
        size,
        verdict: Verdict::Outranked { rank: None },
        score: None,
        cutoff: None,
        because: None,
        nearest: input.nearest_items(&rows, &vector, NEAREST),
    };
    let rules = CompiledRules::new(&settings.rules);
    let facts = PaperFacts::new(
        &paper.title,
        &paper.abstract_text,
        &paper.authors,
        &paper.categories,
    );
    let in_window = paper
        .date
        .as_deref()
        .is_some_and(|day| from.as_str() <= day && day <= to.as_str());
    let best = answer.nearest.first().map_or(-1.0, |m| m.similarity);
    let floor = params.floor_for(input.floor());
    // The order is the chooser's: what it never considers first, then what it filters.
    let profile = store.profile(user)?;
    let rated = store
        .feedback(user)?
        .into_iter()
        .rev()
        .find(|event| event.paper_id == paper.id);
    answer.verdict = if profile
        .iter()
        .any(|item| item.subject == ProfileSubject::Paper(paper.id.clone()))
    {
        Verdict::InProfile
    } else if let Some(event) = rated {
        Verdict::Rated { kind: event.kind }
    } else if sent.contains(&paper.id) {
        Verdict::AlreadySent
    } else if let Some(rule) = rules.judge(&facts).muted_by {
        Verdict::Muted { rule }
    } else if !in_window {
        Verdict::OutsideWindow { from, to }
    } else if let Some(floor) = floor.filter(|floor| best < *floor) {
        Verdict::BelowFloor {
            floor,
            similarity: best,
        }
    } else {
        return placed(answer, &pool, &rows, &input, params, &vector);
    };
    Ok(answer)
}

/// The verdict of a candidate the chooser ranks: picked, pushed out by diversity, or outranked.
fn placed(
    mut answer: WhyNot,
    pool: &Pool,
    rows: &SharedRows,
    input: &UserInput,
    params: &DigestParams,
    vector: &[f32],
) -> Result<WhyNot> {
    let size = answer.size;
    let depth = DEPTH.max(size).min(answer.candidates);
    let ranked = pool.choose(
        rows,
        input,
        &DigestParams {
            size: depth,
            ..*params
        },
    );
    // The digest itself, sectioned as it is sent.
    let found = crate::facets::find(input, rows, params.feedback_half_life_days, true);
    let sized = DigestParams { size, ..*params };
    let (digest, _) = pool.choose_in(rows, input, &sized, &found);
    answer.cutoff = digest.iter().map(|e| e.score).reduce(f32::min);
    let Some(place) = ranked.iter().position(|e| e.paper.id == answer.paper.id) else {
        return Ok(answer);
    };
    let entry = &ranked[place];
    answer.score = Some(entry.score);
    answer.because = Some(entry.because.clone());
    if let Some(pick) = digest.iter().position(|e| e.paper.id == answer.paper.id) {
        answer.verdict = Verdict::Picked { rank: pick + 1 };
        return Ok(answer);
    }
    // Its facet is the one of the profile item it is nearest, as a pick's is.
    let nearest = input.nearest_item(rows, vector);
    if let Some(facet) = nearest.and_then(|item| found.facets.get(found.of_item[item])) {
        if facet.mode == paperscout_types::FacetMode::Muted {
            answer.verdict = Verdict::FacetMuted {
                facet: facet.name.clone(),
            };
            return Ok(answer);
        }
        if place < size {
            answer.verdict = Verdict::SectionFull {
                facet: facet.name.clone(),
                rank: place + 1,
            };
            return Ok(answer);
        }
    }
    answer.verdict = Verdict::Outranked {
        rank: Some(place + 1),
    };
    // Relevance alone: would it have made the digest?
    let by_relevance = pool.choose(
        rows,
        input,
        &DigestParams {
            size,
            mmr_lambda: 1.0,
            ..*params
        },
    );
    if by_relevance.iter().any(|e| e.paper.id == answer.paper.id) {
        let nearest_pick = ranked[..size]
            .iter()
            .filter_map(|pick| Some((pick, pool.vector(pool.position_of(&pick.paper.id)?))))
            .map(|(pick, pick_vector)| (pick, dot(pick_vector, vector)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((pick, similarity)) = nearest_pick {
            answer.verdict = Verdict::PushedOutBy {
                id: pick.paper.id.clone(),
                title: pick.paper.title.clone(),
                similarity,
                rank: place + 1,
            };
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Words, paper, store};
    use crate::users::{SettingsChange, change_settings, record_feedback};
    use chrono::NaiveDate;
    use paperscout_store::{MemoryStore, PaperWrite};

    fn window(after_last_sent: bool) -> Window {
        Window {
            day: NaiveDate::from_ymd_opt(2025, 3, 18).expect("a day"),
            days: 3,
            after_last_sent,
        }
    }

    fn ask(store: &MemoryStore, key: &str, params: &DigestParams) -> WhyNot {
        why_not(
            store,
            &Words::new(),
            "ada",
            key,
            window(true),
            params,
            Some(2),
        )
        .expect("answered")
    }

    fn two() -> DigestParams {
        DigestParams {
            size: 2,
            ..DigestParams::default()
        }
    }

    #[test]
    fn a_pick_is_placed_and_a_weak_paper_outranked_with_the_score_to_beat() {
        let store = store();
        let picked = ask(&store, "2503.10001", &two());
        assert_eq!(picked.verdict, Verdict::Picked { rank: 1 });
        assert_eq!(picked.size, 2);
        let because = picked.because.expect("explained");
        assert_eq!(because.item, "Graph neural networks for molecules");
        assert_eq!(picked.nearest[0].item, because.item);

        let weak = ask(&store, "2503.10005", &two());
        let Verdict::Outranked { rank: Some(rank) } = weak.verdict else {
            panic!("the speech paper is ranked below the picks: {weak:?}");
        };
        assert!(rank > 2, "{rank}");
        assert!(weak.score.expect("scored") < weak.cutoff.expect("a cut-off"));
    }

    #[test]
    fn what_the_chooser_never_considers_says_why() {
        let mut store = store();
        let words = Words::new();
        assert_eq!(
            ask(&store, "2503.00001", &two()).verdict,
            Verdict::InProfile
        );

        record_feedback(
            &mut store,
            "ada",
            FeedbackKind::Dismiss,
            &["2503.10006".to_owned()],
            2,
        )
        .expect("dismissed");
        assert_eq!(
            ask(&store, "2503.10006", &two()).verdict,
            Verdict::Rated {
                kind: FeedbackKind::Dismiss
            }
        );

        let change = SettingsChange {
            mute_categories: vec!["cs.CR".to_owned()],
            min_similarity: Some(0.5),
            ..SettingsChange::default()
        };
        change_settings(&mut store, "ada", &change).expect("rules set");
        let Verdict::Muted { rule } = ask(&store, "2503.10003", &two()).verdict else {
            panic!("cs.CR is muted");
        };
        assert!(rule.contains("cs.CR"), "{rule}");
        let Verdict::BelowFloor { floor, similarity } = ask(&store, "2503.10005", &two()).verdict
        else {
            panic!("speech is below the floor");
        };
        assert!((floor - 0.5).abs() < 1e-6 && similarity < floor);

        let old = paper(
            "2502.00009",
            "2025-02-01",
            "Graph networks of old",
            "Graphs.",
            &["cs.LG"],
        );
        let vector = Words::vector(&old.embedding_text());
        store
            .write_papers(
                &[PaperWrite {
                    paper: &old,
                    source: "test",
                    embedding: Some(&vector),
                }],
                Some(words.key()),
                3,
            )
            .expect("written");
        assert_eq!(
            ask(&store, "2502.00009", &two()).verdict,
            Verdict::OutsideWindow {
                from: "2025-03-16".to_owned(),
                to: "2025-03-18".to_owned()
            }
        );

        store
            .record_sent("ada", &["arXiv:2503.10001"], 4)
            .expect("sent");
        assert_eq!(
            ask(&store, "2503.10001", &two()).verdict,
            Verdict::AlreadySent
        );
        let unknown = why_not(
            &store,
            &words,
            "ada",
            "2599.99999",
            window(true),
            &two(),
            None,
        );
        assert!(matches!(unknown, Err(AppError::UnknownPaper(_))));
    }

    #[test]
    fn diversity_names_the_pick_that_took_the_place() {
        let store = store();
        let diverse = DigestParams {
            size: 2,
            mmr_lambda: 0.0,
            ..DigestParams::default()
        };
        let relevance_only = why_not(
            &store,
            &Words::new(),
            "ada",
            "2503.10002",
            window(false),
            &DigestParams {
                mmr_lambda: 1.0,
                ..diverse
            },
            Some(2),
        )
        .expect("answered");
        assert!(
            matches!(relevance_only.verdict, Verdict::Picked { .. }),
            "{relevance_only:?}"
        );
        let answer = why_not(
            &store,
            &Words::new(),
            "ada",
            "2503.10002",
            window(false),
            &diverse,
            Some(2),
        )
        .expect("answered");
        let Verdict::PushedOutBy { id, similarity, .. } = answer.verdict else {
            panic!("with no weight on relevance the near-duplicate loses its place: {answer:?}");
        };
        assert_eq!(id, "arXiv:2503.10001");
        assert!(similarity > 0.3, "{similarity}");
    }
}
