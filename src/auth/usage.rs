//! Token use (the last call, its address, how many calls), counted in
//! memory on the authentication path and written to the store in batches:
//! a call costs a lock and a map entry, never a write. Several instances
//! each add their counts, and the newest time wins whoever writes last.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};

use crate::db::schema::{token_addresses, tokens};
use crate::db::DbConnection;
use crate::ops::audit::{self, NewAddress};
use crate::ops::OpError;

/// How often counts are written: a use shows within this (and the time a
/// write takes), well inside five seconds.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// New addresses remembered per token between writes.
const ADDRESSES_PER_FLUSH: usize = 8;
/// Addresses remembered per token in the store, to notice a new one; past
/// this many, a token used from everywhere stops being watched.
pub const ADDRESSES_PER_TOKEN: i64 = 100;

/// A batch's use, written in one statement: the count added, and the
/// time and address taken where they are newer than the stored ones (the
/// `CASE`s read the row as it was, so both test the old time).
const PG_WRITE_USE: &str = "UPDATE tokens SET \
     use_count = tokens.use_count + u.n, \
     last_used_ip = CASE WHEN tokens.last_used_at IS NULL OR tokens.last_used_at < u.at \
         THEN u.ip ELSE tokens.last_used_ip END, \
     last_used_at = CASE WHEN tokens.last_used_at IS NULL OR tokens.last_used_at < u.at \
         THEN u.at ELSE tokens.last_used_at END \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) AS u(id, n, at, ip) \
     WHERE tokens.id = u.id RETURNING tokens.id";

/// One token's use, as [`PG_WRITE_USE`] writes each.
const SQLITE_WRITE_USE: &str = "UPDATE tokens SET use_count = use_count + ?, \
     last_used_ip = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_ip END, \
     last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END \
     WHERE id = ?";

/// Tokens whose known addresses are asked in one query.
const ADDRESS_CHECK_CHUNK: usize = 500;

#[derive(QueryableByName)]
struct WrittenId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(Clone, Default)]
struct Pending {
    last_at: i64,
    last_ip: Option<String>,
    count: i64,
    addresses: Vec<String>,
}

#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<i64, Pending>>,
}

impl Usage {
    /// Counts one successful call of `token_id` at `at` from `ip`.
    pub fn record(&self, token_id: i64, at: i64, ip: Option<IpAddr>) {
        let ip = ip.map(|a| a.to_canonical().to_string());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let entry = pending.entry(token_id).or_default();
        entry.count += 1;
        if at >= entry.last_at {
            entry.last_at = at;
            entry.last_ip.clone_from(&ip);
        }
        if let Some(ip) = ip {
            if entry.addresses.len() < ADDRESSES_PER_FLUSH && !entry.addresses.contains(&ip) {
                entry.addresses.push(ip);
            }
        }
    }

    /// Tokens with uses counted and not written yet.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Takes what was counted, to be written; see [`Usage::put_back`].
    pub fn take(&self) -> UsageBatch {
        UsageBatch(std::mem::take(
            &mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// Counts again a batch whose write failed (its transaction wrote
    /// nothing), with whatever was counted meanwhile.
    pub fn put_back(&self, batch: UsageBatch) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (token_id, old) in batch.0 {
            let entry = pending.entry(token_id).or_default();
            entry.count += old.count;
            if old.last_at > entry.last_at {
                entry.last_at = old.last_at;
                entry.last_ip = old.last_ip;
            }
            for ip in old.addresses {
                if entry.addresses.len() < ADDRESSES_PER_FLUSH && !entry.addresses.contains(&ip) {
                    entry.addresses.push(ip);
                }
            }
        }
    }

    /// Writes what was counted since the last write (see
    /// [`UsageBatch::write`]); what cannot be written is put back.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<usize, OpError> {
        let batch = self.take();
        match batch.write(conn) {
            Ok(written) => {
                self.put_back(written.held);
                Ok(written.tokens)
            }
            Err(e) => {
                self.put_back(batch);
                Err(e)
            }
        }
    }
}

/// Uses taken out of memory to be written.
#[derive(Clone, Default)]
pub struct UsageBatch(HashMap<i64, Pending>);

impl UsageBatch {
    /// No use was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the batch, with an audit event for each new address seen.
    /// Run in a transaction, it writes all or nothing, and may be run
    /// again after a failure.
    ///
    /// Tokens are written in the order of their ids, so two instances'
    /// writes never wait for each other in a cycle. On PostgreSQL a token
    /// that another transaction holds (being edited or revoked) is not
    /// waited for: its use is handed back in [`Written::held`] for the
    /// next write. A write never waits on a person's change, so it cannot
    /// deadlock with one (a "Revoke All" that deletes rows in another order
    /// did, under the scale bench).
    pub fn write(&self, conn: &mut DbConnection) -> Result<Written, OpError> {
        if self.is_empty() {
            return Ok(Written {
                tokens: 0,
                held: Self::default(),
            });
        }
        let mut ids: Vec<i64> = self.0.keys().copied().collect();
        ids.sort_unstable();
        let (ids, held) = match conn {
            DbConnection::Pg(c) => {
                let free: Vec<i64> = tokens::table
                    .filter(tokens::id.eq_any(&ids))
                    .order(tokens::id)
                    .select(tokens::id)
                    .for_update()
                    .skip_locked()
                    .load(c)?;
                let not_free: Vec<i64> = ids
                    .iter()
                    .filter(|id| free.binary_search(id).is_err())
                    .copied()
                    .collect();
                // Of those, the ones still there were held; the rest are
                // revoked and their use goes with them.
                let held: Vec<i64> = if not_free.is_empty() {
                    Vec::new()
                } else {
                    tokens::table
                        .filter(tokens::id.eq_any(&not_free))
                        .select(tokens::id)
                        .load(c)?
                };
                (free, held)
            }
            DbConnection::Sqlite(_) => (ids, Vec::new()),
        };
        let held = UsageBatch(
            held.into_iter()
                .map(|id| (id, self.0[&id].clone()))
                .collect(),
        );
        // One statement a token on SQLite (no round trips there), one for
        // the whole batch on PostgreSQL: there a statement a token cost a
        // round trip each, and held the batch's row locks for seconds at
        // a million tokens (9 s for 1,000 tokens under the scale bench).
        let written: Vec<i64> = match conn {
            DbConnection::Pg(c) => {
                let pending: Vec<&Pending> = ids.iter().map(|id| &self.0[id]).collect();
                let mut done: Vec<i64> = diesel::sql_query(PG_WRITE_USE)
                    .bind::<Array<BigInt>, _>(&ids)
                    .bind::<Array<BigInt>, _>(pending.iter().map(|p| p.count).collect::<Vec<_>>())
                    .bind::<Array<BigInt>, _>(pending.iter().map(|p| p.last_at).collect::<Vec<_>>())
                    .bind::<Array<Nullable<Text>>, _>(
                        pending
                            .iter()
                            .map(|p| p.last_ip.clone())
                            .collect::<Vec<_>>(),
                    )
                    .load::<WrittenId>(c)?
                    .into_iter()
                    .map(|w| w.id)
                    .collect();
                done.sort_unstable();
                done
            }
            DbConnection::Sqlite(c) => {
                let mut done = Vec::with_capacity(ids.len());
                for token_id in ids {
                    let used = &self.0[&token_id];
                    let counted = diesel::sql_query(SQLITE_WRITE_USE)
                        .bind::<BigInt, _>(used.count)
                        .bind::<BigInt, _>(used.last_at)
                        .bind::<Nullable<Text>, _>(&used.last_ip)
                        .bind::<BigInt, _>(used.last_at)
                        .bind::<BigInt, _>(used.last_at)
                        .bind::<BigInt, _>(token_id)
                        .execute(c)?;
                    // No row when revoked meanwhile.
                    if counted == 1 {
                        done.push(token_id);
                    }
                }
                done
            }
        };
        // Addresses: only those the store does not know yet are counted
        // and kept, so that a token used from its usual address costs
        // nothing more.
        for chunk in written.chunks(ADDRESS_CHECK_CHUNK) {
            let mut wanted: Vec<&str> = chunk
                .iter()
                .flat_map(|id| self.0[id].addresses.iter().map(String::as_str))
                .collect();
            // Many tokens share an address (one host's scripts): ask once.
            wanted.sort_unstable();
            wanted.dedup();
            if wanted.is_empty() {
                continue;
            }
            let known: HashSet<(i64, String)> = token_addresses::table
                .filter(token_addresses::token_id.eq_any(chunk))
                .filter(token_addresses::address.eq_any(&wanted))
                .select((token_addresses::token_id, token_addresses::address))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .collect();
            for &token_id in chunk {
                let used = &self.0[&token_id];
                for address in &used.addresses {
                    if known.contains(&(token_id, address.clone())) {
                        continue;
                    }
                    if let Some(first) = remember_address(conn, token_id, address, used.last_at)? {
                        audit::new_address(conn, &first)?;
                    }
                }
            }
        }
        Ok(Written {
            tokens: written.len(),
            held,
        })
    }
}

/// What a [`UsageBatch::write`] did.
pub struct Written {
    /// Tokens whose use was written.
    pub tokens: usize,
    /// Uses of tokens another transaction held, to be written next time.
    pub held: UsageBatch,
}

/// Keeps `address` among the token's; `Some` when it is new and the token
/// had been used from elsewhere before.
fn remember_address(
    conn: &mut DbConnection,
    token_id: i64,
    address: &str,
    at: i64,
) -> Result<Option<NewAddress>, OpError> {
    let known: i64 = token_addresses::table
        .filter(token_addresses::token_id.eq(token_id))
        .count()
        .get_result(conn)?;
    if known >= ADDRESSES_PER_TOKEN {
        return Ok(None);
    }
    macro_rules! insert {
        () => {
            diesel::insert_into(token_addresses::table)
                .values((
                    token_addresses::token_id.eq(token_id),
                    token_addresses::address.eq(address),
                    token_addresses::first_seen.eq(at),
                ))
                .on_conflict_do_nothing()
        };
    }
    let inserted = match conn {
        DbConnection::Pg(c) => insert!().execute(c)?,
        DbConnection::Sqlite(c) => insert!().execute(c)?,
    };
    Ok((inserted == 1 && known > 0).then(|| NewAddress {
        token_id,
        address: address.to_owned(),
        at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_add_up_and_the_newest_address_wins_in_memory() {
        let usage = Usage::default();
        usage.record(1, 100, Some("203.0.113.1".parse().unwrap()));
        usage.record(1, 90, Some("203.0.113.2".parse().unwrap()));
        usage.record(1, 110, Some("::ffff:203.0.113.3".parse().unwrap()));
        let taken = usage.take();
        let one = &taken.0[&1];
        assert_eq!(one.count, 3);
        assert_eq!(one.last_at, 110);
        assert_eq!(one.last_ip.as_deref(), Some("203.0.113.3"));
        assert_eq!(one.addresses.len(), 3);
        assert!(usage.take().0.is_empty(), "taken once");
    }

    #[test]
    fn a_batch_put_back_adds_to_what_was_counted_meanwhile() {
        let usage = Usage::default();
        usage.record(1, 100, Some("203.0.113.1".parse().unwrap()));
        usage.record(2, 100, None);
        let failed = usage.take();
        usage.record(1, 90, Some("203.0.113.2".parse().unwrap()));
        usage.put_back(failed);
        let again = usage.take();
        assert_eq!(again.0[&1].count, 2);
        assert_eq!(again.0[&2].count, 1);
        // The newest use wins, whichever was counted first.
        assert_eq!(again.0[&1].last_at, 100);
        assert_eq!(again.0[&1].last_ip.as_deref(), Some("203.0.113.1"));
        assert_eq!(again.0[&1].addresses.len(), 2);
    }
}
