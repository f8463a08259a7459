//! From token vectors to one unit-length text vector.
//!
//! Mean pooling averages over real tokens only: padding is masked out of both the sum and the
//! count, so a text embeds the same alone or padded inside a batch of longer texts.

use candle_core::{D, Tensor};

use crate::model_dir::Pooling;

/// Pools `hidden` (`batch × tokens × dim`) under `mask` (`batch × tokens`, 1.0 for real tokens,
/// 0.0 for padding) into `batch × dim`.
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> candle_core::Result<Tensor> {
    match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
        Pooling::Mean => {
            let mask = mask.unsqueeze(D::Minus1)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            // sentence-transformers clamps the count the same way; it only matters for a
            // sequence with no real token, which the tokenizer never produces.
            let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
            summed.broadcast_div(&counts)
        }
    }
}

/// Scales each row to unit L2 norm (a zero row stays zero), as `torch.nn.functional.normalize`.
pub fn l2_normalize(rows: &Tensor) -> candle_core::Result<Tensor> {
    let norms = rows
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    rows.broadcast_div(&norms)
}

/// Pools packed token rows (text after text, `lengths[i]` rows each, `dim` wide) into one
/// unit-length vector per text: the same computation as [`pool`] and [`l2_normalize`], for
/// encoders that never pad.
pub fn pool_packed(
    hidden: &[f32],
    dim: usize,
    lengths: &[usize],
    pooling: Pooling,
) -> Vec<Vec<f32>> {
    let mut start = 0;
    lengths
        .iter()
        .map(|&len| {
            let rows = &hidden[start * dim..(start + len) * dim];
            start += len;
            let mut vector = match pooling {
                Pooling::Cls => rows[..dim].to_vec(),
                Pooling::Mean => {
                    let mut sum = vec![0f32; dim];
                    for row in rows.chunks_exact(dim) {
                        for (s, v) in sum.iter_mut().zip(row) {
                            *s += v;
                        }
                    }
                    let count = (len as f32).max(1e-9);
                    sum.iter_mut().for_each(|s| *s /= count);
                    sum
                }
            };
            let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            vector.iter_mut().for_each(|v| *v /= norm);
            vector
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn tensor3(data: &[f32], shape: (usize, usize, usize)) -> Tensor {
        Tensor::from_slice(data, shape, &Device::Cpu).expect("tensor")
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        // Two texts of two tokens' room; the second has one real token and one pad.
        let hidden = tensor3(&[1., 2., 3., 4., 10., 20., 99., 99.], (2, 2, 2));
        let mask = Tensor::from_slice(&[1f32, 1., 1., 0.], (2, 2), &Device::Cpu).expect("mask");
        let pooled = pool(&hidden, &mask, Pooling::Mean).expect("pool");
        let rows: Vec<Vec<f32>> = pooled.to_vec2().expect("rows");
        assert_eq!(rows, vec![vec![2., 3.], vec![10., 20.]]);
    }

    #[test]
    fn cls_pooling_takes_the_first_token() {
        let hidden = tensor3(&[1., 2., 3., 4.], (1, 2, 2));
        let mask = Tensor::ones((1, 2), candle_core::DType::F32, &Device::Cpu).expect("mask");
        let rows: Vec<Vec<f32>> = pool(&hidden, &mask, Pooling::Cls)
            .and_then(|t| t.to_vec2())
            .expect("rows");
        assert_eq!(rows, vec![vec![1., 2.]]);
    }

    #[test]
    fn packed_pooling_matches_masked_pooling() {
        // The padded batch of `mean_pooling_ignores_padding`, packed: 2 rows, then 1.
        let packed = [1., 2., 3., 4., 10., 20.];
        let vectors = pool_packed(&packed, 2, &[2, 1], Pooling::Mean);
        let hidden = tensor3(&[1., 2., 3., 4., 10., 20., 99., 99.], (2, 2, 2));
        let mask = Tensor::from_slice(&[1f32, 1., 1., 0.], (2, 2), &Device::Cpu).expect("mask");
        let expected: Vec<Vec<f32>> = pool(&hidden, &mask, Pooling::Mean)
            .and_then(|t| l2_normalize(&t))
            .and_then(|t| t.to_vec2())
            .expect("masked pooling");
        assert_eq!(vectors, expected);
        assert_eq!(
            pool_packed(&packed, 2, &[2, 1], Pooling::Cls)[1],
            [10. / 500f32.sqrt(), 20. / 500f32.sqrt()]
        );
    }

    #[test]
    fn normalises_rows_and_keeps_zero_rows_finite() {
        let rows = Tensor::from_slice(&[3f32, 4., 0., 0.], (2, 2), &Device::Cpu).expect("rows");
        let unit: Vec<Vec<f32>> = l2_normalize(&rows)
            .and_then(|t| t.to_vec2())
            .expect("normalise");
        assert_eq!(unit, vec![vec![0.6, 0.8], vec![0., 0.]]);
    }
}
