//! Root's accounts page: list, create, rename, privileges, suspend,
//! unsuspend, delete. Resellers see the accounts they own, read-only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::domain::{Password, PrivilegeSet, Username};
use crate::ops::accounts::{self as account_ops, AccountQuery, AccountSummary, NewAccount};
use crate::ops::{Account, AccountKind, OpError};
use crate::state::AppState;
use crate::web::params::Params;

use super::privileges_form::{self, CategoryView};
use super::{flash, redirect, render, wants_partial, Chrome, SignedIn, UiError};

pub struct AccountRowView {
    pub username: String,
    pub kind: &'static str,
    pub owner: String,
    pub suspended: bool,
    pub token_count: i64,
    pub is_root: bool,
}

impl From<&AccountSummary> for AccountRowView {
    fn from(s: &AccountSummary) -> Self {
        Self {
            username: s.account.username.clone(),
            kind: kind_label(s.account.kind),
            owner: s.owner.clone(),
            suspended: s.account.suspended,
            token_count: s.token_count,
            is_root: s.account.is_root(),
        }
    }
}

fn kind_label(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Root => "Root",
        AccountKind::Reseller => "Reseller",
        AccountKind::User => "Account",
    }
}

#[derive(Default)]
pub struct CreateErrors {
    pub username: Option<String>,
    pub password: Option<String>,
    pub owner: Option<String>,
}

/// One page of accounts: what a search or a page link swaps in.
#[derive(Template)]
#[template(path = "accounts/table.html")]
pub struct AccountsTable {
    pub rows: Vec<AccountRowView>,
    pub can_manage: bool,
    pub filter: String,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub list_error: Option<String>,
}

impl AccountsTable {
    pub fn page_url(&self, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.filter.is_empty() {
            pairs.push(("q", self.filter.clone()));
        }
        pairs.push(("page", page.to_string()));
        format!(
            "/accounts?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }
}

fn account_query(req: &HttpRequest) -> AccountQuery {
    let params = Params::parse(req.query_string(), None);
    AccountQuery {
        filter: params
            .get("q")
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect(),
        page: params.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        ..AccountQuery::default()
    }
}

#[derive(Template)]
#[template(path = "accounts/page.html")]
pub struct AccountsPage {
    pub chrome: Chrome,
    pub table: AccountsTable,
    pub can_manage: bool,
    pub username: String,
    pub kind: String,
    pub owner: String,
    pub errors: CreateErrors,
}

async fn load_table(
    user: &SignedIn,
    state: &AppState,
    query: AccountQuery,
) -> Result<AccountsTable, UiError> {
    let actor = user.actor.clone();
    let filter = query.filter.clone();
    let listed = state
        .db
        .read(move |conn| account_ops::page(conn, &actor, &query))
        .await;
    let (rows, page, pages, total, list_error) = match listed {
        Ok(p) => (
            p.rows.iter().map(AccountRowView::from).collect::<Vec<_>>(),
            p.page,
            p.pages(),
            p.total,
            None,
        ),
        Err(OpError::MissingPrivilege(p)) => (
            Vec::new(),
            1,
            1,
            0,
            Some(OpError::MissingPrivilege(p).to_string()),
        ),
        Err(e) => return Err(e.into()),
    };
    Ok(AccountsTable {
        rows,
        can_manage: user.actor.account.is_root(),
        filter,
        page,
        pages,
        total,
        list_error,
    })
}

async fn accounts_page(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    form: Option<(&Params, CreateErrors)>,
) -> Result<AccountsPage, UiError> {
    accounts_page_for(user, session, state, form, AccountQuery::default()).await
}

async fn accounts_page_for(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    form: Option<(&Params, CreateErrors)>,
    query: AccountQuery,
) -> Result<AccountsPage, UiError> {
    let table = load_table(user, state, query).await?;
    let (username, kind, owner, errors) = match form {
        Some((f, errors)) => (
            f.get("username").unwrap_or_default().to_owned(),
            f.get("kind").unwrap_or("user").to_owned(),
            f.get("owner").unwrap_or("root").to_owned(),
            errors,
        ),
        None => (
            String::new(),
            "reseller".to_owned(),
            "root".to_owned(),
            CreateErrors::default(),
        ),
    };
    Ok(AccountsPage {
        chrome: Chrome::for_user(user, session)?,
        table,
        can_manage: user.actor.account.is_root(),
        username,
        kind,
        owner,
        errors,
    })
}

pub async fn page(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let query = account_query(&req);
    if wants_partial(&req) {
        return render(StatusCode::OK, &load_table(&user, &state, query).await?);
    }
    let page = accounts_page_for(&user, &session, &state, None, query).await?;
    render(StatusCode::OK, &page)
}

fn root_only(user: &SignedIn) -> Result<(), UiError> {
    if user.actor.account.is_root() {
        Ok(())
    } else {
        Err(UiError::Forbidden(
            "Only root can manage accounts here.".into(),
        ))
    }
}

pub async fn create(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let form = Params::parse("", Some(&body));
    let mut errors = CreateErrors::default();
    let username = Username::parse(form.get("username").unwrap_or_default())
        .map_err(|e| errors.username = Some(e.to_string()))
        .ok();
    let password = Password::parse(form.get("password").unwrap_or_default())
        .map_err(|e| errors.password = Some(e.to_string()))
        .ok();
    let owner = Username::parse(form.get("owner").unwrap_or("root"))
        .map_err(|e| errors.owner = Some(e.to_string()))
        .ok();
    let kind = if form.get("kind") == Some("reseller") {
        AccountKind::Reseller
    } else {
        AccountKind::User
    };
    let (Some(username), Some(password), Some(owner)) = (username, password, owner) else {
        let page = accounts_page(&user, &session, &state, Some((&form, errors))).await?;
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = state.passwords.hash_now(password).await??;
    let actor = user.actor.clone();
    let now = state.clock.now();
    let new = NewAccount {
        username,
        kind,
        owner: Some(owner),
        password_hash: Some(hash),
        privileges: None,
    };
    match state
        .db
        .write(move |conn| account_ops::create(conn, &actor, new, now))
        .await
    {
        Ok(account) => {
            flash(
                &session,
                &format!("The account “{}” was created.", account.username),
            );
            Ok(redirect("/accounts"))
        }
        Err(e @ (OpError::UsernameTaken(_) | OpError::NotAllowed(_))) => {
            let errors = CreateErrors {
                username: Some(e.to_string()),
                ..Default::default()
            };
            let page = accounts_page(&user, &session, &state, Some((&form, errors))).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e @ (OpError::AccountNotFound(_) | OpError::Invalid(_))) => {
            let errors = CreateErrors {
                owner: Some(e.to_string()),
                ..Default::default()
            };
            let page = accounts_page(&user, &session, &state, Some((&form, errors))).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "accounts/edit.html")]
pub struct EditPage {
    pub chrome: Chrome,
    pub username: String,
    pub kind: &'static str,
    pub is_reseller: bool,
    pub suspended: bool,
    pub token_count: i64,
    pub new_name: String,
    pub rename_error: Option<String>,
    pub categories: Vec<CategoryView>,
    pub privileges_error: Option<String>,
}

async fn find(
    state: &AppState,
    user: &SignedIn,
    username: &str,
) -> Result<(Account, i64), UiError> {
    let actor = user.actor.clone();
    let name = username.to_owned();
    let found = state
        .db
        .read(move |conn| {
            let account = account_ops::find_managed(conn, &actor, &name)?;
            let count = account_ops::token_count(conn, account.id)?;
            Ok::<_, OpError>((account, count))
        })
        .await?;
    Ok(found)
}

fn edit_view(chrome: Chrome, account: &Account, token_count: i64) -> EditPage {
    EditPage {
        chrome,
        username: account.username.clone(),
        kind: kind_label(account.kind),
        is_reseller: account.kind == AccountKind::Reseller,
        suspended: account.suspended,
        token_count,
        new_name: account.username.clone(),
        rename_error: None,
        categories: privileges_form::grouped(PrivilegeSet::everything(), account.privileges),
        privileges_error: None,
    }
}

pub async fn edit_page(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let (account, count) = find(&state, &user, &username).await?;
    if account.is_root() {
        return Err(UiError::Forbidden(
            "The root account cannot be changed here.".into(),
        ));
    }
    render(
        StatusCode::OK,
        &edit_view(Chrome::for_user(&user, &session)?, &account, count),
    )
}

pub async fn rename(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let (account, count) = find(&state, &user, &username).await?;
    let form = Params::parse("", Some(&body));
    let raw = form.get("new_name").unwrap_or_default().to_owned();
    let outcome = match Username::parse(&raw) {
        Err(e) => Err(e.to_string()),
        Ok(new_name) => {
            let actor = user.actor.clone();
            let old = account.username.clone();
            match state
                .db
                .write(move |conn| account_ops::rename(conn, &actor, &old, &new_name))
                .await
            {
                Ok(a) => Ok(a),
                Err(e @ (OpError::UsernameTaken(_) | OpError::NotAllowed(_))) => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(renamed) => {
            flash(
                &session,
                &format!(
                    "“{}” is now “{}”; its tokens keep working.",
                    account.username, renamed.username
                ),
            );
            Ok(redirect(&format!("/accounts/{}", renamed.username)))
        }
        Err(message) => {
            let mut page = edit_view(Chrome::for_user(&user, &session)?, &account, count);
            page.new_name = raw;
            page.rename_error = Some(message);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn set_privileges(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let (account, count) = find(&state, &user, &username).await?;
    let form = Params::parse("", Some(&body));
    let parsed = match privileges_form::parse(&form) {
        Ok(Some(set)) => Ok(set),
        Ok(None) => Ok(PrivilegeSet::empty()),
        Err(e) => Err(e),
    };
    let failure = |message: String| -> Result<HttpResponse, UiError> {
        let mut page = edit_view(Chrome::for_user(&user, &session)?, &account, count);
        page.categories = privileges_form::grouped(
            PrivilegeSet::everything(),
            privileges_form::resubmitted(&form),
        );
        page.privileges_error = Some(message);
        render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let set = match parsed {
        Ok(set) => set,
        Err(message) => return failure(message),
    };
    let actor = user.actor.clone();
    let name = account.username.clone();
    match state
        .db
        .write(move |conn| account_ops::set_privileges(conn, &actor, &name, set))
        .await
    {
        Ok(_) => {
            flash(
                &session,
                &format!("The privileges of “{}” were saved.", account.username),
            );
            Ok(redirect(&format!("/accounts/{}", account.username)))
        }
        Err(e @ OpError::Invalid(_)) => failure(e.to_string()),
        Err(e) => Err(e.into()),
    }
}

async fn set_suspended(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: String,
    suspended: bool,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let actor = user.actor.clone();
    let account = state
        .db
        .write(move |conn| account_ops::set_suspended(conn, &actor, &username, suspended))
        .await?;
    let what = if suspended {
        "suspended; its sessions ended and its tokens stopped working"
    } else {
        "unsuspended"
    };
    flash(
        &session,
        &format!("The account “{}” was {what}.", account.username),
    );
    Ok(redirect(&format!("/accounts/{}", account.username)))
}

pub async fn suspend(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    set_suspended(user, session, state, username.into_inner(), true).await
}

pub async fn unsuspend(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    set_suspended(user, session, state, username.into_inner(), false).await
}

pub async fn delete(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let actor = user.actor.clone();
    let name = username.into_inner();
    let deleted = state
        .db
        .write(move |conn| account_ops::delete(conn, &actor, &name))
        .await?;
    flash(
        &session,
        &format!(
            "The account “{}” was deleted and its tokens revoked.",
            deleted.username
        ),
    );
    Ok(redirect("/accounts"))
}
