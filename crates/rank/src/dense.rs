//! Dense unit vectors in one row-major matrix, and their similarities through one matrix product.

use paperscout_linalg::{MatRef, matmul};

/// Rows of equal length, stored contiguously.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matrix {
    dim: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// An empty matrix of rows of length `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
        }
    }

    /// A matrix over `data`, `dim` values a row.
    ///
    /// # Panics
    /// If `data` is not a whole number of rows.
    pub fn from_data(dim: usize, data: Vec<f32>) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "{} values are not rows of {dim}",
            data.len()
        );
        Self { dim, data }
    }

    /// Appends a row.
    ///
    /// # Panics
    /// If its length is not the matrix's.
    pub fn push(&mut self, row: &[f32]) {
        assert_eq!(row.len(), self.dim, "a row of the wrong length");
        self.data.extend_from_slice(row);
    }

    /// The length of a row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at these indices, in this order, as a new matrix.
    pub fn select(&self, rows: &[usize]) -> Self {
        let mut out = Self::new(self.dim);
        out.data.reserve(rows.len() * self.dim);
        for &i in rows {
            out.push(self.row(i));
        }
        out
    }

    /// Rows `start..end` as a new matrix.
    pub fn slice_rows(&self, start: usize, end: usize) -> Self {
        Self {
            dim: self.dim,
            data: self.data[start * self.dim..end * self.dim].to_vec(),
        }
    }

    /// All values, row after row.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Scales every row to unit length (rows of zeros stay zero).
    pub fn normalise_rows(&mut self) {
        for row in self.data.chunks_exact_mut(self.dim.max(1)) {
            normalise(row);
        }
    }

    /// `out[i · others.rows() + j] = self.row(i) · others.row(j)`, by one matrix product.
    pub fn dot_all(&self, others: &Matrix, parallel: bool) -> Vec<f32> {
        let mut out = Vec::new();
        self.dot_all_into(others, parallel, &mut out);
        out
    }

    /// [`Matrix::dot_all`] into `out`, whose allocation is reused.
    pub fn dot_all_into(&self, others: &Matrix, parallel: bool, out: &mut Vec<f32>) {
        assert_eq!(self.dim, others.dim, "rows of different lengths");
        let (m, n) = (self.rows(), others.rows());
        out.clear();
        out.resize(m * n, 0.0);
        if m == 0 || n == 0 {
            return;
        }
        // `others` read as dim × n: element (k, j) lives at j·dim + k.
        let transposed = MatRef {
            data: &others.data,
            rows: self.dim,
            cols: n,
            row_stride: 1,
            col_stride: self.dim,
        };
        matmul(
            MatRef::row_major(&self.data, m, self.dim),
            transposed,
            out,
            n,
            1.0,
            parallel,
        );
    }
}

/// Scales a vector to unit length in place; a zero vector stays zero.
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The inner product.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_all_is_every_pair_of_rows() {
        let a = Matrix::from_data(2, vec![1.0, 0.0, 0.0, 2.0]);
        let b = Matrix::from_data(2, vec![3.0, 4.0, 1.0, 1.0, 0.0, -1.0]);
        assert_eq!(a.dot_all(&b, false), [3.0, 1.0, 0.0, 8.0, 2.0, -2.0]);
        let mut unit = b.clone();
        unit.normalise_rows();
        assert!((dot(unit.row(0), unit.row(0)) - 1.0).abs() < 1e-6);
        assert_eq!(b.select(&[2, 0]).as_slice(), [0.0, -1.0, 3.0, 4.0]);
    }
}
