//! The tokens table: what the URL says (search, sort, page), one page of
//! rows, and the table as the page and htmx show it.
use std::str::FromStr;

use actix_web::HttpRequest;
use askama::Template;
use serde::Deserialize;

use crate::ops::token_listing::{self as listing, Direction, ListQuery, SortKey, TokenPage};
use crate::state::AppState;

use super::form::lenient;
use super::token_rows::RowView;
use super::{SignedIn, UiError};

pub const PER_PAGE_CHOICES: [i64; 4] = [10, 25, 50, 100];

/// The table's query string: what the URL says, read once. What cannot be
/// read gives the default view.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TableParams {
    q: String,
    /// On `/tokens/all`: one owner's tokens.
    pub(super) owner: String,
    /// `hide`: leave disabled tokens out.
    disabled: String,
    #[serde(deserialize_with = "lenient")]
    sort: Option<SortKey>,
    #[serde(deserialize_with = "lenient")]
    dir: Option<Direction>,
    #[serde(deserialize_with = "lenient")]
    page: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    per_page: Option<i64>,
}

impl FromStr for SortKey {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "name" => Ok(Self::Name),
            "created" => Ok(Self::Created),
            "expires" => Ok(Self::Expires),
            "used" => Ok(Self::LastUsed),
            _ => Err(()),
        }
    }
}

impl FromStr for Direction {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(()),
        }
    }
}

/// The table's view of the query.
#[derive(Clone)]
pub struct TableQuery {
    pub list: ListQuery,
    /// The page this table is on: `/tokens` or `/tokens/all`.
    pub base: &'static str,
    /// On `/tokens/all`: one owner's tokens (empty: everyone's).
    pub owner: String,
}

impl From<TableParams> for TableQuery {
    fn from(p: TableParams) -> Self {
        let sort = p.sort.unwrap_or(SortKey::Created);
        let direction = p.dir.unwrap_or(if sort == SortKey::Name {
            Direction::Asc
        } else {
            Direction::Desc
        });
        Self {
            list: ListQuery {
                filter: p.q.chars().take(50).collect(),
                hide_disabled: p.disabled == "hide",
                sort,
                direction,
                page: p.page.unwrap_or(1).max(1),
                per_page: p
                    .per_page
                    .filter(|n| PER_PAGE_CHOICES.contains(n))
                    .unwrap_or(25),
            },
            base: "/tokens",
            owner: p.owner.trim().chars().take(16).collect(),
        }
    }
}

impl TableQuery {
    /// The table the user was looking at when htmx sent a request: htmx
    /// sends that page's URL along.
    pub(super) fn of_current_url(req: &HttpRequest) -> Self {
        let query = req
            .headers()
            .get("hx-current-url")
            .and_then(|v| v.to_str().ok())
            .and_then(|u| u.split_once('?').map(|(_, q)| q))
            .unwrap_or_default();
        serde_html_form::from_str::<TableParams>(query)
            .unwrap_or_default()
            .into()
    }

    pub fn sort_key(&self) -> &'static str {
        match self.list.sort {
            SortKey::Name => "name",
            SortKey::Created => "created",
            SortKey::Expires => "expires",
            SortKey::LastUsed => "used",
        }
    }

    pub fn dir(&self) -> &'static str {
        match self.list.direction {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }

    /// The URL of this view with some parts changed.
    pub fn url_with(&self, sort: &str, dir: &str, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.list.filter.is_empty() {
            pairs.push(("q", self.list.filter.clone()));
        }
        if !self.owner.is_empty() {
            pairs.push(("owner", self.owner.clone()));
        }
        if self.list.hide_disabled {
            pairs.push(("disabled", "hide".to_owned()));
        }
        pairs.push(("sort", sort.to_owned()));
        pairs.push(("dir", dir.to_owned()));
        if self.list.per_page != 25 {
            pairs.push(("per_page", self.list.per_page.to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        format!(
            "{}?{}",
            self.base,
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

#[derive(Template)]
#[template(path = "tokens/table.html")]
pub struct TokensTable {
    pub rows: Vec<RowView>,
    pub query: TableQuery,
    pub total: i64,
    /// More match than `total` (a search counted up to its cap).
    pub more: bool,
    pub pages: i64,
    /// Every account's tokens (`/tokens/all`), with their owners.
    pub everyone: bool,
    /// Whether this table offers Revoke (not to a reseller on
    /// `/tokens/all`, which is read-only).
    pub can_revoke: bool,
    /// For the rows' Disable/Enable forms.
    pub csrf: String,
    /// The server's time zone, which the dates are in ("UTC").
    pub zone: String,
}

impl TokensTable {
    /// Where a column heading leads: sorted by it, flipping the direction
    /// when it is already the sort column.
    pub fn sort_url(&self, key: &str) -> String {
        let dir = if self.query.sort_key() == key {
            if self.query.dir() == "asc" {
                "desc"
            } else {
                "asc"
            }
        } else if key == "name" {
            "asc"
        } else {
            "desc"
        };
        self.query.url_with(key, dir, 1)
    }

    pub fn aria_sort(&self, key: &str) -> &'static str {
        match (self.query.sort_key() == key, self.query.dir()) {
            (false, _) => "none",
            (true, "asc") => "ascending",
            (true, _) => "descending",
        }
    }

    pub fn page_url(&self, page: i64) -> String {
        self.query
            .url_with(self.query.sort_key(), self.query.dir(), page)
    }

    pub fn page(&self) -> i64 {
        self.query.list.page
    }

    pub fn filtered(&self) -> bool {
        !self.query.list.filter.is_empty()
    }
}

pub(super) async fn load_table(
    state: &AppState,
    user: &SignedIn,
    query: TableQuery,
) -> Result<TokensTable, UiError> {
    let list = query.list.clone();
    let kept = state.token_names.clone();
    let (page, policy) = state
        .read_as(&user.actor, move |conn, actor| {
            let page = listing::list(conn, actor, &list, &kept)?;
            Ok((
                page,
                crate::ops::policies::for_account(conn, &actor.account)?,
            ))
        })
        .await?;
    // Rows that root's policy blocks say which rule they break.
    let now = state.clock.now();
    let blocked: Vec<String> = page
        .tokens
        .iter()
        .map(|t| {
            policy
                .breach(t.expiry, &t.ips, t.privileges, now)
                .map(|b| b.to_string())
                .unwrap_or_default()
        })
        .collect();
    let mut table = TokensTable::of(state, user, query, page, None);
    for (row, why) in table.rows.iter_mut().zip(blocked) {
        row.blocked = why;
    }
    Ok(table)
}

impl TokensTable {
    /// The table for one page of tokens; with `owners` (account id and
    /// name), the `/tokens/all` table with its Owner column, where only
    /// root may revoke.
    pub(super) fn of(
        state: &AppState,
        user: &SignedIn,
        mut query: TableQuery,
        page: TokenPage,
        owners: Option<&[(i64, crate::domain::Username)]>,
    ) -> Self {
        // The page shown, which a page past the end was brought back to.
        query.list.page = page.page;
        let now = state.clock.now();
        let owner_of = |id: i64| {
            owners
                .and_then(|o| o.iter().find(|(owner, _)| *owner == id))
                .map(|(_, name)| name.to_string())
                .unwrap_or_default()
        };
        Self {
            rows: page
                .tokens
                .iter()
                .map(|t| RowView {
                    owner: owner_of(t.account_id),
                    ..RowView::of(t, &state.clock, now)
                })
                .collect(),
            pages: page.pages(),
            total: page.total,
            more: page.more,
            query,
            everyone: owners.is_some(),
            can_revoke: owners.is_none() || user.actor.account.is_root(),
            csrf: user.csrf.clone(),
            zone: state.clock.zone_name(),
        }
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
