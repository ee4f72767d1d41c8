//! Listing accounts: a page at a time for the Accounts page (searched by
//! user name), or all at once for the API's `listaccts`, each with its
//! owner's name, token count and contact address.

use diesel::prelude::*;

use crate::db::models::AccountRow;
use crate::db::schema::accounts;
use crate::db::DbConnection;
use crate::domain::{EmailAddress, Username};

use super::account_names::AccountNames;
use super::accounts::LIST_ACCOUNTS;
use super::{Account, Actor, OpError};

pub struct AccountSummary {
    pub account: Account,
    /// `None` for root, which has no owner.
    pub owner: Option<Username>,
    pub token_count: i64,
    /// Where its expiry notices go.
    pub contact_email: Option<EmailAddress>,
}

/// Which accounts a page shows: a filter on the user name, where in the
/// order the page is, and its size.
#[derive(Clone, Debug)]
pub struct AccountQuery {
    pub filter: String,
    pub at: PageAt,
    pub per_page: i64,
}

/// Where a page of accounts is in the order of user names: it is read from
/// there along the user-name index, so a page costs the same at the start,
/// the middle or the end of 10,000 accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageAt {
    First,
    /// The names after this one.
    After(String),
    /// The names before this one (the page that ends just before it).
    Before(String),
    Last,
}

impl Default for AccountQuery {
    fn default() -> Self {
        Self {
            filter: String::new(),
            at: PageAt::First,
            per_page: 50,
        }
    }
}

pub struct AccountPage {
    pub rows: Vec<AccountSummary>,
    /// Accounts matching the filter, over all pages, counted up to
    /// [`COUNT_CAP`].
    pub total: i64,
    /// More than `total` match.
    pub more: bool,
    /// Accounts come before this page's first / after its last.
    pub has_previous: bool,
    pub has_next: bool,
    pub per_page: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many accounts there are (of `owner`, or all), counting at most
/// [`COUNT_CAP`] + 1 entries of an index.
fn capped_count(conn: &mut DbConnection, owner: Option<i64>) -> Result<i64, diesel::result::Error> {
    use diesel::sql_types::BigInt;
    let (p1, p2) = match conn.backend() {
        crate::db::Backend::Sqlite => ("?", "?"),
        crate::db::Backend::Postgres => ("$1", "$2"),
    };
    let counted = match owner {
        None => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM accounts LIMIT {p1}) AS counted"
        ))
        .bind::<BigInt, _>(COUNT_CAP + 1)
        .get_result::<Count>(conn)?,
        Some(owner) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM \
             (SELECT 1 FROM accounts WHERE owner_id = {p1} LIMIT {p2}) AS counted"
        ))
        .bind::<BigInt, _>(owner)
        .bind::<BigInt, _>(COUNT_CAP + 1)
        .get_result::<Count>(conn)?,
    };
    Ok(counted.n)
}

/// A page's ids and names, which way it was read, and whether rows come
/// before and after it.
struct Window {
    rows: Vec<(i64, String)>,
    forward: bool,
    has_previous: bool,
    has_next: bool,
}

/// A page of `all` (every match, by user name) at `at`.
fn window(all: Vec<(i64, String)>, at: &PageAt, per_page: i64) -> Window {
    let n = per_page as usize;
    let (start, end, forward) = match at {
        PageAt::First => (0, n.min(all.len()), true),
        PageAt::After(name) => {
            let start = all.partition_point(|(_, u)| u <= name);
            (start, (start + n).min(all.len()), true)
        }
        PageAt::Before(name) => {
            let end = all.partition_point(|(_, u)| u < name);
            (end.saturating_sub(n), end, false)
        }
        PageAt::Last => (all.len().saturating_sub(n), all.len(), false),
    };
    let (has_previous, has_next) = (start > 0, end < all.len());
    Window {
        rows: all.into_iter().skip(start).take(end - start).collect(),
        forward,
        has_previous,
        has_next,
    }
}

/// A page at `at` read from its place in the index: every page without a
/// search, and a search's past the count cap.
fn far_page<'a>(
    conn: &mut DbConnection,
    scoped: &impl Fn() -> AccountsQuery<'a>,
    at: &PageAt,
    per_page: i64,
) -> Result<Window, diesel::result::Error> {
    // A page and one more row: whether there is more beyond it.
    let limit = per_page + 1;
    let (mut found, forward) = match at {
        PageAt::First => (names_along(conn, scoped(), true, limit)?, true),
        PageAt::After(name) => (
            names_along(
                conn,
                scoped().filter(accounts::username.gt(name.clone())),
                true,
                limit,
            )?,
            true,
        ),
        PageAt::Before(name) => (
            names_along(
                conn,
                scoped().filter(accounts::username.lt(name.clone())),
                false,
                limit,
            )?,
            false,
        ),
        PageAt::Last => (names_along(conn, scoped(), false, limit)?, false),
    };
    let beyond = found.len() as i64 > per_page;
    found.truncate(per_page as usize);
    if !forward {
        found.reverse();
    }
    let (has_previous, has_next) = match at {
        PageAt::First => (false, beyond),
        PageAt::After(_) => (true, beyond),
        PageAt::Before(_) => (beyond, true),
        PageAt::Last => (beyond, false),
    };
    Ok(Window {
        rows: found,
        forward,
        has_previous,
        has_next,
    })
}

/// Up to `limit` ids and names from `query`, along the user-name index one
/// way or the other.
fn names_along(
    conn: &mut DbConnection,
    query: AccountsQuery<'_>,
    forward: bool,
    limit: i64,
) -> Result<Vec<(i64, String)>, diesel::result::Error> {
    let query = query
        .select((accounts::id, accounts::username))
        .limit(limit);
    if forward {
        query.order(accounts::username.asc()).load(conn)
    } else {
        query.order(accounts::username.desc()).load(conn)
    }
}

type AccountsQuery<'a> = accounts::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

/// How many accounts a page counts at most ("1000+").
pub const COUNT_CAP: i64 = 1000;

/// One page of the accounts the actor manages, by user name. Cost: a count
/// of at most [`COUNT_CAP`] entries of the user-name index (root) or the
/// owner's range of it (a reseller), and one page read from the page's
/// place in it, whatever the number of accounts; a search looks through
/// the names kept in memory (or, when they cannot be, checks names along
/// the same index).
pub fn page(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &AccountQuery,
    names: &Names<'_>,
) -> Result<AccountPage, OpError> {
    actor.require(LIST_ACCOUNTS)?;
    crate::db::snapshot(conn, |conn| page_in(conn, actor, q, names))
}

/// The user names kept in memory, and the change feed's generation read
/// before the page (`None`: they may not be used).
pub struct Names<'a> {
    pub kept: &'a AccountNames,
    pub generation: Option<u64>,
}

fn page_in(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &AccountQuery,
    names: &Names<'_>,
) -> Result<AccountPage, OpError> {
    let per_page = q.per_page.clamp(1, 500);
    let filter = q.filter.trim().to_ascii_lowercase();
    // User names are lower-case letters and digits: any other character
    // matches nothing, and these need no escaping in LIKE.
    let name_like = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    let cursor_ok = match &q.at {
        PageAt::After(n) | PageAt::Before(n) => name_like(n),
        PageAt::First | PageAt::Last => true,
    };
    if !name_like(&filter) {
        return Ok(AccountPage {
            rows: Vec::new(),
            total: 0,
            more: false,
            has_previous: false,
            has_next: false,
            per_page,
        });
    }
    let at = if cursor_ok {
        q.at.clone()
    } else {
        PageAt::First
    };
    let pattern = (!filter.is_empty()).then(|| format!("%{filter}%"));
    let scoped = || {
        let mut query = accounts::table.into_boxed();
        if !actor.account.is_root() {
            query = query.filter(accounts::owner_id.eq(actor.id()));
        }
        if let Some(p) = &pattern {
            query = query.filter(accounts::username.like(p.clone()));
        }
        query
    };
    // A search: up to the cap, one pass along the index gives the count
    // and every page (the matches are few); past it, the page is read from
    // its own place in the index. Without one: a count that stops at the
    // cap (no rows leave the store), and the page from its place.
    let owner = (!actor.account.is_root()).then(|| actor.id());
    let kept = match pattern {
        Some(_) => names.kept.search(conn, names.generation, owner, &filter)?,
        None => None,
    };
    let (total, more, page) = if let Some(all) = kept {
        // Every match, from memory: the page is a window of them.
        let n = all.len() as i64;
        (n.min(COUNT_CAP), n > COUNT_CAP, window(all, &at, per_page))
    } else if pattern.is_some() {
        let counted = names_along(conn, scoped(), true, COUNT_CAP + 1)?;
        let n = counted.len() as i64;
        let page = if n > COUNT_CAP {
            far_page(conn, &scoped, &at, per_page)?
        } else {
            window(counted, &at, per_page)
        };
        (n.min(COUNT_CAP), n > COUNT_CAP, page)
    } else {
        let n = capped_count(conn, owner)?;
        let page = far_page(conn, &scoped, &at, per_page)?;
        (n.min(COUNT_CAP), n > COUNT_CAP, page)
    };
    let Window {
        rows: found,
        forward,
        has_previous,
        has_next,
    } = page;
    // A page past either end (its cursor was the last name, say) shows the
    // end it went past.
    if found.is_empty() && total > 0 {
        let end = if forward { PageAt::Last } else { PageAt::First };
        return page_in(
            conn,
            actor,
            &AccountQuery {
                at: end,
                ..q.clone()
            },
            names,
        );
    }
    let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
    Ok(AccountPage {
        rows: summaries(conn, &ids)?,
        total,
        more,
        has_previous,
        has_next,
        per_page,
    })
}

/// Accounts with their owners' names and stored token counts, by user name;
/// the caller adds which accounts.
macro_rules! summary_query {
    () => {{
        let owners = diesel::alias!(accounts as owners);
        accounts::table
            .left_join(owners.on(accounts::owner_id.eq(owners.field(accounts::id).nullable())))
            .select((
                AccountRow::as_select(),
                owners.field(accounts::username).nullable(),
                accounts::token_count,
                accounts::contact_email,
            ))
            .order(accounts::username.asc())
            .into_boxed()
    }};
}

/// The accounts with these ids, with their owners' names and token counts,
/// by user name.
fn summaries(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<AccountSummary>, OpError> {
    summary_query!()
        .filter(accounts::id.eq_any(ids))
        .load::<SummaryRow>(conn)
        .map(|rows| rows.into_iter().map(summary_of).collect())
        .map_err(OpError::from)
}

type SummaryRow = (AccountRow, Option<Username>, i64, Option<EmailAddress>);

fn summary_of((row, owner, token_count, contact_email): SummaryRow) -> AccountSummary {
    AccountSummary {
        account: row.into(),
        owner,
        token_count,
        contact_email,
    }
}

/// The accounts the actor manages, by user name.
pub fn list(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<AccountSummary>, OpError> {
    actor.require(LIST_ACCOUNTS)?;
    let mut query = summary_query!();
    if !actor.account.is_root() {
        query = query.filter(accounts::owner_id.eq(actor.id()));
    }
    query
        .load::<SummaryRow>(conn)
        .map(|rows| rows.into_iter().map(summary_of).collect())
        .map_err(OpError::from)
}
