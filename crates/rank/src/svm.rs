//! A linear SVM per user, as arxiv-sanity-lite trains one: squared hinge loss, L2 penalty,
//! class-balanced weights, a bias, solved in the dual by coordinate descent (the method of
//! liblinear, which scikit-learn's `LinearSVC` calls).
//!
//! With `C = 0.01` and balanced classes the handful of positives carry large weights and the
//! thousands of negatives tiny ones, so a few passes converge.

use crate::lexical::SparseVec;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvmParams {
    /// The penalty C, scaled per class by n / (2 · n_class).
    pub c: f64,
    /// Stop when the largest projected gradient of a pass falls below this.
    pub tolerance: f64,
    /// Stop after this many passes in any case.
    pub max_passes: usize,
}

impl Default for SvmParams {
    /// arxiv-sanity-lite's C; liblinear's usual tolerance.
    fn default() -> Self {
        Self {
            c: 0.01,
            tolerance: 0.1,
            max_passes: 50,
        }
    }
}

/// A trained linear model: score = w · x + b.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// Weights, one per feature.
    pub weights: Vec<f32>,
    /// The bias.
    pub bias: f32,
}

impl LinearModel {
    /// The decision function of a sparse vector.
    pub fn decision(&self, x: &SparseVec) -> f32 {
        x.dot_dense(&self.weights) + self.bias
    }
}

/// Trains on positives and negatives over `features` dimensions.
pub fn train(
    positives: &[&SparseVec],
    negatives: &[&SparseVec],
    features: usize,
    params: SvmParams,
) -> LinearModel {
    let n = (positives.len() + negatives.len()) as f64;
    let class_c = |count: usize| params.c * n / (2.0 * count.max(1) as f64);
    let (c_pos, c_neg) = (class_c(positives.len()), class_c(negatives.len()));
    let examples: Vec<(&SparseVec, f64, f64)> = positives
        .iter()
        .map(|x| (*x, 1.0, c_pos))
        .chain(negatives.iter().map(|x| (*x, -1.0, c_neg)))
        .collect();
    // The bias is a constant feature of value 1, so x·x gains 1.
    let q_diag: Vec<f64> = examples
        .iter()
        .map(|(x, _, c)| f64::from(x.squared_norm()) + 1.0 + 1.0 / (2.0 * c))
        .collect();
    let mut alpha = vec![0.0f64; examples.len()];
    let mut w = vec![0.0f64; features];
    let mut b = 0.0f64;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..params.max_passes {
        shuffle(&mut order, &mut state);
        let mut largest = 0.0f64;
        for &i in &order {
            let (x, y, c) = examples[i];
            let wx: f64 = x
                .indices
                .iter()
                .zip(&x.values)
                .map(|(&j, &v)| w[j as usize] * f64::from(v))
                .sum::<f64>()
                + b;
            let gradient = y * wx - 1.0 + alpha[i] / (2.0 * c);
            let projected = if alpha[i] == 0.0 {
                gradient.min(0.0)
            } else {
                gradient
            };
            largest = largest.max(projected.abs());
            if projected != 0.0 {
                let old = alpha[i];
                alpha[i] = (old - gradient / q_diag[i]).max(0.0);
                let step = (alpha[i] - old) * y;
                for (&j, &v) in x.indices.iter().zip(&x.values) {
                    w[j as usize] += step * f64::from(v);
                }
                b += step;
            }
        }
        if largest < params.tolerance {
            break;
        }
    }
    LinearModel {
        weights: w.iter().map(|&v| v as f32).collect(),
        bias: b as f32,
    }
}

/// Fisher–Yates with a xorshift generator: a fixed seed, so training is reproducible.
fn shuffle(items: &mut [usize], state: &mut u64) {
    for i in (1..items.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let j = (*state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse(pairs: &[(u32, f32)]) -> SparseVec {
        SparseVec {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn separates_the_positives_from_many_negatives() {
        let positives = [sparse(&[(0, 1.0)]), sparse(&[(0, 0.8), (2, 0.6)])];
        let negatives: Vec<SparseVec> = (0..200)
            .map(|i| sparse(&[(1, 1.0), (2 + (i % 3), 0.5)]))
            .collect();
        let model = train(
            &positives.iter().collect::<Vec<_>>(),
            &negatives.iter().collect::<Vec<_>>(),
            5,
            SvmParams::default(),
        );
        let like = model.decision(&sparse(&[(0, 1.0)]));
        let unlike = model.decision(&sparse(&[(1, 1.0)]));
        assert!(like > 0.0 && unlike < 0.0, "{like} {unlike}");
    }
}
