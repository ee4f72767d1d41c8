//! The tokens page: the table (search, sort, pages, row colours), Refresh
//! List, Revoke, Revoke Selected and Revoke All.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::{Expiry, ServerClock, TokenName};
use crate::ops::accounts as account_ops;
use crate::ops::tokens::{self as token_ops, Direction, ListQuery, SortKey, Token};
use crate::ops::OpError;
use crate::state::AppState;

use super::confirm::{self, Confirmation};
use super::form::{lenient, Form, Query};
use super::token_form::load;
use super::{
    flash, redirect, render, render_parts, wants_partial, Chrome, SignedIn, Toast, UiError,
};

pub const PER_PAGE_CHOICES: [i64; 4] = [10, 25, 50, 100];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Current,
    ExpiresSoon,
    Expired,
}

pub struct RowView {
    pub id: i64,
    pub description: String,
    pub enabled: bool,
    /// On `/tokens/all`: the owning account.
    pub owner: String,
    pub name: String,
    pub created: String,
    pub expires: String,
    pub ips: String,
    pub state: RowState,
    /// What the token may do at a glance: "Everything", or "List
    /// Accounts, Suspend Accounts +3".
    pub privileges: String,
    /// Every privilege it holds, for hover and focus.
    pub privileges_full: String,
    /// "Never", or how long ago ("3 minutes ago").
    pub last_used: String,
    /// The exact time, the address and the count, for hover and focus.
    pub last_used_detail: String,
}

/// A privilege set in words: "Everything", or the first `shown` labels and
/// how many more.
pub fn privilege_summary(set: crate::domain::PrivilegeSet, shown: usize) -> String {
    if set.contains(crate::domain::Privilege::all()) {
        return "Everything".to_owned();
    }
    let labels: Vec<&str> = set.iter().map(|p| p.entry().label).collect();
    let more = labels.len().saturating_sub(shown);
    let head = labels[..labels.len().min(shown)].join(", ");
    if more > 0 {
        format!("{head} +{more}")
    } else {
        head
    }
}

/// How long ago `then` was, in words.
pub fn ago(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    let (n, unit) = match secs {
        0..60 => return "just now".to_owned(),
        60..3600 => (secs / 60, "minute"),
        3600..86_400 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A token's use, in words: when, from where, how often.
pub fn usage_detail(token: &Token, clock: &ServerClock) -> String {
    match token.last_used_at {
        None => "Never used".to_owned(),
        Some(at) => format!(
            "Last used {} from {}; {} call{} in all",
            clock.format(at),
            token
                .last_used_ip
                .as_deref()
                .unwrap_or("an unknown address"),
            token.use_count,
            if token.use_count == 1 { "" } else { "s" }
        ),
    }
}

impl RowView {
    pub(super) fn of(token: &Token, clock: &ServerClock, now: i64) -> Self {
        let state = if token.expiry.is_expired(now) {
            RowState::Expired
        } else if token.expiry.expires_soon(now) {
            RowState::ExpiresSoon
        } else {
            RowState::Current
        };
        Self {
            id: token.id,
            description: token.description.to_string(),
            enabled: token.enabled,
            owner: String::new(),
            name: token.name.to_string(),
            created: clock.format(token.created_at),
            expires: match token.expiry {
                Expiry::Never => String::new(),
                Expiry::At(t) => clock.format(t),
            },
            ips: token.ips.to_string(),
            state,
            privileges: privilege_summary(token.privileges, 2),
            privileges_full: privilege_summary(token.privileges, usize::MAX),
            last_used: token
                .last_used_at
                .map_or_else(|| "Never".to_owned(), |at| ago(at, now)),
            last_used_detail: usage_detail(token, clock),
        }
    }

    pub fn row_class(&self) -> &'static str {
        if !self.enabled {
            return "disabled";
        }
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "expiring",
            RowState::Expired => "expired",
        }
    }

    pub fn notice(&self) -> &'static str {
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "Expires in less than 24 hours",
            RowState::Expired => "Expired",
        }
    }

    pub fn status_class(&self) -> &'static str {
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "expiring",
            RowState::Expired => "expired",
        }
    }

    /// The visible word beside the colour ("Expires soon", "Expired").
    pub fn status(&self) -> &'static str {
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "Expires soon",
            RowState::Expired => "Expired",
        }
    }
}

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

#[derive(Template)]
#[template(path = "tokens/page.html")]
pub struct TokensPage {
    pub chrome: Chrome,
    pub table: TokensTable,
    /// "deploy was used from 203.0.113.9 for the first time", until
    /// dismissed.
    pub notices: Vec<String>,
    /// "2 tokens expire within 7 days, 1 has expired", when either is so.
    pub expiry_banner: Option<String>,
}

/// The banner's horizon.
const EXPIRY_BANNER_DAYS: i64 = 7;

/// "2 tokens expire within 7 days, 1 has expired".
pub fn expiry_banner(soon: i64, expired: i64) -> Option<String> {
    let tokens = |n: i64| {
        if n == 1 {
            "1 token".to_owned()
        } else {
            format!("{n} tokens")
        }
    };
    match (soon, expired) {
        (0, 0) => None,
        (s, 0) => Some(format!(
            "{} expire{} within {EXPIRY_BANNER_DAYS} days",
            tokens(s),
            if s == 1 { "s" } else { "" }
        )),
        (0, e) => Some(format!(
            "{} {} expired",
            tokens(e),
            if e == 1 { "has" } else { "have" }
        )),
        (s, e) => Some(format!(
            "{} expire{} within {EXPIRY_BANNER_DAYS} days, {e} {} expired",
            tokens(s),
            if s == 1 { "s" } else { "" },
            if e == 1 { "has" } else { "have" }
        )),
    }
}

/// The session entry that remembers which notices were dismissed.
const NOTICES_SEEN: &str = "notices_seen";
/// Notices older than this are not shown.
const NOTICE_DAYS: i64 = 7;

/// The new-address notices this session has not dismissed, with the
/// newest one's id.
async fn notices(
    state: &AppState,
    user: &SignedIn,
    session: &Session,
) -> Result<(Vec<String>, i64), UiError> {
    let seen = session.get::<i64>(NOTICES_SEEN).ok().flatten().unwrap_or(0);
    let id = user.actor.account.id;
    let since = state.clock.now() - NOTICE_DAYS * 86_400;
    let found = state
        .db
        .read(move |conn| crate::ops::audit::new_address_notices(conn, id, seen, since))
        .await?;
    let newest = found.first().map_or(seen, |(id, _)| *id);
    Ok((found.into_iter().map(|(_, d)| d).collect(), newest))
}

/// Dismisses the notices shown.
pub async fn dismiss_notices(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let (_, newest) = notices(&state, &user, &session).await?;
    session
        .insert(NOTICES_SEEN, newest)
        .map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(redirect("/tokens"))
}

#[derive(Template)]
#[template(path = "tokens/no_access.html")]
pub struct NoAccessPage {
    pub chrome: Chrome,
}

/// A signed-in user who may manage API tokens: WHM shows the tokens page
/// only to those holding every Initial Privilege. Every token handler takes
/// this instead of [`SignedIn`], so the rule is checked in one place; the
/// others get the explanation page (see [`UiError::NoTokenAccess`]).
pub struct TokenManager(pub SignedIn);

impl FromRequest for TokenManager {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        let session = req.get_session();
        Box::pin(async move {
            let user = signed_in.await?;
            if user.actor.account.holds_initial_privileges() {
                Ok(TokenManager(user))
            } else {
                Err(UiError::NoTokenAccess(Box::new(Chrome::for_user(
                    &user, &session,
                ))))
            }
        })
    }
}

async fn load_table(
    state: &AppState,
    user: &SignedIn,
    query: TableQuery,
) -> Result<TokensTable, UiError> {
    let list = query.list.clone();
    let page = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::list(conn, actor, &list)
        })
        .await?;
    Ok(TokensTable::of(state, user, query, page, None))
}

impl TokensTable {
    /// The table for one page of tokens; with `owners` (account id and
    /// name), the `/tokens/all` table with its Owner column, where only
    /// root may revoke.
    pub(super) fn of(
        state: &AppState,
        user: &SignedIn,
        query: TableQuery,
        page: token_ops::TokenPage,
        owners: Option<&[(i64, crate::domain::Username)]>,
    ) -> Self {
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
            query,
            everyone: owners.is_some(),
            can_revoke: owners.is_none() || user.actor.account.is_root(),
            csrf: user.csrf.clone(),
            zone: state.clock.zone_name(),
        }
    }
}

pub async fn page(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(params): Query<TableParams>,
) -> Result<HttpResponse, UiError> {
    let table = load_table(&state, &user, params.into()).await?;
    if wants_partial() {
        return render(StatusCode::OK, &table);
    }
    let (notices, _) = notices(&state, &user, &session).await?;
    let now = state.clock.now();
    let (soon, expired) = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::expiry_counts(conn, actor, now, EXPIRY_BANNER_DAYS)
        })
        .await?;
    render(
        StatusCode::OK,
        &TokensPage {
            chrome: Chrome::for_user(&user, &session),
            table,
            notices,
            expiry_banner: expiry_banner(soon, expired),
        },
    )
}

/// After a revoke: for htmx, the refreshed table and a toast (the dialog
/// that asked closes itself); for a plain form, a redirect with a flash
/// message.
async fn after_change(
    req: &HttpRequest,
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    message: &str,
) -> Result<HttpResponse, UiError> {
    if !wants_partial() {
        flash(session, message);
        return Ok(redirect("/tokens"));
    }
    let table = load_table(state, user, TableQuery::of_current_url(req)).await?;
    render_parts(&[&table, &Toast::oob(message)])
}

/// The token a URL names. A name that cannot be valid names no token.
pub(super) fn name_in_path(raw: &str) -> Result<TokenName, UiError> {
    TokenName::parse(raw).map_err(|_| OpError::TokenNotFound(raw.to_owned()).into())
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The names a request gives, as token names; a name that cannot be valid
/// names no token.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Selection {
    names: Vec<String>,
}

impl Selection {
    fn names(&self) -> Vec<TokenName> {
        self.names
            .iter()
            .filter_map(|n| TokenName::parse(n).ok())
            .collect()
    }
}

const NOTHING_SELECTED: &str = "Select at least one token to revoke.";

pub async fn revoke_one(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let name = name_in_path(&name)?;
    let target = name.clone();
    let revoked = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::revoke(conn, actor, &[target])
        })
        .await?;
    if revoked == 0 {
        return Err(OpError::TokenNotFound(name.to_string()).into());
    }
    let message = format!("The token “{name}” was revoked.");
    after_change(&req, &user, &session, &state, &message).await
}

pub async fn revoke_selected(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(selection): Form<Selection>,
) -> Result<HttpResponse, UiError> {
    let names = selection.names();
    if names.is_empty() {
        return Err(UiError::Refused(NOTHING_SELECTED.into()));
    }
    let revoked = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::revoke(conn, actor, &names)
        })
        .await?;
    let message = format!("{revoked} token{} revoked.", plural(revoked));
    after_change(&req, &user, &session, &state, &message).await
}

pub async fn revoke_all(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let revoked = state.write_as(&user.actor, token_ops::revoke_all).await?;
    let message = format!("All of your tokens were revoked ({revoked}).");
    after_change(&req, &user, &session, &state, &message).await
}

/// Disable or Enable (`/tokens/{name}/disable`, `…/enable`): the token is
/// refused while disabled and keeps every setting.
pub async fn set_enabled(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (raw, change) = path.into_inner();
    let name = name_in_path(&raw)?;
    let enabled = change == "enable";
    let changes = token_ops::TokenChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    let target = name.clone();
    state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::update(conn, actor, &target, changes)
        })
        .await?;
    let message = if enabled {
        format!("The token “{name}” was enabled: it works again.")
    } else {
        format!("The token “{name}” was disabled: calls with it are refused until it is enabled.")
    };
    after_change(&req, &user, &session, &state, &message).await
}

/// Disable Selected's confirmation, naming every selected token that exists.
pub async fn disable_selected_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(selection): Query<Selection>,
) -> Result<HttpResponse, UiError> {
    confirm_selected(
        &user,
        &session,
        &state,
        selection,
        SelectedAction {
            verb: "disable",
            title: "Disable Selected Tokens",
            consequence:
                "Calls with them are refused until they are enabled; they keep their settings.",
            action: "/tokens/disable",
        },
    )
    .await
}

/// What a confirmation of selected tokens asks for.
struct SelectedAction {
    verb: &'static str,
    title: &'static str,
    consequence: &'static str,
    action: &'static str,
}

/// The confirmation of an action on the selected tokens, naming every one
/// that exists; nothing selected is refused.
async fn confirm_selected(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    selection: Selection,
    what: SelectedAction,
) -> Result<HttpResponse, UiError> {
    let names = selection.names();
    let found = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::existing(conn, actor, &names)
        })
        .await?;
    if found.is_empty() {
        return Err(UiError::Refused(format!(
            "Select at least one token to {}.",
            what.verb
        )));
    }
    let listed: Vec<String> = found.iter().map(|n| format!("“{n}”")).collect();
    confirm::respond(
        user,
        session,
        &Confirmation {
            title: what.title.to_owned(),
            question: match what.verb {
                "disable" => "Are you sure that you want to disable",
                _ => "Are you sure that you want to revoke",
            },
            what: format!(
                "{} selected token{}: {}",
                found.len(),
                plural(found.len()),
                listed.join(", ")
            ),
            consequence: what.consequence.to_owned(),
            action: what.action.to_owned(),
            hidden: found.iter().map(|n| ("names", n.to_string())).collect(),
            back: "/tokens",
            swaps: Some("#tokens-table"),
        },
    )
}

pub async fn disable_selected(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(selection): Form<Selection>,
) -> Result<HttpResponse, UiError> {
    let names = selection.names();
    if names.is_empty() {
        return Err(UiError::Refused(
            "Select at least one token to disable.".into(),
        ));
    }
    let changed = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::set_enabled(conn, actor, &names, false)
        })
        .await?;
    let message = format!("{} token{} disabled.", changed.len(), plural(changed.len()));
    after_change(&req, &user, &session, &state, &message).await
}

/// Regenerate's confirmation: scripts using the old secret will stop.
pub async fn regenerate_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let target = name_in_path(&name)?;
    let fingerprint = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::secret_fingerprint(conn, actor, &target)
        })
        .await?;
    let token = load(&state, &user, &name).await?;
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Regenerate API Token".to_owned(),
            question: "Are you sure that you want a new secret for",
            what: format!("the token “{}”", token.name),
            consequence: "Its name, privileges, IP list and expiry stay; scripts using the old secret will stop working at once.".to_owned(),
            action: format!("/tokens/{}/regenerate", token.name),
            hidden: vec![("secret", fingerprint)],
            back: "/tokens",
            // The new secret is a page of its own.
            swaps: None,
        },
    )
}

/// Revoke's confirmation, naming the token.
pub async fn revoke_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let token = load(&state, &user, &name).await?;
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Revoke API Token".to_owned(),
            question: "Are you sure that you want to revoke",
            what: format!("the token “{}”", token.name),
            consequence: "Scripts that use it will stop working at once.".to_owned(),
            action: format!("/tokens/{}/revoke", token.name),
            hidden: Vec::new(),
            back: "/tokens",
            swaps: Some("#tokens-table"),
        },
    )
}

/// Revoke Selected's confirmation, naming every selected token that exists.
pub async fn revoke_selected_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(selection): Query<Selection>,
) -> Result<HttpResponse, UiError> {
    confirm_selected(
        &user,
        &session,
        &state,
        selection,
        SelectedAction {
            verb: "revoke",
            title: "Revoke Selected Tokens",
            consequence: "Scripts that use them will stop working at once.",
            action: "/tokens/revoke",
        },
    )
    .await
}

/// Revoke All's confirmation, with how many tokens that is.
pub async fn revoke_all_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let count = state
        .read_as(&user.actor, |conn, actor| {
            account_ops::token_count(conn, actor.id())
        })
        .await?;
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Revoke All API Tokens".to_owned(),
            question: "Are you sure that you want to revoke",
            what: "all of your tokens".to_owned(),
            consequence: format!(
                "That is {count} token{}; every script that uses one will stop working at once.",
                plural(count as usize)
            ),
            action: "/tokens/revoke-all".to_owned(),
            hidden: Vec::new(),
            back: "/tokens",
            swaps: Some("#tokens-table"),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::expiry_banner;

    #[test]
    fn the_expiry_banner_counts_in_words() {
        assert_eq!(expiry_banner(0, 0), None);
        assert_eq!(
            expiry_banner(2, 1).as_deref(),
            Some("2 tokens expire within 7 days, 1 has expired")
        );
        assert_eq!(
            expiry_banner(1, 0).as_deref(),
            Some("1 token expires within 7 days")
        );
        assert_eq!(
            expiry_banner(0, 3).as_deref(),
            Some("3 tokens have expired")
        );
    }
}
