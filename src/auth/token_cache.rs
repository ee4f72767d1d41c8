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
    digest: TokenDigest,
) -> Result<Option<Arc<Found>>, OpError> {
    let generation = db.changes().current();
    if let Some(g) = generation {
        if let Some(hit) = cache.get(&digest, g) {
            return Ok(Some(hit));
        }
    }
    let found = db
        .read(move |conn| lookup(conn, &digest))
        .await?
        .map(Arc::new);
    if let (Some(g), Some(f)) = (generation, &found) {
        cache.insert(digest, g, f.clone());
    }
    Ok(found)
}
