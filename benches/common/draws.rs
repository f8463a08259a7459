//! What the benches that make up users share: the same draws in every run.

/// A fixed generator of numbers below a bound (xorshift64), so that every run draws the same
/// users.
pub fn fixed_draws() -> impl FnMut(usize) -> usize {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    }
}
