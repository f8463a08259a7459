//! How many bad records are logged: a few in full, then a count.
//!
//! A 10 KB gzip of `{}` lines is 3.5 million bad records; one log line each wrote 387 MB onto
//! the disk that holds the store. Every caller that logs a source's bad or cut records asks a
//! [`LogBudget`] first, and logs what it refused as one count at the end.

/// Records logged in full per source.
pub const LOGGED_PER_SOURCE: usize = 20;

/// What is left of a source's allowance of log lines.
#[derive(Debug, Clone)]
pub struct LogBudget {
    left: usize,
    refused: usize,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self {
            left: LOGGED_PER_SOURCE,
            refused: 0,
        }
    }
}

impl LogBudget {
    /// Whether one more record may be logged in full; counts it if not.
    pub fn allows(&mut self) -> bool {
        if self.left > 0 {
            self.left -= 1;
            true
        } else {
            self.refused += 1;
            false
        }
    }

    /// How many records were not logged.
    pub fn refused(&self) -> usize {
        self.refused
    }

    /// Logs, once a source is read, how many of its records were not logged, if any.
    pub fn log_refused(&self, source: &str) {
        if self.refused > 0 {
            tracing::warn!(
                "{source}: {} more bad or cut records were not logged; the report counts them",
                self.refused
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_few_are_allowed_and_the_rest_counted() {
        let mut budget = LogBudget::default();
        let allowed = (0..1000).filter(|_| budget.allows()).count();
        assert_eq!(allowed, LOGGED_PER_SOURCE);
        assert_eq!(budget.refused(), 1000 - LOGGED_PER_SOURCE);
    }
}
