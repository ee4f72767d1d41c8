//! Every account's user name, kept in memory for the account search: a
//! substring of a user name cannot use the user-name index, so searching
//! the store reads all 10,000 names of a big host's index on every
//! keystroke (0.8 ms). Here the names sit in one buffer in user-name order,
//! searched at memory speed, and are read again only when the change feed
//! says an account or token changed (see [`crate::db::changes`]).

use std::sync::{Arc, Mutex};

use diesel::prelude::*;

use crate::db::schema::accounts;
use crate::db::DbConnection;

/// Stores with more accounts than this are searched in the store, not
/// kept in memory (10,000 names take about 300 KB).
pub const MAX_KEPT: i64 = 200_000;

/// The names as read at one generation of the change feed.
struct Snapshot {
    generation: u64,
    /// `name\n` for every account, in user-name order.
    text: Vec<u8>,
    /// Where each name starts in `text`, with one more entry at the end.
    starts: Vec<u32>,
    ids: Vec<i64>,
    owners: Vec<Option<i64>>,
}

/// The names of every account, as last read.
#[derive(Default)]
pub struct AccountNames {
    kept: Mutex<Option<Arc<Snapshot>>>,
}

impl AccountNames {
    /// The ids and names holding `term` (lower-case letters and digits),
    /// of every account (`owner` `None`) or of one owner's, in user-name
    /// order. `generation` is the change feed's now. `None` when the names
    /// cannot be kept (changes by others cannot be seen, or the store has
    /// too many accounts): the caller searches the store.
    pub fn search(
        &self,
        conn: &mut DbConnection,
        generation: Option<u64>,
        owner: Option<i64>,
        term: &str,
    ) -> Result<Option<Vec<(i64, String)>>, diesel::result::Error> {
        let Some(generation) = generation else {
            return Ok(None);
        };
        let snapshot = match self.current(generation) {
            Some(s) => s,
            None => match self.read(conn, generation)? {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        Ok(Some(snapshot.search(owner, term)))
    }

    fn current(&self, generation: u64) -> Option<Arc<Snapshot>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|s| s.generation == generation)
            .cloned()
    }

    /// Reads every name (the generation was taken before: a change during
    /// the read bumps it, and the next search reads again).
    fn read(
        &self,
        conn: &mut DbConnection,
        generation: u64,
    ) -> Result<Option<Arc<Snapshot>>, diesel::result::Error> {
        let rows: Vec<(i64, String, Option<i64>)> = accounts::table
            .select((accounts::id, accounts::username, accounts::owner_id))
            .order(accounts::username.asc())
            .limit(MAX_KEPT + 1)
            .load(conn)?;
        if rows.len() as i64 > MAX_KEPT {
            return Ok(None);
        }
        let snapshot = Arc::new(Snapshot::of(generation, rows));
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.as_ref().is_none_or(|k| k.generation <= generation) {
            *kept = Some(snapshot.clone());
        }
        Ok(Some(snapshot))
    }
}

impl Snapshot {
    /// The names of `rows`, which come in user-name order.
    fn of(generation: u64, rows: Vec<(i64, String, Option<i64>)>) -> Self {
        let mut snapshot = Snapshot {
            generation,
            text: Vec::with_capacity(rows.iter().map(|r| r.1.len() + 1).sum()),
            starts: Vec::with_capacity(rows.len() + 1),
            ids: Vec::with_capacity(rows.len()),
            owners: Vec::with_capacity(rows.len()),
        };
        for (id, name, owner) in rows {
            snapshot.starts.push(snapshot.text.len() as u32);
            snapshot.text.extend_from_slice(name.as_bytes());
            snapshot.text.push(b'\n');
            snapshot.ids.push(id);
            snapshot.owners.push(owner);
        }
        snapshot.starts.push(snapshot.text.len() as u32);
        snapshot
    }

    fn search(&self, owner: Option<i64>, term: &str) -> Vec<(i64, String)> {
        let mut found = Vec::new();
        for i in super::kept_text::entries_holding(&self.text, &self.starts, term) {
            if owner.is_some() && self.owners[i] != owner {
                continue;
            }
            let name = &self.text[self.starts[i] as usize..self.starts[i + 1] as usize - 1];
            found.push((self.ids[i], String::from_utf8_lossy(name).into_owned()));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Snapshot {
        let rows = [
            (1, "aaaa", None),
            (2, "ab", Some(1)),
            (3, "ba", Some(1)),
            (4, "bob", Some(1)),
            (5, "bobby", Some(4)),
        ];
        Snapshot::of(
            7,
            rows.into_iter()
                .map(|(id, n, o)| (id, n.to_owned(), o))
                .collect(),
        )
    }

    fn found(s: &Snapshot, owner: Option<i64>, term: &str) -> Vec<String> {
        s.search(owner, term).into_iter().map(|(_, n)| n).collect()
    }

    #[test]
    fn a_name_holding_the_term_twice_is_found_once_in_name_order() {
        let s = names();
        assert_eq!(found(&s, None, "a"), ["aaaa", "ab", "ba"]);
        assert_eq!(found(&s, None, "aa"), ["aaaa"]);
        assert_eq!(found(&s, None, "b"), ["ab", "ba", "bob", "bobby"]);
    }

    #[test]
    fn a_match_never_spans_two_names_and_ids_follow_their_names() {
        let s = names();
        // "ab\nba": "bb" and "ab" + "ba" joined hold no name.
        assert!(found(&s, None, "abba").is_empty());
        assert!(found(&s, None, "bba").is_empty());
        assert_eq!(s.search(None, "bobby"), [(5, "bobby".to_owned())]);
        assert!(found(&s, None, "nobody").is_empty());
    }

    #[test]
    fn an_owners_search_holds_only_its_accounts() {
        let s = names();
        assert_eq!(found(&s, Some(1), "b"), ["ab", "ba", "bob"]);
        assert_eq!(found(&s, Some(4), "b"), ["bobby"]);
        assert!(found(&s, Some(9), "b").is_empty());
    }
}
