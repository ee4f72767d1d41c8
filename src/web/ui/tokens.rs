//! The tokens page: the table (search, sort, pages, row colours), Refresh
//! List, Revoke, Revoke Selected and Revoke All.

use actix_session::Session;
use actix_web::http::StatusCode;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use crate::domain::{Expiry, ServerClock, TokenName};
use crate::ops::tokens::{self as token_ops, Direction, ListQuery, SortKey, Token};
use crate::ops::OpError;
use crate::state::AppState;
use crate::web::params::Params;

use super::{flash, redirect, render, wants_partial, Chrome, SignedIn, Toast, UiError};

pub const PER_PAGE_CHOICES: [i64; 4] = [10, 25, 50, 100];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Current,
    ExpiresSoon,
    Expired,
}

pub struct RowView {
    pub name: String,
    pub created: String,
    pub expires: String,
    pub ips: String,
    pub state: RowState,
}

impl RowView {
    fn of(token: &Token, clock: &ServerClock, now: i64) -> Self {
        let state = if token.expiry.is_expired(now) {
            RowState::Expired
        } else if token.expiry.expires_soon(now) {
            RowState::ExpiresSoon
        } else {
            RowState::Current
        };
        Self {
            name: token.name.clone(),
            created: clock.format(token.created_at),
            expires: match token.expiry {
                Expiry::Never => String::new(),
                Expiry::At(t) => clock.format(t),
            },
            ips: token.ips.to_string(),
            state,
        }
    }

    pub fn row_class(&self) -> &'static str {
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
}

/// The table's view of the query: what the URL says, parsed once.
#[derive(Clone)]
pub struct TableQuery {
    pub list: ListQuery,
}

impl TableQuery {
    pub fn parse(raw: &str) -> Self {
        let p = Params::parse(raw, None);
        let sort = match p.get("sort") {
            Some("name") => SortKey::Name,
            Some("expires") => SortKey::Expires,
            _ => SortKey::Created,
        };
        let direction = match p.get("dir") {
            Some("asc") => Direction::Asc,
            Some("desc") => Direction::Desc,
            _ if sort == SortKey::Name => Direction::Asc,
            _ => Direction::Desc,
        };
        let per_page = p
            .get("per_page")
            .and_then(|v| v.parse().ok())
            .filter(|n| PER_PAGE_CHOICES.contains(n))
            .unwrap_or(25);
        Self {
            list: ListQuery {
                filter: p.get("q").unwrap_or_default().chars().take(50).collect(),
                sort,
                direction,
                page: p
                    .get("page")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1)
                    .max(1),
                per_page,
            },
        }
    }

    pub fn sort_key(&self) -> &'static str {
        match self.list.sort {
            SortKey::Name => "name",
            SortKey::Created => "created",
            SortKey::Expires => "expires",
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
        pairs.push(("sort", sort.to_owned()));
        pairs.push(("dir", dir.to_owned()));
        if self.list.per_page != 25 {
            pairs.push(("per_page", self.list.per_page.to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        format!(
            "/tokens?{}",
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
    pub csrf: String,
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
        Box::pin(async move {
            let user = signed_in.await?;
            if user.actor.account.holds_initial_privileges() {
                Ok(TokenManager(user))
            } else {
                Err(UiError::NoTokenAccess {
                    username: user.actor.account.username.clone(),
                    is_root: user.actor.account.is_root(),
                    csrf: user.csrf,
                })
            }
        })
    }
}

async fn load_table(
    state: &AppState,
    user: &SignedIn,
    query: TableQuery,
) -> Result<TokensTable, UiError> {
    let actor = user.actor.clone();
    let list = query.list.clone();
    let page = state
        .db
        .read(move |conn| token_ops::list(conn, &actor, &list))
        .await?;
    let now = state.clock.now();
    let pages = page.pages();
    Ok(TokensTable {
        rows: page
            .tokens
            .iter()
            .map(|t| RowView::of(t, &state.clock, now))
            .collect(),
        query,
        total: page.total,
        pages,
        csrf: user.csrf.clone(),
    })
}

pub async fn page(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let table = load_table(&state, &user, TableQuery::parse(req.query_string())).await?;
    if wants_partial(&req) {
        return render(StatusCode::OK, &table);
    }
    render(
        StatusCode::OK,
        &TokensPage {
            chrome: Chrome::for_user(&user, &session)?,
            table,
        },
    )
}

/// After a revoke: the refreshed table and a toast for htmx, or a redirect
/// with a flash message for a plain form.
async fn after_change(
    req: &HttpRequest,
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    message: &str,
) -> Result<HttpResponse, UiError> {
    if !wants_partial(req) {
        flash(session, message);
        return Ok(redirect("/tokens"));
    }
    // The table the user was looking at: htmx sends its URL along.
    let current = req
        .headers()
        .get("hx-current-url")
        .and_then(|v| v.to_str().ok())
        .and_then(|u| u.split_once('?').map(|(_, q)| q.to_owned()))
        .unwrap_or_default();
    let table = load_table(state, user, TableQuery::parse(&current)).await?;
    let mut body = table.render().map_err(|e| UiError::Internal(e.into()))?;
    body.push_str(
        &Toast { message }
            .render()
            .map_err(|e| UiError::Internal(e.into()))?,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// The token a URL names. A name that cannot be valid names no token.
pub(super) fn name_in_path(raw: &str) -> Result<TokenName, UiError> {
    TokenName::parse(raw).map_err(|_| OpError::TokenNotFound(raw.to_owned()).into())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub async fn revoke_one(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let name = name_in_path(&name)?;
    let actor = user.actor.clone();
    let target = name.clone();
    let revoked = state
        .db
        .write(move |conn| token_ops::revoke(conn, &actor, &[target]))
        .await?;
    if revoked == 0 {
        return Err(OpError::TokenNotFound(name.to_string()).into());
    }
    after_change(
        &req,
        &user,
        &session,
        &state,
        &format!("The token “{name}” was revoked."),
    )
    .await
}

pub async fn revoke_selected(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form = Params::parse("", Some(&body));
    let names: Vec<TokenName> = form
        .list("names")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| TokenName::parse(n).ok())
        .collect();
    if names.is_empty() {
        return Err(UiError::Refused(
            "Select at least one token to revoke.".into(),
        ));
    }
    let actor = user.actor.clone();
    let revoked = state
        .db
        .write(move |conn| token_ops::revoke(conn, &actor, &names))
        .await?;
    after_change(
        &req,
        &user,
        &session,
        &state,
        &format!("{revoked} token{} revoked.", plural(revoked)),
    )
    .await
}

pub async fn revoke_all(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let actor = user.actor.clone();
    let revoked = state
        .db
        .write(move |conn| token_ops::revoke_all(conn, &actor))
        .await?;
    after_change(
        &req,
        &user,
        &session,
        &state,
        &format!("All of your tokens were revoked ({revoked})."),
    )
    .await
}

#[derive(Template)]
#[template(path = "tokens/revoke.html")]
struct RevokePage {
    chrome: Chrome,
    title: &'static str,
    what: String,
    pronoun: &'static str,
    action: String,
}

/// The confirmation as a page, for browsers without JavaScript (the page
/// otherwise asks in a dialog).
pub async fn revoke_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let name = name_in_path(&name)?;
    let actor = user.actor.clone();
    let token = state
        .db
        .read(move |conn| token_ops::get(conn, &actor, &name))
        .await?;
    render(
        StatusCode::OK,
        &RevokePage {
            chrome: Chrome::for_user(&user, &session)?,
            title: "Revoke API Token",
            what: format!("the token “{}”", token.name),
            pronoun: "it",
            action: format!("/tokens/{}/revoke", token.name),
        },
    )
}

/// Revoke All's confirmation as a page, for browsers without JavaScript.
pub async fn revoke_all_confirm(
    TokenManager(user): TokenManager,
    session: Session,
) -> Result<HttpResponse, UiError> {
    render(
        StatusCode::OK,
        &RevokePage {
            chrome: Chrome::for_user(&user, &session)?,
            title: "Revoke All API Tokens",
            what: "all of your tokens".to_owned(),
            pronoun: "them",
            action: "/tokens/revoke-all".to_owned(),
        },
    )
}
