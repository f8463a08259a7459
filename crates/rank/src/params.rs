//! How a digest is chosen: its size, the diversity, the floors, how dislikes, feedback's age
//! and rules count, and the hybrid method's knobs.

use serde::Serialize;

use crate::methods::HybridParams;

/// How to choose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DigestParams {
    /// Papers in the digest at most.
    pub size: usize,
    /// Maximal marginal relevance: 1 ranks by relevance only, lower values favour variety.
    pub mmr_lambda: f32,
    /// Leave out papers whose cosine to every profile item is below this ("send nothing
    /// rather than noise"); `None` keeps everything.
    pub min_similarity: Option<f32>,
    /// How strongly similarity to disliked papers pushes a candidate down.
    pub dislike_weight: f32,
    /// Feedback (likes, saves, dislikes, dismissals) counts half as much after this many
    /// days; 0 keeps it at full weight forever. Papers and interests the user added never fade.
    pub feedback_half_life_days: f32,
    /// How far each keyword or author rule that fires lifts a paper, in standard deviations
    /// of the score.
    pub rule_boost: f32,
    /// The hybrid method's knobs.
    pub hybrid: HybridParams,
}

impl DigestParams {
    /// Whether the knobs a caller can set are in range: `mmr_lambda` from 0 to 1, and
    /// `min_similarity` a cosine, from -1 to 1. The error names the knob and its range.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.mmr_lambda) {
            return Err(format!(
                "mmr_lambda {} is out of range: give a number from 0 (variety) to 1 (relevance \
                 only)",
                self.mmr_lambda
            ));
        }
        if let Some(floor) = self.min_similarity
            && !(-1.0..=1.0).contains(&floor)
        {
            return Err(format!(
                "min_similarity {floor} is not a cosine: give a number from -1 to 1"
            ));
        }
        Ok(())
    }

    /// The floor that applies to a user with their own `user_floor`: the stricter of the two.
    pub fn floor_for(&self, user_floor: Option<f32>) -> Option<f32> {
        match (self.min_similarity, user_floor) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Default for DigestParams {
    fn default() -> Self {
        Self {
            size: 10,
            mmr_lambda: 0.7,
            min_similarity: None,
            dislike_weight: 1.0,
            feedback_half_life_days: 180.0,
            rule_boost: 1.0,
            hybrid: HybridParams::default(),
        }
    }
}
