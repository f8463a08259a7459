//! A score with the point it belongs to, ordered by score and then by point (the lower point
//! first among equal scores), so that heaps and sorts of search results have one total order.

use std::cmp::Ordering;

/// A score and a point number.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scored<P>(pub(crate) f32, pub(crate) P);

impl<P: Ord> PartialEq for Scored<P> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<P: Ord> Eq for Scored<P> {}

impl<P: Ord> PartialOrd for Scored<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<P: Ord> Ord for Scored<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}
