//! Counts per key and minute, in memory, for limits that strangers or
//! callers can push against (introspection per caller, leak reports per
//! address and in all). Bounded: a minute keeps at most `max_keys` keys;
//! past that, a new key is refused as if it were over its limit, so a
//! flood from ever-new addresses costs no more memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

pub struct PerMinute<K> {
    inner: Mutex<Window<K>>,
    max_keys: usize,
}

struct Window<K> {
    minute: i64,
    counts: HashMap<K, u64>,
}

impl<K: Eq + Hash + Clone> PerMinute<K> {
    pub fn new(max_keys: usize) -> Self {
        Self {
            inner: Mutex::new(Window {
                minute: i64::MIN,
                counts: HashMap::new(),
            }),
            max_keys,
        }
    }

    /// Adds `n` to `key`'s count for the minute of `now` if it stays within
    /// `limit`; `false` (and nothing added) if it would not, or if the
    /// minute already holds as many keys as it may.
    pub fn take(&self, key: &K, n: u64, limit: u64, now: i64) -> bool {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now.div_euclid(60);
        if minute > w.minute {
            w.minute = minute;
            w.counts.clear();
        }
        let known = w.counts.contains_key(key);
        if !known && w.counts.len() >= self.max_keys {
            return false;
        }
        let count = w.counts.entry(key.clone()).or_insert(0);
        if *count + n > limit {
            if !known && *count == 0 {
                w.counts.remove(key);
            }
            return false;
        }
        *count += n;
        true
    }

    /// Gives back what [`PerMinute::take`] took, when a later limit
    /// refused the same request.
    pub fn give_back(&self, key: &K, n: u64, now: i64) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if w.minute == now.div_euclid(60) {
            if let Some(count) = w.counts.get_mut(key) {
                *count = count.saturating_sub(n);
            }
        }
    }

    /// Keys counted this minute (for tests and the bench's memory figure).
    pub fn keys(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .counts
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_a_minute_and_new_keys_stop_at_the_cap() {
        let limits = PerMinute::<u32>::new(2);
        assert!(limits.take(&1, 3, 5, 120));
        assert!(limits.take(&1, 2, 5, 130));
        assert!(!limits.take(&1, 1, 5, 179));
        assert!(limits.take(&2, 5, 5, 150));
        // A third key in the same minute: over the cap.
        assert!(!limits.take(&3, 1, 5, 150));
        assert_eq!(limits.keys(), 2);
        // The next minute starts afresh.
        assert!(limits.take(&3, 1, 5, 180));
        assert!(limits.take(&1, 5, 5, 180));
        limits.give_back(&1, 2, 185);
        assert!(limits.take(&1, 2, 5, 186));
        // A request larger than the limit never passes, and leaves no key.
        assert!(!limits.take(&4, 6, 5, 240));
        assert_eq!(limits.keys(), 0);
    }
}
