//! Vectors computed elsewhere: row-major little-endian float16 matrices without a header, as the
//! peer's embeddings in the shared data are stored.

use crate::error::{IndexError, Result};

/// Decodes `bytes` as rows of `dim` little-endian f16 values.
pub fn f16_rows(bytes: &[u8], dim: usize) -> Result<Vec<Vec<f32>>> {
    let row_bytes = dim * 2;
    if dim == 0 || !bytes.len().is_multiple_of(row_bytes) {
        return Err(IndexError::Matrix {
            bytes: bytes.len(),
            dim,
        });
    }
    Ok(bytes
        .chunks_exact(row_bytes)
        .map(|row| {
            row.chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rows_and_refuses_ragged_input() {
        let bytes: Vec<u8> = [1.0f32, -0.5, 0.25, 2.0]
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect();
        assert_eq!(
            f16_rows(&bytes, 2).expect("whole rows"),
            vec![vec![1.0, -0.5], vec![0.25, 2.0]]
        );
        assert!(matches!(
            f16_rows(&bytes[..6], 2),
            Err(IndexError::Matrix { bytes: 6, dim: 2 })
        ));
    }
}
