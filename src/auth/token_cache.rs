//! Tokens already looked up, kept in memory so that most API calls do not
//! wait on the database. An entry is only good for the generation it was
//! read in (see [`crate::db::changes`]): any change to any token or account,
//! by anyone, makes every entry stale at once. The rules (owner's name,
//! expiry, suspension, allowed addresses) are checked on every call, on the
//! entry, as they would be on a fresh row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::Db;
use crate::domain::TokenDigest;
use crate::metrics::Metrics;
use crate::ops::authenticate::{lookup, Found};
use crate::ops::OpError;

/// Past this many entries the cache starts again empty: memory stays bounded
/// (about 1 KiB an entry) whatever callers send.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    entries: HashMap<TokenDigest, Arc<Found>>,
}

impl TokenCache {
    /// The entry for `digest`, if it was read in `generation`.
    pub fn get(&self, digest: &TokenDigest, generation: u64) -> Option<Arc<Found>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation {
            return None;
        }
        inner.entries.get(digest).cloned()
    }

    /// Keeps what was read in `generation` (taken *before* the read, so that
    /// a change committed meanwhile leaves it stale rather than kept).
    pub fn insert(&self, digest: TokenDigest, generation: u64, found: Arc<Found>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if generation < inner.generation {
            return;
        }
        if generation > inner.generation || inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
            inner.generation = generation;
        }
        inner.entries.insert(digest, found);
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The token whose secret has `digest`, with its owner: from memory when
/// nothing has changed since it was read, else from the store.
pub async fn find(
    db: &Db,
    cache: &TokenCache,
    metrics: &Metrics,
    digest: TokenDigest,
) -> Result<Option<Arc<Found>>, OpError> {
    let generation = db.changes().current();
    if let Some(g) = generation {
        if let Some(hit) = cache.get(&digest, g) {
            metrics.cache(true);
            return Ok(Some(hit));
        }
    }
    metrics.cache(false);
    let found = db
        .read(move |conn| lookup(conn, &digest))
        .await?
        .map(Arc::new);
    if let (Some(g), Some(f)) = (generation, &found) {
        cache.insert(digest, g, f.clone());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TokenSecret;
    use crate::ops::tokens::Token;
    use crate::ops::Account;

    fn entry() -> (TokenDigest, Arc<Found>) {
        use crate::domain::{
            AccountKind, Description, Expiry, IpAllowList, PrivilegeSet, TokenName, Username,
        };
        let found = Found {
            token: Token {
                id: 1,
                account_id: 1,
                name: TokenName::parse("t").unwrap(),
                created_at: 0,
                expiry: Expiry::Never,
                ips: IpAllowList::any(),
                privileges: PrivilegeSet::everything(),
                last_used_at: None,
                last_used_ip: None,
                use_count: 0,
                leaked_at: None,
                leaked_from: None,
                enabled: true,
                description: Description::default(),
            },
            owner: Account {
                id: 1,
                username: Username::parse("root").unwrap(),
                kind: AccountKind::Root,
                owner_id: None,
                privileges: PrivilegeSet::everything(),
                suspended: false,
                created_at: 0,
                two_factor: false,
            },
            policy: Default::default(),
        };
        (TokenSecret::generate().digest(), Arc::new(found))
    }

    #[test]
    fn an_entry_serves_only_the_generation_it_was_read_in() {
        let cache = TokenCache::default();
        let (digest, found) = entry();
        cache.insert(digest, 5, found);
        for (generation, served) in [(5, true), (4, false), (6, false)] {
            assert_eq!(
                cache.get(&digest, generation).is_some(),
                served,
                "asked in generation {generation}"
            );
        }
    }

    #[test]
    fn a_newer_generation_drops_every_older_entry_and_an_older_read_is_not_kept() {
        let cache = TokenCache::default();
        let (a, found_a) = entry();
        let (b, found_b) = entry();
        let (c, found_c) = entry();
        cache.insert(a, 5, found_a);
        cache.insert(b, 6, found_b);
        assert_eq!(cache.len(), 1, "generation 6 started afresh");
        assert!(cache.get(&a, 6).is_none());
        assert!(cache.get(&b, 6).is_some());
        // Read before the change that made generation 6: stale, not kept.
        cache.insert(c, 5, found_c);
        assert!(cache.get(&c, 5).is_none() && cache.get(&c, 6).is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_starts_again_empty_past_its_bound() {
        let cache = TokenCache::default();
        for _ in 0..MAX_ENTRIES {
            let (d, f) = entry();
            cache.insert(d, 1, f);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        let (d, f) = entry();
        cache.insert(d, 1, f);
        assert_eq!(cache.len(), 1);
    }
}
