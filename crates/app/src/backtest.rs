//! A personal backtest: how well paperscout would have served one user, on their own papers.
//!
//! The user's latest papers (profile papers, likes and saves, by announcement day) are held
//! out: they leave the profile, the ratings and the papers sent, so they count neither as
//! evidence nor as papers already seen. Each day one of them was announced is then replayed:
//! every paper announced that day is a candidate, ranked for the user as the digest ranks
//! (hybrid scores, dislikes, rules, diversity), and the held-out paper's place is recorded.
//! The vocabulary and the score standardisation are the day's candidates', as in a digest,
//! so nothing the held-out papers say reaches the ranking but their own text as candidates.
//! The ranking runs without the user's floor, so that the report can say what a floor or a
//! size would have cost.

use std::collections::{BTreeMap, HashSet};

use paperscout_rank::DigestParams;
use paperscout_store::{FeedbackKind, ProfileSubject, Store};
use serde::{Deserialize, Serialize};

use crate::choose::{Pool, SharedRows, TextEmbedder, UserInput};
use crate::error::{AppError, Result};

/// Digest sizes the report asks about.
pub const SIZES: [usize; 4] = [5, 10, 20, 50];

/// Floors (`min_similarity`) the report asks about.
pub const FLOORS: [f32; 4] = [0.2, 0.3, 0.4, 0.5];

/// How deep each replayed day is ranked; a held-out paper below it counts as missed.
pub const DEPTH: usize = 100;

/// One held-out paper and where it would have ranked on its day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    /// The paper's id.
    pub paper: String,
    /// Its title.
    pub title: String,
    /// The day it was announced, which was replayed.
    pub day: String,
    /// How it came into the profile: `profile`, `liked` or `saved`.
    pub how: String,
    /// Papers announced that day that the user could have been offered.
    pub candidates: usize,
    /// Its place in that day's digest (1 is first); none below [`DEPTH`].
    pub rank: Option<usize>,
    /// Its cosine to the nearest profile item left, which a floor compares; none when it
    /// was not ranked.
    pub similarity: Option<f32>,
}

/// The backtest's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// The user.
    pub user: String,
    /// Profile papers, likes and saves the ranking kept.
    pub kept: usize,
    /// The held-out papers, oldest day first.
    pub held_out: Vec<HeldOut>,
    /// For each size of [`SIZES`], the share of held-out papers a digest of that size holds.
    pub hit_at: Vec<(usize, f64)>,
    /// Mean reciprocal rank (0 for a paper below [`DEPTH`]).
    pub mrr: f64,
    /// For each floor of [`FLOORS`], the held-out papers in the top 10 that it would have
    /// left out.
    pub floor_cost: Vec<(f32, usize)>,
}

/// A share as people write it, `0.2` or `20%`, for `--holdout`.
pub fn parse_share(text: &str) -> std::result::Result<f64, String> {
    let (number, scale) = text.strip_suffix('%').map_or((text, 1.0), |n| (n, 100.0));
    number
        .trim()
        .parse::<f64>()
        .map(|value| value / scale)
        .map_err(|_| format!("{text:?} is not a share: give 0.2 or 20%"))
}

/// Hides the latest `holdout` share (at least one paper, at most all but one) of `user`'s
/// profile papers, likes and saves, and replays their days.
pub fn backtest(
    store: &dyn Store,
    model: &dyn TextEmbedder,
    user: &str,
    holdout: f64,
    params: &DigestParams,
) -> Result<Backtest> {
    if !(holdout > 0.0 && holdout < 1.0) {
        return Err(AppError::Usage(format!(
            "a holdout of {holdout} is out of range: give a share between 0 and 1, such as 0.2"
        )));
    }
    store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.to_owned()))?;
    let papers = evidence(store, user)?;
    if papers.len() < 2 {
        return Err(AppError::Usage(format!(
            "{user} has {} profile papers, likes and saves with an announcement day: a backtest \
             hides some and ranks with the rest, so it needs at least two",
            papers.len()
        )));
    }
    let count = ((papers.len() as f64 * holdout).ceil() as usize).clamp(1, papers.len() - 1);
    let (kept, hidden_part) = papers.split_at(papers.len() - count);
    let hidden: HashSet<String> = hidden_part.iter().map(|(_, id, _)| id.clone()).collect();
    let mut by_day: BTreeMap<&str, Vec<&(String, String, String)>> = BTreeMap::new();
    for held in hidden_part {
        by_day.entry(held.0.as_str()).or_default().push(held);
    }
    let params = DigestParams {
        size: DEPTH,
        min_similarity: None,
        ..*params
    };
    let mut held_out = Vec::new();
    for (day, held) in by_day {
        let pool = Pool::announced(store, model, day, day)?;
        let mut rows = SharedRows::new(model.key().dim);
        let input =
            UserInput::load_hiding(store, model, user, &pool, &mut rows, &hidden)?.without_floor();
        let picks = pool.choose(&rows, &input, &params);
        for (_, id, how) in held {
            let place = picks.iter().position(|entry| entry.paper.id == *id);
            let title = store
                .paper(id)?
                .map(|stored| stored.paper.title)
                .unwrap_or_default();
            held_out.push(HeldOut {
                paper: id.clone(),
                title,
                day: day.to_owned(),
                how: how.clone(),
                candidates: input.eligible(&pool),
                rank: place.map(|at| at + 1),
                similarity: place.map(|at| picks[at].because.similarity),
            });
        }
    }
    Ok(summarise(user, kept.len(), held_out))
}

/// The user's papers that a backtest may hold out, oldest announcement first (ties by id):
/// (day, id, how it came in). Interests have no day, and papers the store lacks or that
/// have no day cannot be replayed.
fn evidence(store: &dyn Store, user: &str) -> Result<Vec<(String, String, String)>> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let profile = store
        .profile(user)?
        .into_iter()
        .filter_map(|item| match item.subject {
            ProfileSubject::Paper(id) => Some((id, "profile")),
            ProfileSubject::Interest(_) => None,
        });
    let liked = store
        .feedback(user)?
        .into_iter()
        .filter_map(|event| match event.kind {
            FeedbackKind::Like => Some((event.paper_id, "liked")),
            FeedbackKind::Save => Some((event.paper_id, "saved")),
            FeedbackKind::Dislike | FeedbackKind::Dismiss => None,
        });
    for (id, how) in profile.chain(liked) {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(day) = store.paper(&id)?.and_then(|stored| stored.paper.date) {
            found.push((day, id, how.to_owned()));
        }
    }
    found.sort();
    Ok(found)
}

fn summarise(user: &str, kept: usize, held_out: Vec<HeldOut>) -> Backtest {
    let n = held_out.len().max(1) as f64;
    let share =
        |hit: &dyn Fn(&HeldOut) -> bool| held_out.iter().filter(|h| hit(h)).count() as f64 / n;
    let hit_at = SIZES
        .iter()
        .map(|&size| (size, share(&|h| h.rank.is_some_and(|r| r <= size))))
        .collect();
    let mrr = held_out
        .iter()
        .map(|h| h.rank.map_or(0.0, |r| 1.0 / r as f64))
        .fold(0.0, |total, value| total + value)
        / n;
    let floor_cost = FLOORS
        .iter()
        .map(|&floor| {
            let cut = held_out
                .iter()
                .filter(|h| h.rank.is_some_and(|r| r <= 10))
                .filter(|h| h.similarity.is_some_and(|s| s < floor))
                .count();
            (floor, cut)
        })
        .collect();
    Backtest {
        user: user.to_owned(),
        kept,
        held_out,
        hit_at,
        mrr,
        floor_cost,
    }
}

#[cfg(test)]
mod tests {
    use paperscout_store::{Feedback, Store};

    use super::*;
    use crate::testing::{self, Words};

    fn liked(store: &mut dyn Store, id: &str, at: i64) {
        store
            .add_feedback(
                "ada",
                &Feedback {
                    paper_id: format!("arXiv:{id}"),
                    kind: FeedbackKind::Like,
                    at,
                },
            )
            .expect("rated");
    }

    #[test]
    fn the_latest_paper_is_held_out_and_ranked_on_its_day_without_peeking() {
        let mut store = testing::store();
        liked(&mut store, "2503.10002", 5);
        let report = backtest(&store, &Words::new(), "ada", 0.5, &DigestParams::default())
            .expect("backtested");
        assert_eq!(report.kept, 1, "the profile paper of 2025-03-10 stays");
        assert_eq!(report.held_out.len(), 1);
        let held = &report.held_out[0];
        assert_eq!(
            (held.paper.as_str(), held.day.as_str(), held.how.as_str()),
            ("arXiv:2503.10002", "2025-03-18", "liked")
        );
        assert_eq!(held.candidates, 6, "the liked paper is a candidate again");
        let rank = held.rank.expect("ranked");
        assert!(rank <= 3, "a graph paper for a graph profile: {report:?}");
        assert_eq!(report.hit_at[1], (10, 1.0));
        assert!((report.mrr - 1.0 / rank as f64).abs() < 1e-12);
        assert!(held.similarity.is_some_and(|s| s > 0.0));
        assert_eq!(
            store.feedback("ada").expect("read").len(),
            1,
            "nothing changed"
        );
    }

    #[test]
    fn too_little_evidence_or_a_bad_share_is_refused() {
        let store = testing::store();
        let model = Words::new();
        let params = DigestParams::default();
        let err = backtest(&store, &model, "ada", 0.2, &params).expect_err("one paper only");
        assert!(err.to_string().contains("at least two"), "{err}");
        assert!(backtest(&store, &model, "ada", 1.0, &params).is_err());
        assert!(backtest(&store, &model, "nobody", 0.2, &params).is_err());
    }

    #[test]
    fn shares_read_as_fractions_or_percentages() {
        assert_eq!(parse_share("20%"), Ok(0.2));
        assert_eq!(parse_share("0.25"), Ok(0.25));
        assert!(parse_share("a fifth").is_err());
    }

    #[test]
    fn a_floor_costs_what_it_would_have_cut() {
        let held = |rank: Option<usize>, similarity: Option<f32>| HeldOut {
            paper: String::new(),
            title: String::new(),
            day: String::new(),
            how: "liked".to_owned(),
            candidates: 10,
            rank,
            similarity,
        };
        let report = summarise(
            "ada",
            3,
            vec![
                held(Some(1), Some(0.45)),
                held(Some(12), Some(0.25)),
                held(None, None),
            ],
        );
        assert_eq!(
            report.hit_at,
            [
                (5, 1.0 / 3.0),
                (10, 1.0 / 3.0),
                (20, 2.0 / 3.0),
                (50, 2.0 / 3.0)
            ]
        );
        assert!((report.mrr - (1.0 + 1.0 / 12.0) / 3.0).abs() < 1e-12);
        assert_eq!(report.floor_cost, [(0.2, 0), (0.3, 0), (0.4, 0), (0.5, 1)]);
    }
}
