//! Each owner's token names and descriptions, kept in memory for the
//! tokens page's search. A substring cannot use a B-tree, and a trigram
//! index answers from the posting lists of the whole store: on
//! PostgreSQL a search for one token among a big reseller's 100,000 read
//! about 240 pages of pg_trgm's index (4–6 ms) and ran at 0.3× the same
//! search on a small store. Here one owner's names sit in one buffer,
//! searched at memory speed (memchr), and are read again only when the
//! owner's `token_names_version` moved: the store's triggers bump it for
//! every token made, removed, renamed or described anew, whoever does it
//! (this instance, another one, the command line), and it is read in the
//! same snapshot as the page.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;

use crate::db::schema::tokens;
use crate::db::{Backend, DbConnection};

/// Owners with more tokens than this are searched in the store.
pub const MAX_TOKENS: i64 = 200_000;
/// One owner's names and descriptions take at most this much memory, or
/// are searched in the store.
pub const MAX_OWNER_BYTES: usize = 16 << 20;
/// Every owner's kept names take at most this much: past it, those
/// searched longest ago are dropped.
pub const MAX_BYTES: usize = 32 << 20;

/// Which state of an owner's tokens a snapshot holds: the account's
/// creation (so that a reused id never matches) and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub account_created_at: i64,
    pub names_version: i64,
}

/// One owner's tokens as read at one version.
struct Snapshot {
    version: Version,
    /// `name\ndescription\n` for each token, folded to lower case as the
    /// backend's case-insensitive match folds.
    text: Vec<u8>,
    /// Where each token starts in `text`, with one more entry at the end.
    starts: Vec<u32>,
    ids: Vec<i64>,
    /// Too big to keep: searched in the store until the version moves.
    too_big: bool,
    /// When it was last searched (a tick of [`TokenNames`]).
    used: AtomicU64,
}

impl Snapshot {
    fn bytes(&self) -> usize {
        self.text.len() + self.starts.len() * 4 + self.ids.len() * 8 + 64
    }
}

#[derive(Default)]
struct Kept {
    by_owner: HashMap<i64, Arc<Snapshot>>,
    bytes: usize,
}

/// Every owner's token names, as last read.
#[derive(Default)]
pub struct TokenNames {
    kept: Mutex<Kept>,
    /// PostgreSQL's sample of every owner's names, for [`Self::rare_part`].
    sample: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
    /// One lock per owner whose tokens are being read.
    reading: Mutex<HashMap<i64, Arc<Mutex<()>>>>,
    tick: AtomicU64,
}

/// What the kept names say of a search.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The ids of the owner's tokens whose name or description holds the
    /// term, up to `limit` (in no particular order).
    Few(Vec<i64>),
    /// More than `limit` match.
    Many,
}

impl TokenNames {
    /// Searches `owner`'s tokens for `term` (already folded to lower
    /// case as [`fold`] does), reading them first if the kept ones are
    /// not of `version`. `None` when they cannot be kept (too many or too
    /// big): the caller searches the store.
    pub fn search(
        &self,
        conn: &mut DbConnection,
        owner: i64,
        version: Version,
        token_count: i64,
        term: &str,
        limit: usize,
    ) -> Result<Option<Found>, diesel::result::Error> {
        if token_count > MAX_TOKENS {
            return Ok(None);
        }
        let snapshot = match self.current(owner, version) {
            Some(s) => s,
            None => self.read(conn, owner, version)?,
        };
        snapshot
            .used
            .store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        if snapshot.too_big {
            return Ok(None);
        }
        Ok(Some(snapshot.search(term, limit)))
    }

    fn current(&self, owner: i64, version: Version) -> Option<Arc<Snapshot>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.by_owner
            .get(&owner)
            .filter(|s| s.version == version)
            .cloned()
    }

    /// Reads the owner's names and descriptions (in the caller's snapshot,
    /// the one `version` was read in) and keeps them, dropping those
    /// searched longest ago while the total is over [`MAX_BYTES`]. One
    /// read per owner at a time: searches that arrive together (a page
    /// of 32 clients after a change) wait for it and share what it read,
    /// instead of each holding the owner's rows at once.
    fn read(
        &self,
        conn: &mut DbConnection,
        owner: i64,
        version: Version,
    ) -> Result<Arc<Snapshot>, diesel::result::Error> {
        let gate = {
            let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
            reading.entry(owner).or_default().clone()
        };
        let read = {
            let _turn = gate.lock().unwrap_or_else(|p| p.into_inner());
            match self.current(owner, version) {
                Some(s) => Ok(s),
                None => Snapshot::read(conn, owner, version).map(|s| self.keep(owner, s)),
            }
        };
        let mut reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map's and ours: no one else waits for this owner.
        if Arc::strong_count(&gate) <= 2 {
            reading.remove(&owner);
        }
        read
    }

    fn keep(&self, owner: i64, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = kept.by_owner.remove(&owner) {
            kept.bytes -= old.bytes();
        }
        kept.bytes += snapshot.bytes();
        kept.by_owner.insert(owner, snapshot.clone());
        while kept.bytes > MAX_BYTES && kept.by_owner.len() > 1 {
            let oldest = kept
                .by_owner
                .iter()
                .filter(|(id, _)| **id != owner)
                .min_by_key(|(_, s)| s.used.load(Ordering::Relaxed))
                .map(|(id, _)| *id)
                .expect("more than one kept");
            let dropped = kept.by_owner.remove(&oldest).expect("just found");
            kept.bytes -= dropped.bytes();
        }
        snapshot
    }
}

/// How long PostgreSQL's sample of names is used before it is read again.
pub const SAMPLE_FOR: Duration = Duration::from_secs(600);
/// A trigram in more than this share of the sampled names is common.
pub const COMMON: f64 = 0.02;
/// Fewer sampled names than this say nothing.
const SAMPLE_AT_LEAST: usize = 20;

impl TokenNames {
    /// The part of `term` (folded) worth asking PostgreSQL's trigram index
    /// for, when the whole is not: its longest stretch whose trigrams are
    /// all rare in the planner's own sample of the names
    /// (`pg_stats.histogram_bounds`, read at most every [`SAMPLE_FOR`]).
    /// pg_trgm reads the posting list of every trigram of the term, and
    /// those of a common word (`deploy` in a tenth of a million names) are
    /// long: 7.5 ms for `deploy-000050`, against 0.7 ms for `000050` with
    /// the whole term checked on the few rows found. `None`: ask for the
    /// whole term (no trigram is common, none is rare, or no sample).
    pub fn rare_part(
        &self,
        conn: &mut DbConnection,
        term: &str,
    ) -> Result<Option<String>, diesel::result::Error> {
        if conn.backend() != Backend::Postgres || term.chars().count() < 3 {
            return Ok(None);
        }
        let sample = {
            let kept = self.sample.lock().unwrap_or_else(|p| p.into_inner());
            kept.as_ref()
                .filter(|(at, _)| at.elapsed() < SAMPLE_FOR)
                .map(|(_, s)| s.clone())
        };
        let sample = match sample {
            Some(s) => s,
            None => {
                let names: Vec<String> = diesel::sql_query(
                    "SELECT lower(unnest(histogram_bounds::text::text[])) AS name \
                     FROM pg_stats WHERE tablename = 'tokens' AND attname = 'name' \
                     AND schemaname = current_schema()",
                )
                .load::<SampledName>(conn)?
                .into_iter()
                .map(|n| n.name)
                .collect();
                let names = Arc::new(names);
                *self.sample.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), names.clone()));
                names
            }
        };
        Ok(rare_part_of(&sample, term))
    }
}

#[derive(QueryableByName)]
struct SampledName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// The longest stretch of `term` whose trigrams each stand in at most
/// [`COMMON`] of `sample`, when some other trigram stands in more.
fn rare_part_of(sample: &[String], term: &str) -> Option<String> {
    if sample.len() < SAMPLE_AT_LEAST {
        return None;
    }
    let chars: Vec<char> = term.chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let most = (sample.len() as f64 * COMMON) as usize;
    let common: Vec<bool> = chars
        .windows(3)
        .map(|w| {
            let trigram: String = w.iter().collect();
            sample.iter().filter(|n| n.contains(&trigram)).count() > most
        })
        .collect();
    if !common.contains(&true) {
        return None;
    }
    // The longest run of rare trigrams: (first, how many).
    let mut best: Option<(usize, usize)> = None;
    let mut run: Option<usize> = None;
    for (i, &is_common) in common.iter().chain([&true]).enumerate() {
        match (is_common, run) {
            (false, None) => run = Some(i),
            (true, Some(first)) => {
                if best.is_none_or(|(_, n)| i - first > n) {
                    best = Some((first, i - first));
                }
                run = None;
            }
            _ => {}
        }
    }
    let (first, n) = best?;
    let part: String = chars[first..first + n + 2].iter().collect();
    // Spaces around it say nothing to the index (the pattern is trimmed),
    // and fewer than three letters have no trigram to ask for.
    (part.trim().chars().count() >= 3).then_some(part)
}

/// Folds `text` to lower case as the backend's search does: PostgreSQL's
/// `ILIKE` folds every letter, one for one (its `lower()`, by the C
/// library's `towlower`), SQLite's `LIKE` only ASCII ones. Not Rust's
/// full mapping, which differs where a letter's lower case is two
/// characters or depends on the next (`İ` is `i̇`, a final `Σ` is `ς`): the
/// kept names would then miss tokens the store's own search finds.
pub fn fold(backend: Backend, text: &str) -> String {
    match backend {
        Backend::Postgres => text
            .chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .collect(),
        Backend::Sqlite => text.to_ascii_lowercase(),
    }
}

impl Snapshot {
    fn new(version: Version) -> Self {
        Snapshot {
            version,
            text: Vec::new(),
            starts: vec![0],
            ids: Vec::new(),
            too_big: false,
            used: AtomicU64::new(0),
        }
    }

    /// The owner's tokens, a row at a time (no list of rows held beside
    /// the buffer).
    fn read(
        conn: &mut DbConnection,
        owner: i64,
        version: Version,
    ) -> Result<Self, diesel::result::Error> {
        let backend = conn.backend();
        let mut snapshot = Snapshot::new(version);
        let rows = tokens::table
            .filter(tokens::account_id.eq(owner))
            .select((tokens::id, tokens::name, tokens::description))
            .load_iter::<(i64, String, String), DefaultLoadingMode>(conn)?;
        for row in rows {
            let (id, name, description) = row?;
            if !snapshot.push(backend, id, &name, &description) {
                break;
            }
        }
        // Grown by doubling: what is kept is what [`Snapshot::bytes`] counts.
        snapshot.text.shrink_to_fit();
        snapshot.starts.shrink_to_fit();
        snapshot.ids.shrink_to_fit();
        Ok(snapshot)
    }

    #[cfg(test)]
    fn of(version: Version, backend: Backend, rows: Vec<(i64, String, String)>) -> Self {
        let mut snapshot = Snapshot::new(version);
        for (id, name, description) in rows {
            snapshot.push(backend, id, &name, &description);
        }
        snapshot
    }

    /// Adds a token; false (and the snapshot emptied and marked too big)
    /// once the owner's tokens pass [`MAX_OWNER_BYTES`].
    fn push(&mut self, backend: Backend, id: i64, name: &str, description: &str) -> bool {
        self.text.extend_from_slice(fold(backend, name).as_bytes());
        self.text.push(b'\n');
        self.text
            .extend_from_slice(fold(backend, description).as_bytes());
        self.text.push(b'\n');
        self.ids.push(id);
        self.starts.push(self.text.len() as u32);
        if self.text.len() > MAX_OWNER_BYTES {
            *self = Snapshot {
                too_big: true,
                ..Snapshot::new(self.version)
            };
            return false;
        }
        true
    }

    /// Up to `limit` tokens holding `term` (which holds no `\n`, so no
    /// match spans a name and a description, or two tokens).
    fn search(&self, term: &str, limit: usize) -> Found {
        let mut found = Vec::new();
        for i in super::kept_text::entries_holding(&self.text, &self.starts, term) {
            if found.len() == limit {
                return Found::Many;
            }
            found.push(self.ids[i]);
        }
        Found::Few(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Version = Version {
        account_created_at: 1,
        names_version: 1,
    };

    fn tokens(backend: Backend) -> Snapshot {
        let rows = [
            (1, "Deploy", "for the CI"),
            (2, "ab", "ba"),
            (3, "billing", ""),
            (4, "ÉTÉ", "Été"),
        ];
        Snapshot::of(
            V,
            backend,
            rows.into_iter()
                .map(|(id, n, d)| (id, n.to_owned(), d.to_owned()))
                .collect(),
        )
    }

    fn sample(names: &[(&str, usize)]) -> Vec<String> {
        names
            .iter()
            .flat_map(|(n, times)| std::iter::repeat_n(n.to_string(), *times))
            .collect()
    }

    #[test]
    fn the_rare_part_of_a_term_leaves_out_its_common_words() {
        // "deploy" in a tenth of the names; numbers each in one.
        let mut names = sample(&[("deploy-000001", 1), ("billing-000002", 1)]);
        names.extend((0..10).map(|i| format!("deploy-{:06}", 100 + i)));
        names.extend((0..88).map(|i| format!("other-{:06}", 500_000 + i * 77)));
        assert_eq!(
            rare_part_of(&names, "deploy-000050").as_deref(),
            Some("0050")
        );
        // Nothing common: the whole term; nothing rare: the whole term.
        assert_eq!(rare_part_of(&names, "zzz-qqq"), None);
        assert_eq!(rare_part_of(&names, "deploy"), None);
        // The longest rare stretch, whichever side it is.
        assert_eq!(
            rare_part_of(&names, "xy-deploy-xyzw").as_deref(),
            Some("y-xyzw")
        );
    }

    #[test]
    fn a_rare_part_of_spaces_alone_is_not_asked_for() {
        // "x  " and "  y" common, "   " rare: three spaces, which the
        // pattern trims to nothing.
        let mut names = sample(&[("x  a", 10), ("b  y", 10)]);
        names.extend((0..80).map(|i| format!("other-{i:03}")));
        assert_eq!(rare_part_of(&names, "x   y"), None);
    }

    #[test]
    fn a_small_or_missing_sample_says_nothing() {
        let few = sample(&[("deploy-1", 10)]);
        assert_eq!(rare_part_of(&few, "deploy-000050"), None);
        assert_eq!(rare_part_of(&[], "deploy-000050"), None);
    }

    #[test]
    fn a_token_matching_in_its_name_and_description_is_found_once() {
        let s = tokens(Backend::Postgres);
        assert_eq!(s.search("i", 10), Found::Few(vec![1, 3]));
        assert_eq!(s.search("deploy", 10), Found::Few(vec![1]));
        assert_eq!(s.search("the ci", 10), Found::Few(vec![1]));
    }

    #[test]
    fn a_match_never_spans_a_name_and_its_description_or_two_tokens() {
        let s = tokens(Backend::Postgres);
        // "ab\nba\n": "abba" would join the name and the description.
        assert_eq!(s.search("abba", 10), Found::Few(vec![]));
        assert_eq!(s.search("cibi", 10), Found::Few(vec![]));
        assert_eq!(s.search("nothing", 10), Found::Few(vec![]));
    }

    #[test]
    fn more_matches_than_the_limit_say_many() {
        let s = tokens(Backend::Postgres);
        assert_eq!(s.search("i", 1), Found::Many);
        assert_eq!(s.search("i", 2), Found::Few(vec![1, 3]));
        assert_eq!(s.search("", 3), Found::Many);
    }

    #[test]
    fn case_folds_as_the_backend_folds_it() {
        // PostgreSQL's ILIKE folds every letter; SQLite's LIKE only ASCII.
        let pg = tokens(Backend::Postgres);
        assert_eq!(
            pg.search(&fold(Backend::Postgres, "été"), 10),
            Found::Few(vec![4])
        );
        let lite = tokens(Backend::Sqlite);
        assert_eq!(
            lite.search(&fold(Backend::Sqlite, "ÉTÉ"), 10),
            Found::Few(vec![4])
        );
        assert_eq!(
            lite.search(&fold(Backend::Sqlite, "été"), 10),
            Found::Few(vec![])
        );
        assert_eq!(
            lite.search(&fold(Backend::Sqlite, "Ét"), 10),
            Found::Few(vec![4])
        );
    }

    #[test]
    fn postgresql_folds_one_letter_for_one_as_its_lower_does() {
        // PostgreSQL's lower('İZMİR ΟΣ') is 'izmir οσ'; Rust's full
        // mapping would give 'i̇zmi̇r ος', and miss a search for "izmir".
        assert_eq!(fold(Backend::Postgres, "İZMİR ΟΣ"), "izmir οσ");
        let s = Snapshot::of(
            V,
            Backend::Postgres,
            vec![(7, "office".to_owned(), "İzmir ΟΣ".to_owned())],
        );
        assert_eq!(s.search("izmir", 10), Found::Few(vec![7]));
        assert_eq!(s.search("οσ", 10), Found::Few(vec![7]));
    }
}
