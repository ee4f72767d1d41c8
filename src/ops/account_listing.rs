//! Listing accounts: a page at a time for the Accounts page (searched by
//! user name), or all at once for the API's `listaccts`, each with its
//! owner's name, token count and contact address.

use diesel::prelude::*;

use crate::db::models::AccountRow;
use crate::db::schema::accounts;
use crate::db::DbConnection;
use crate::domain::{EmailAddress, Username};

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

/// Which accounts a page shows: a filter on the user name and a page.
#[derive(Clone, Debug)]
pub struct AccountQuery {
    pub filter: String,
    /// 1-based.
    pub page: i64,
    pub per_page: i64,
}

impl Default for AccountQuery {
    fn default() -> Self {
        Self {
            filter: String::new(),
            page: 1,
            per_page: 50,
        }
    }
}

pub struct AccountPage {
    pub rows: Vec<AccountSummary>,
    /// Accounts matching the filter, over all pages; a search counts up to
    /// [`SEARCH_COUNT_CAP`].
    pub total: i64,
    /// More than `total` match the search.
    pub more: bool,
    pub page: i64,
    pub per_page: i64,
}

impl AccountPage {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

/// One page of the accounts the actor manages, by user name. Cost: the
/// user-name index (root) or the owner's range of it (a reseller), and one
/// page of rows, whatever the number of accounts.
pub fn page(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &AccountQuery,
) -> Result<AccountPage, OpError> {
    actor.require(LIST_ACCOUNTS)?;
    crate::db::snapshot(conn, |conn| page_in(conn, actor, q))
}

fn page_in(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &AccountQuery,
) -> Result<AccountPage, OpError> {
    let per_page = q.per_page.clamp(1, 500);
    let filter = q.filter.trim().to_ascii_lowercase();
    // User names are lower-case letters and digits: any other character
    // matches nothing, and these need no escaping in LIKE.
    if !filter
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Ok(AccountPage {
            rows: Vec::new(),
            total: 0,
            more: false,
            page: 1,
            per_page,
        });
    }
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
    if pattern.is_some() {
        // A search reads the user-name index once, checking each name, up
        // to the cap: its count and its page from one pass.
        let found: Vec<i64> = scoped()
            .select(accounts::id)
            .order(accounts::username.asc())
            .limit(SEARCH_COUNT_CAP + 1)
            .load(conn)?;
        let more = found.len() as i64 > SEARCH_COUNT_CAP;
        let total = (found.len() as i64).min(SEARCH_COUNT_CAP);
        let page = q.page.clamp(1, ((total + per_page - 1) / per_page).max(1));
        let ids: Vec<i64> = found
            .into_iter()
            .take(total as usize)
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .collect();
        return Ok(AccountPage {
            rows: summaries(conn, &ids)?,
            total,
            more,
            page,
            per_page,
        });
    }
    let total: i64 = scoped().count().get_result(conn)?;
    let page = q.page.clamp(1, ((total + per_page - 1) / per_page).max(1));
    let (start, end) = ((page - 1) * per_page, (page * per_page).min(total));
    // Past the middle, read from the far end of the index.
    let ids: Vec<i64> = if start > total - end {
        scoped()
            .select(accounts::id)
            .order(accounts::username.desc())
            .limit(end - start)
            .offset(total - end)
            .load(conn)?
    } else {
        scoped()
            .select(accounts::id)
            .order(accounts::username.asc())
            .limit(per_page)
            .offset(start)
            .load(conn)?
    };
    let rows = summaries(conn, &ids)?;
    Ok(AccountPage {
        rows,
        total,
        more: false,
        page,
        per_page,
    })
}

/// How many accounts a search counts at most.
pub const SEARCH_COUNT_CAP: i64 = 500;

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
