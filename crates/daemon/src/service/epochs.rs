//! The users' link epochs, kept in memory: every page and rating of the web page checks its
//! session's epoch, and reading it from the store cost each request a hand-off to a blocking
//! thread and a query. An entry is filled from the store on first use and dropped whenever the
//! user changes through the service (the daemon holds the store's only writer, so nothing
//! else changes an epoch while it runs). A fill that raced a change is not kept: each change
//! bumps a generation, and a fill begun under an older one is discarded.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Epochs by user, and the generation of the last change.
#[derive(Debug, Default)]
pub struct Epochs {
    inner: RwLock<(u64, HashMap<String, u32>)>,
}

impl Epochs {
    /// The user's epoch: from memory, else from `read` (none for no such user), remembered
    /// unless the user changed meanwhile.
    pub fn get<E>(
        &self,
        user: &str,
        read: impl FnOnce() -> Result<Option<u32>, E>,
    ) -> Result<Option<u32>, E> {
        let generation = {
            let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(epoch) = inner.1.get(user) {
                return Ok(Some(*epoch));
            }
            inner.0
        };
        let epoch = read()?;
        if let Some(epoch) = epoch {
            let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
            if inner.0 == generation {
                inner.1.insert(user.to_owned(), epoch);
            }
        }
        Ok(epoch)
    }

    /// Forgets what is known of a user who changed (or of everyone, for `None`).
    pub fn forget(&self, user: Option<&str>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.0 += 1;
        match user {
            Some(user) => {
                inner.1.remove(user);
            }
            None => inner.1.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_read_once_and_a_change_during_a_read_is_not_hidden() {
        let epochs = Epochs::default();
        let mut reads = 0;
        for _ in 0..3 {
            let epoch = epochs.get("ada", || {
                reads += 1;
                Ok::<_, ()>(Some(4))
            });
            assert_eq!(epoch, Ok(Some(4)));
        }
        assert_eq!(reads, 1);
        assert_eq!(epochs.get("nobody", || Ok::<_, ()>(None)), Ok(None));

        epochs.forget(Some("ada"));
        // A revocation lands while the store is being read: the old epoch is not kept.
        let stale = epochs.get("ada", || {
            epochs.forget(Some("ada"));
            Ok::<_, ()>(Some(4))
        });
        assert_eq!(stale, Ok(Some(4)));
        assert_eq!(epochs.get("ada", || Ok::<_, ()>(Some(5))), Ok(Some(5)));
    }
}
