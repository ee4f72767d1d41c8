//! Listing tokens a page at a time: one account's (the tokens page),
//! every account's (root's `/tokens/all`) or those of a reseller's
//! accounts, searched by name and description, sorted, and paged from
//! whichever end is nearer. Never a pass over every token.

use diesel::prelude::*;

use crate::db::schema::{accounts as account_rows, tokens};
use crate::db::{Backend, DbConnection};
use crate::domain::Username;

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
    /// Tokens matching the filter, over all pages.
    pub total: i64,
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
/// page costs what the first does), the owner's stored count, and for a
/// search the trigram index's matches; never a pass over every token.
pub fn list(conn: &mut DbConnection, actor: &Actor, q: &ListQuery) -> Result<TokenPage, OpError> {
    actor.require(MANAGE_TOKENS)?;
    // The count and the page it counts, from one snapshot.
    crate::db::snapshot(conn, |conn| list_in(conn, Scope::Of(actor.id()), q))
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
        let page = list_in(conn, scope, q)?;
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

fn list_in(conn: &mut DbConnection, scope: Scope, q: &ListQuery) -> Result<TokenPage, OpError> {
    // Names and descriptions hold no control characters: a search with one
    // (a NUL, say) matches nothing, and never reaches SQL.
    let searchable = !q.filter.chars().any(char::is_control);
    if !searchable {
        return Ok(TokenPage {
            tokens: Vec::new(),
            total: 0,
            page: 1,
            per_page: q.per_page.clamp(1, 500),
        });
    }
    let filter = q.filter.trim().to_ascii_lowercase();
    let pattern = like_pattern(&filter);
    let per_page = q.per_page.clamp(1, 500);
    let backend = conn.backend();
    let filtered = || {
        let mut query = tokens::table.into_boxed();
        query = match scope {
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
            query = match backend {
                // ILIKE on name or description, each answered from its
                // trigram index (pg_trgm).
                Backend::Postgres => query.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("(tokens.name ILIKE ")
                        .bind::<diesel::sql_types::Text, _>(p.clone())
                        .sql(" ESCAPE '\\' OR tokens.description ILIKE ")
                        .bind::<diesel::sql_types::Text, _>(p.clone())
                        .sql(" ESCAPE '\\')"),
                ),
                // A quoted FTS5 phrase of the search is the substring
                // itself, found in the trigram index of names and
                // descriptions; LIKE (ASCII case-insensitive in SQLite)
                // checks the few rows it gives, and alone serves searches
                // shorter than a trigram.
                Backend::Sqlite if filter.chars().count() >= 3 => query
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>(
                            "tokens.id IN (SELECT rowid FROM tokens_search WHERE tokens_search MATCH ",
                        )
                        .bind::<diesel::sql_types::Text, _>(format!(
                            "\"{}\"",
                            filter.replace('"', "\"\"")
                        ))
                        .sql(")"),
                    )
                    .filter(
                        tokens::name
                            .like(p.clone())
                            .escape('\\')
                            .or(tokens::description.like(p.clone()).escape('\\')),
                    ),
                Backend::Sqlite => query.filter(
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
    // not a pass over the tokens.
    let total: i64 = match (&pattern, scope) {
        _ if q.hide_disabled => filtered().count().get_result(conn)?,
        (None, Scope::Of(id)) => account_rows::table
            .find(id)
            .select(account_rows::token_count)
            .first::<i64>(conn)
            .optional()?
            .unwrap_or(0),
        (None, Scope::Everyone) => account_rows::table
            .select(sum_of_token_counts())
            .first::<Option<i64>>(conn)?
            .unwrap_or(0),
        (None, Scope::OwnedBy(reseller)) => account_rows::table
            .filter(account_rows::owner_id.eq(reseller))
            .select(sum_of_token_counts())
            .first::<Option<i64>>(conn)?
            .unwrap_or(0),
        (Some(_), _) => filtered().count().get_result(conn)?,
    };
    let pages = ((total + per_page - 1) / per_page).max(1);
    let page = q.page.clamp(1, pages);
    let start = (page - 1) * per_page;
    let end = (page * per_page).min(total);
    // Past the middle, read backwards from the far end and turn the rows round.
    let backwards = start > total - end;
    let mut query = filtered().select(Token::as_select());
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
        page,
        per_page,
    })
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
    fn like_pattern_escapes_wildcards_and_lowercases() {
        assert_eq!(like_pattern("  "), None);
        assert_eq!(like_pattern("Dep"), Some("%dep%".into()));
        assert_eq!(like_pattern("a_b%"), Some("%a\\_b\\%%".into()));
    }
}
