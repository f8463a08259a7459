//! Connections counted per holder (a uid on the socket, a client address on the web page), so
//! that no one holder takes every slot of a listener.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per holder.
#[derive(Debug)]
pub struct PerKey<K>(Mutex<HashMap<K, usize>>);

impl<K> Default for PerKey<K> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

/// One holder's connection, counted while it lives.
#[derive(Debug)]
pub struct KeySlot<K: Eq + Hash> {
    counts: Arc<PerKey<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> PerKey<K> {
    /// A slot for `key`, unless it holds `max` already.
    pub fn take(self: &Arc<Self>, key: K, max: usize) -> Option<KeySlot<K>> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key.clone()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(KeySlot {
            counts: Arc::clone(self),
            key,
        })
    }

    /// How many holders have a connection open.
    pub fn holders(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl<K: Eq + Hash> Drop for KeySlot<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_keeps_at_most_its_share_and_gets_it_back_as_connections_close() {
        let counts = Arc::new(PerKey::default());
        let first = counts.take("a", 2).expect("one");
        let _second = counts.take("a", 2).expect("two");
        assert!(counts.take("a", 2).is_none(), "a third");
        assert!(counts.take("b", 2).is_some(), "another holder");
        drop(first);
        assert!(counts.take("a", 2).is_some(), "one closed");
        assert_eq!(
            counts.holders(),
            1,
            "b's slot was dropped, so b is forgotten"
        );
    }
}
