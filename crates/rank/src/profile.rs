//! The users a ranking serves: [`UserProfile`], one user with the vectors and texts it holds,
//! and [`SharedProfile`], one user referring to [`ProfileRows`], where each distinct paper or
//! statement of interest of everyone ranked together is stored once.

use std::collections::HashMap;

use crate::dense::Matrix;

/// One user as a digest sees them.
#[derive(Debug, Clone, Copy)]
pub struct UserProfile<'a> {
    /// Unit embeddings of the profile items (papers, interests, likes, saves), newest first.
    pub item_vectors: &'a Matrix,
    /// The text of each profile item.
    pub item_texts: &'a [String],
    /// Unit embeddings of disliked and dismissed papers.
    pub negative_vectors: &'a Matrix,
    /// Candidates never to choose (sent before, rated, in the profile, ruled out by the
    /// user's rules), by index. They stay out of the mean and deviation the scores are
    /// standardised by, in the batch and the one-user path alike, so the two agree.
    pub excluded: &'a [usize],
    /// Each profile item's age in days as feedback (a like or a save); 0 for what the user
    /// added, which never fades. Empty: none fades.
    pub item_ages_days: &'a [f32],
    /// Each disliked or dismissed paper's age in days. Empty: none fades.
    pub negative_ages_days: &'a [f32],
    /// Candidates the user's keyword and author rules lift, with how many rules fired.
    pub boosted: &'a [(usize, usize)],
    /// The user's own floor on the closest profile item's cosine; the stricter of it and
    /// [`crate::DigestParams::min_similarity`] applies.
    pub min_similarity: Option<f32>,
}

impl<'a> UserProfile<'a> {
    /// A profile with no ages, boosts or floor of its own.
    pub fn new(
        item_vectors: &'a Matrix,
        item_texts: &'a [String],
        negative_vectors: &'a Matrix,
        excluded: &'a [usize],
    ) -> Self {
        Self {
            item_vectors,
            item_texts,
            negative_vectors,
            excluded,
            item_ages_days: &[],
            negative_ages_days: &[],
            boosted: &[],
            min_similarity: None,
        }
    }
}

/// How much feedback `age_days` old counts: 1 when new, ½ after one half-life; always 1 when
/// the half-life is 0 (no fading).
pub fn fade(age_days: f32, half_life_days: f32) -> f32 {
    if half_life_days > 0.0 && age_days > 0.0 {
        0.5f32.powf(age_days / half_life_days)
    } else {
        1.0
    }
}

/// The distinct rows that users' profiles refer to.
#[derive(Debug, Clone)]
pub struct ProfileRows {
    /// Unit vectors: of profile items and of disliked papers.
    pub vectors: Matrix,
    /// Texts of profile items (title and abstract, or the statement of interest).
    pub texts: Vec<String>,
}

/// One profile item: its rows in [`ProfileRows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    /// Its vector.
    pub vector: u32,
    /// Its text.
    pub text: u32,
}

/// One user as [`crate::CandidateSet::rank`] sees them: [`UserProfile`] with rows referred to, not held.
#[derive(Debug, Clone)]
pub struct SharedProfile<'a> {
    /// The profile items, newest first.
    pub items: Vec<ItemRef>,
    /// The vectors of disliked and dismissed papers.
    pub negatives: Vec<u32>,
    /// Candidates never to choose, by index (see [`UserProfile::excluded`]).
    pub excluded: &'a [usize],
    /// Each item's age in days as feedback; empty: none fades.
    pub item_ages_days: &'a [f32],
    /// Each negative's age in days; empty: none fades.
    pub negative_ages_days: &'a [f32],
    /// Candidates the user's rules lift, with how many rules fired.
    pub boosted: &'a [(usize, usize)],
    /// The user's own floor on the closest item's cosine.
    pub min_similarity: Option<f32>,
}

impl ProfileRows {
    /// No rows yet, of vectors `dim` long.
    pub fn new(dim: usize) -> Self {
        Self {
            vectors: Matrix::new(dim),
            texts: Vec::new(),
        }
    }

    /// Profiles as shared rows, each distinct vector and text stored once.
    pub fn intern<'a>(dim: usize, users: &[UserProfile<'a>]) -> (Self, Vec<SharedProfile<'a>>) {
        let mut rows = Self::new(dim);
        let mut vectors: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut texts: HashMap<&'a str, u32> = HashMap::new();
        let mut vector_row = |rows: &mut Self, vector: &[f32]| -> u32 {
            let key: Vec<u32> = vector.iter().map(|x| x.to_bits()).collect();
            *vectors.entry(key).or_insert_with(|| {
                rows.vectors.push(vector);
                (rows.vectors.rows() - 1) as u32
            })
        };
        let mut shared = Vec::with_capacity(users.len());
        for user in users {
            let mut items = Vec::with_capacity(user.item_vectors.rows());
            for (i, text) in (0..user.item_vectors.rows()).zip(user.item_texts) {
                let vector = vector_row(&mut rows, user.item_vectors.row(i));
                let text = *texts.entry(text.as_str()).or_insert_with(|| {
                    rows.texts.push(text.clone());
                    (rows.texts.len() - 1) as u32
                });
                items.push(ItemRef { vector, text });
            }
            let negatives = (0..user.negative_vectors.rows())
                .map(|n| vector_row(&mut rows, user.negative_vectors.row(n)))
                .collect();
            shared.push(SharedProfile {
                items,
                negatives,
                excluded: user.excluded,
                item_ages_days: user.item_ages_days,
                negative_ages_days: user.negative_ages_days,
                boosted: user.boosted,
                min_similarity: user.min_similarity,
            });
        }
        (rows, shared)
    }
}
