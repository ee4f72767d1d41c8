//! Listing tokens a page at a time: one account's (the tokens page),
//! every account's (root's `/tokens/all`) or those of a reseller's
//! accounts, searched by name and description, sorted, and paged from
//! whichever end is nearer. Never a pass over every token.

use diesel::prelude::*;

use crate::db::schema::{accounts as account_rows, tokens};
use crate::db::{Backend, DbConnection};
use crate::domain::Username;

use super::token_names::{self, Found, TokenNames, Version};
use super::tokens::{Token, MANAGE_TOKENS};
use super::{Actor, OpError};

diesel::define_sql_function! {
    /// SQL's `lower`, on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortKey {
    Name,
    #[default]
    Created,
    Expires,
    LastUsed,
}

/// Orders by a nullable time, NULL ("never") after every time both ways
/// round, ties by id; `backwards` reads the same order from its far end.
macro_rules! order_never_last {
    ($query:expr, $column:expr, $direction:expr, $backwards:expr) => {
        match ($direction, $backwards) {
            (Direction::Asc, false) => {
                $query.order(($column.is_null().asc(), $column.asc(), tokens::id.asc()))
            }
            (Direction::Asc, true) => {
                $query.order(($column.is_null().desc(), $column.desc(), tokens::id.desc()))
            }
            (Direction::Desc, false) => {
                $query.order(($column.is_null().asc(), $column.desc(), tokens::id.desc()))
            }
            (Direction::Desc, true) => {
                $query.order(($column.is_null().desc(), $column.asc(), tokens::id.asc()))
            }
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    Asc,
    #[default]
    Desc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Case-insensitive substring of the name or the description.
    pub filter: String,
    /// Leave disabled tokens out.
    pub hide_disabled: bool,
    pub sort: SortKey,
    pub direction: Direction,
    /// 1-based.
    pub page: i64,
    pub per_page: i64,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            filter: String::new(),
            hide_disabled: false,
            sort: SortKey::Created,
            direction: Direction::Desc,
            page: 1,
            per_page: 25,
        }
    }
}

pub struct TokenPage {
    pub tokens: Vec<Token>,
    /// Tokens matching the filter, over all pages; a search that matches
    /// many is counted only up to [`SEARCH_COUNT_CAP`].
    pub total: i64,
    /// More than `total` match (and the pages stop at `total`'s).
    pub more: bool,
    pub page: i64,
    pub per_page: i64,
}

impl TokenPage {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

/// One page of the owner's tokens. Cost: one page of rows from the index
/// that matches the sort (read from whichever end is nearer, so the last
/// page costs what the first does) and the owner's stored count; for a
/// search, up to [`SELECTIVE`] + 1 of the trigram index's matches and then
/// either those few, or a walk of the sort's index that stops at a page
/// and counts to [`SEARCH_COUNT_CAP`]; never a pass over every token.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &ListQuery,
    kept: &TokenNames,
) -> Result<TokenPage, OpError> {
    actor.require(MANAGE_TOKENS)?;
    // The count and the page it counts, from one snapshot.
    crate::db::snapshot(conn, |conn| list_in(conn, Scope::Of(actor.id()), q, kept))
}

/// Whose tokens a listing reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// One account's.
    Of(i64),
    /// Every account's (root).
    Everyone,
    /// Those of the accounts a reseller owns.
    OwnedBy(i64),
}

/// The tokens root sees on `/tokens/all` (every account's) or a reseller
/// (those of the accounts it owns), optionally of one owner, with their
/// owners' names. Same costs as [`list`]: one page, counts kept by
/// triggers when nothing is searched.
pub fn list_every(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &ListQuery,
    owner: Option<&str>,
    kept: &TokenNames,
) -> Result<(TokenPage, Vec<(i64, Username)>), OpError> {
    actor.require(MANAGE_TOKENS)?;
    crate::db::snapshot(conn, |conn| {
        let scope = match owner {
            None if actor.account.is_root() => Scope::Everyone,
            None => Scope::OwnedBy(actor.id()),
            Some(raw) => {
                // A name that cannot be a user name owns nothing.
                let found: Option<(i64, Option<i64>)> = match Username::parse(raw) {
                    Ok(name) => account_rows::table
                        .filter(account_rows::username.eq(name))
                        .select((account_rows::id, account_rows::owner_id))
                        .first(conn)
                        .optional()?,
                    Err(_) => None,
                };
                match found {
                    Some((id, _)) if actor.account.is_root() => Scope::Of(id),
                    Some((id, Some(o))) if o == actor.id() => Scope::Of(id),
                    // Not one the actor may see: nothing, as for no one.
                    _ => Scope::Of(-1),
                }
            }
        };
        let page = list_in(conn, scope, q, kept)?;
        let ids: Vec<i64> = page.tokens.iter().map(|t| t.account_id).collect();
        let owners: Vec<(i64, Username)> = account_rows::table
            .filter(account_rows::id.eq_any(ids))
            .select((account_rows::id, account_rows::username))
            .load(conn)?;
        Ok((page, owners))
    })
}

/// SUM(token_count) as a BIGINT on both backends.
fn sum_of_token_counts(
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>> {
    diesel::dsl::sql("CAST(SUM(accounts.token_count) AS BIGINT)")
}

fn list_in(
    conn: &mut DbConnection,
    scope: Scope,
    q: &ListQuery,
    kept: &TokenNames,
) -> Result<TokenPage, OpError> {
    // Names and descriptions hold no control characters: a search with one
    // (a NUL, say) matches nothing, and never reaches SQL.
    let searchable = !q.filter.chars().any(char::is_control);
    if !searchable {
        return Ok(TokenPage {
            tokens: Vec::new(),
            total: 0,
            more: false,
            page: 1,
            per_page: q.per_page.clamp(1, 500),
        });
    }
    let filter = q.filter.trim().to_ascii_lowercase();
    let pattern = like_pattern(&filter);
    let per_page = q.per_page.clamp(1, 500);
    let backend = conn.backend();
    let mut search = match (&pattern, backend) {
        (None, _) => Search::Nothing,
        (Some(p), _) => match in_memory(conn, scope, &filter, kept)? {
            Some(found) => found,
            None if backend == Backend::Sqlite => probe(conn, &filter, p)?,
            // PostgreSQL's planner chooses per query between the trigram
            // indexes and a walk of the scope's own index: the capped
            // count below is the probe, within the scope. The index is
            // asked only for the term's rare part, if it has common words.
            None => match kept
                .rare_part(conn, &filter)?
                .and_then(|p| like_pattern(&p))
            {
                Some(part) => Search::Narrowed(part),
                None => Search::Everywhere,
            },
        },
    };
    let filtered = |search: &Search| {
        let mut query = tokens::table.into_boxed();
        query = match scope {
            // Among a few ids, SQLite would still walk the owner's sort
            // index (every token of a big owner) to find them in order
            // rather than look each one up and sort the few: `+` keeps the
            // owner's column out of its choice of index (the filter holds
            // all the same).
            Scope::Of(id) if backend == Backend::Sqlite && matches!(search, Search::Among(_)) => {
                query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("+tokens.account_id = ")
                        .bind::<diesel::sql_types::BigInt, _>(id),
                )
            }
            Scope::Of(id) => query.filter(tokens::account_id.eq(id)),
            Scope::Everyone => query,
            Scope::OwnedBy(reseller) => query.filter(
                tokens::account_id.eq_any(
                    account_rows::table
                        .filter(account_rows::owner_id.eq(reseller))
                        .select(account_rows::id),
                ),
            ),
        };
        if q.hide_disabled {
            query = query.filter(tokens::enabled.eq(true));
        }
        if let Some(p) = &pattern {
            // The match itself, checked on each row (ASCII case-insensitive
            // on both backends); a selective search checks only the rows
            // the trigram index gave.
            if let Search::Among(ids) = search {
                query = query.filter(tokens::id.eq_any(ids.clone()));
            }
            query = match (backend, search) {
                // The rare part through the trigram indexes, the whole
                // term on each row they give (`lower(…) LIKE`, which the
                // indexes cannot serve, is how ILIKE folds case).
                (Backend::Postgres, Search::Narrowed(part)) => query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("(tokens.name ILIKE ")
                        .bind::<diesel::sql_types::Text, _>(part.clone())
                        .sql(" ESCAPE '\\' OR tokens.description ILIKE ")
                        .bind::<diesel::sql_types::Text, _>(part.clone())
                        .sql(" ESCAPE '\\') AND (lower(tokens.name) LIKE lower(")
                        .bind::<diesel::sql_types::Text, _>(p.clone())
                        .sql(") ESCAPE '\\' OR lower(tokens.description) LIKE lower(")
                        .bind::<diesel::sql_types::Text, _>(p.clone())
                        .sql(") ESCAPE '\\')"),
                ),
                (Backend::Postgres, _) => query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("(tokens.name ILIKE ")
                        .bind::<diesel::sql_types::Text, _>(p.clone())
                        .sql(" ESCAPE '\\' OR tokens.description ILIKE ")
                        .bind::<diesel::sql_types::Text, _>(p.clone())
                        .sql(" ESCAPE '\\')"),
                ),
                (Backend::Sqlite, _) => query.filter(
                    tokens::name
                        .like(p.clone())
                        .escape('\\')
                        .or(tokens::description.like(p.clone()).escape('\\')),
                ),
            };
        }
        query
    };
    // Without a search, the counts the triggers keep: a row per account,
    // not a pass over the tokens. A search among the trigram index's few
    // matches counts them; one that matches many counts up to the cap.
    let mut more = false;
    let mut many = false;
    let mut capped = |conn: &mut DbConnection, search: &Search| -> Result<Vec<i64>, OpError> {
        let found: Vec<i64> = filtered(search)
            .select(tokens::id)
            .limit(SEARCH_COUNT_CAP + 1)
            .load(conn)?;
        more = found.len() as i64 > SEARCH_COUNT_CAP;
        Ok(found)
    };
    let total: i64 = match (&search, scope) {
        (Search::Everywhere | Search::Narrowed(_), _) if backend == Backend::Postgres => {
            // Up to the cap, the matches found are every match: the page
            // is read from among them; past it, the page walks the sort's
            // index or asks the trigram indexes, as the planner thinks best.
            let found = capped(conn, &search)?;
            let total = (found.len() as i64).min(SEARCH_COUNT_CAP);
            search = if more {
                Search::Everywhere
            } else {
                Search::Among(found)
            };
            total
        }
        (Search::Everywhere | Search::Narrowed(_), _) => {
            (capped(conn, &search)?.len() as i64).min(SEARCH_COUNT_CAP)
        }
        // More than SELECTIVE match: no need to count them again.
        (Search::Many, _) if !q.hide_disabled => {
            many = true;
            SEARCH_COUNT_CAP
        }
        _ if q.hide_disabled => (capped(conn, &search)?.len() as i64).min(SEARCH_COUNT_CAP),
        (Search::Nothing, Scope::Of(id)) => account_rows::table
            .find(id)
            .select(account_rows::token_count)
            .first::<i64>(conn)
            .optional()?
            .unwrap_or(0),
        (Search::Nothing, Scope::Everyone) => account_rows::table
            .select(sum_of_token_counts())
            .first::<Option<i64>>(conn)?
            .unwrap_or(0),
        (Search::Nothing, Scope::OwnedBy(reseller)) => account_rows::table
            .filter(account_rows::owner_id.eq(reseller))
            .select(sum_of_token_counts())
            .first::<Option<i64>>(conn)?
            .unwrap_or(0),
        // Among more than the cap (a reseller's own tokens, from memory):
        // counted up to the cap, as a broad search is.
        (Search::Among(ids), _) if ids.len() as i64 > SEARCH_COUNT_CAP => {
            (capped(conn, &search)?.len() as i64).min(SEARCH_COUNT_CAP)
        }
        (Search::Among(_), _) => filtered(&search).count().get_result(conn)?,
        (Search::Many, _) => unreachable!("counted above"),
    };
    let more = more || many;
    let pages = ((total + per_page - 1) / per_page).max(1);
    let page = q.page.clamp(1, pages);
    let start = (page - 1) * per_page;
    let end = (page * per_page).min(total);
    // Past the middle, read backwards from the far end and turn the rows round.
    // (Not when the total is only a lower bound: its far end is unknown.)
    let backwards = !more && start > total - end;
    let mut query = filtered(&search).select(Token::as_select());
    let ascending = (q.direction == Direction::Asc) != backwards;
    query = match (q.sort, ascending) {
        // Case does not decide the order ("automation" before "Staging");
        // ties go by the exact name.
        (SortKey::Name, true) => query.order((lower(tokens::name).asc(), tokens::name.asc())),
        (SortKey::Name, false) => query.order((lower(tokens::name).desc(), tokens::name.desc())),
        (SortKey::Created, true) => query.order((tokens::created_at.asc(), tokens::id.asc())),
        (SortKey::Created, false) => query.order((tokens::created_at.desc(), tokens::id.desc())),
        // "Never" sorts after every date, both ways round; each order (and
        // its exact reverse) has an index.
        (SortKey::Expires, _) => {
            order_never_last!(query, tokens::expires_at, q.direction, backwards)
        }
        (SortKey::LastUsed, _) => {
            order_never_last!(query, tokens::last_used_at, q.direction, backwards)
        }
    };
    let (offset, limit) = if backwards {
        (total - end, end - start)
    } else {
        (start, per_page)
    };
    let mut rows = query.limit(limit.max(0)).offset(offset).load(conn)?;
    if backwards {
        rows.reverse();
    }
    Ok(TokenPage {
        tokens: rows,
        total,
        more,
        page,
        per_page,
    })
}

/// How many matches a search counts at most when it matches many.
pub const SEARCH_COUNT_CAP: i64 = 100;

/// Matches store-wide up to which a search is selective: found through
/// the trigram index and counted exactly.
pub const SELECTIVE: i64 = 500;

/// How a search finds its tokens.
#[derive(Debug)]
enum Search {
    Nothing,
    /// Selective: among these ids (on SQLite every match in the store and
    /// perhaps a few rows more, by the trigram index, the term checked on
    /// each; on PostgreSQL every match in the scope, up to
    /// [`SEARCH_COUNT_CAP`]).
    Among(Vec<i64>),
    /// Matches many (or is too short for a trigram): checked on each row
    /// of the sort's index, which stops at a page.
    Everywhere,
    /// Known to match more than [`SELECTIVE`] (by the names kept in
    /// memory): checked on each row of the sort's index, not counted.
    Many,
    /// PostgreSQL, a term with common words: the trigram indexes are asked
    /// for this `LIKE` pattern of its rare part, and the whole term is
    /// checked on each row they give.
    Narrowed(String),
}

/// Searches one owner's token names kept in memory (read again first if
/// the owner's tokens changed): `None` when they cannot be kept, or the
/// listing is not one owner's.
fn in_memory(
    conn: &mut DbConnection,
    scope: Scope,
    filter: &str,
    kept: &TokenNames,
) -> Result<Option<Search>, OpError> {
    let Scope::Of(owner) = scope else {
        return Ok(None);
    };
    let Some((account_created_at, names_version, token_count)) = account_rows::table
        .find(owner)
        .select((
            account_rows::created_at,
            account_rows::token_names_version,
            account_rows::token_count,
        ))
        .first::<(i64, i64, i64)>(conn)
        .optional()?
    else {
        return Ok(Some(Search::Among(Vec::new())));
    };
    let version = Version {
        account_created_at,
        names_version,
    };
    let term = token_names::fold(conn.backend(), filter);
    Ok(
        match kept.search(conn, owner, version, token_count, &term, SELECTIVE as usize)? {
            Some(Found::Few(ids)) => Some(Search::Among(ids)),
            Some(Found::Many) => Some(Search::Many),
            None => None,
        },
    )
}

/// Asks the trigram index for up to [`SELECTIVE`] + 1 matches store-wide,
/// so that a search matching nothing or little is answered from the index
/// and one matching many walks the page's own index instead.
fn probe(conn: &mut DbConnection, filter: &str, pattern: &str) -> Result<Search, OpError> {
    // A trigram index has nothing for a shorter term.
    if filter.chars().count() < 3 {
        return Ok(Search::Everywhere);
    }
    let ids: Vec<i64> = match conn.backend() {
        // Tokens holding each of a few trigrams that cover the term (the
        // whole term is checked on each, with LIKE, by the caller); if
        // there are many, those holding the substring itself (a quoted
        // phrase), so that a term that matches few is never walked for.
        Backend::Sqlite => {
            let found = fts_match(conn, &trigram_cover(filter))?;
            if found.len() as i64 > SELECTIVE && filter.chars().count() > 3 {
                fts_match(conn, &fts_phrase(filter))?
            } else {
                found
            }
        }
        // ILIKE on name or description, each with its trigram index
        // (pg_trgm); PostgreSQL picks the index or a walk by its estimate.
        Backend::Postgres => diesel::sql_query(
            "SELECT id FROM tokens WHERE name ILIKE $1 ESCAPE '\\' \
             OR description ILIKE $1 ESCAPE '\\' LIMIT $2",
        )
        .bind::<diesel::sql_types::Text, _>(pattern)
        .bind::<diesel::sql_types::BigInt, _>(SELECTIVE + 1)
        .load::<Id>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect(),
    };
    Ok(if ids.len() as i64 > SELECTIVE {
        Search::Everywhere
    } else {
        Search::Among(ids)
    })
}

/// Up to [`SELECTIVE`] + 1 rows of SQLite's search index that `query`
/// (FTS5's syntax) finds.
fn fts_match(conn: &mut DbConnection, query: &str) -> Result<Vec<i64>, OpError> {
    Ok(diesel::sql_query(
        "SELECT rowid AS id FROM tokens_search WHERE tokens_search MATCH ? LIMIT ?",
    )
    .bind::<diesel::sql_types::Text, _>(query)
    .bind::<diesel::sql_types::BigInt, _>(SELECTIVE + 1)
    .load::<Id>(conn)?
    .into_iter()
    .map(|r| r.id)
    .collect())
}

/// An FTS5 query for the rows whose text holds every trigram of a cover
/// of `filter` (at least three characters): the trigrams that start at
/// every third character, and the last one. Every row holding the term
/// holds them, and few others do. A quoted phrase of the whole term (the
/// substring itself) reads the lists of all its overlapping trigrams and
/// checks their positions. Measured on the scale bench's stores, merged
/// and not: at a million tokens `"deploy-000050"` took 253-319 us, its
/// cover `"dep" AND "loy" AND "-00" AND "005" AND "050"` 129-172 us (25
/// rows for 3 matches); at 1,000 tokens 40-158 against 19-71 us.
fn trigram_cover(filter: &str) -> String {
    let chars: Vec<char> = filter.chars().collect();
    if chars.len() < 3 {
        // No trigram: the phrase (which finds nothing).
        return fts_phrase(filter);
    }
    let mut starts: Vec<usize> = (0..=chars.len() - 3).step_by(3).collect();
    if starts.last() != Some(&(chars.len() - 3)) {
        starts.push(chars.len() - 3);
    }
    starts
        .into_iter()
        .map(|i| fts_phrase(&chars[i..i + 3].iter().collect::<String>()))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `text` as an FTS5 phrase: the substring itself.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn like_pattern(filter: &str) -> Option<String> {
    let filter = filter.trim().to_ascii_lowercase();
    if filter.is_empty() {
        return None;
    }
    let mut escaped = String::with_capacity(filter.len() + 2);
    escaped.push('%');
    for c in filter.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    Some(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_is_searched_by_trigrams_that_cover_it_and_quotes_are_doubled() {
        assert_eq!(trigram_cover("dep"), "\"dep\"");
        assert_eq!(trigram_cover("depl"), "\"dep\" AND \"epl\"");
        assert_eq!(trigram_cover("deploy"), "\"dep\" AND \"loy\"");
        assert_eq!(
            trigram_cover("deploy-000050"),
            "\"dep\" AND \"loy\" AND \"-00\" AND \"005\" AND \"050\""
        );
        assert_eq!(trigram_cover("a\"bcd"), "\"a\"\"b\" AND \"bcd\"");
        // Characters, not bytes.
        assert_eq!(trigram_cover("ünï"), "\"ünï\"");
        assert_eq!(trigram_cover("ab"), "\"ab\"");
    }

    #[test]
    fn like_pattern_escapes_wildcards_and_lowercases() {
        assert_eq!(like_pattern("  "), None);
        assert_eq!(like_pattern("Dep"), Some("%dep%".into()));
        assert_eq!(like_pattern("a_b%"), Some("%a\\_b\\%%".into()));
    }
}
