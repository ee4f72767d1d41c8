//! Root's accounts page: list, create, rename, privileges, suspend,
//! unsuspend, delete. Resellers see the accounts they own, read-only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::{AccountKind, EmailAddress, Password, PrivilegeSet, Username};
use crate::ops::accounts::{self as account_ops, AccountQuery, AccountSummary, NewAccount};
use crate::ops::two_factor as two_factor_store;
use crate::ops::{Account, OpError};
use crate::state::AppState;

use super::confirm::{self, Confirmation};
use super::contact_email::{self, EmailForm};
use super::form::{lenient, FieldErrors, Form, Query};
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
            username: s.account.username.to_string(),
            kind: s.account.kind.label(),
            owner: s
                .owner
                .as_ref()
                .map(Username::to_string)
                .unwrap_or_default(),
            suspended: s.account.suspended,
            token_count: s.token_count,
            is_root: s.account.is_root(),
        }
    }
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

/// The accounts table's query string.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountsParams {
    q: String,
    #[serde(deserialize_with = "lenient")]
    page: Option<i64>,
}

impl From<AccountsParams> for AccountQuery {
    fn from(p: AccountsParams) -> Self {
        Self {
            filter: p.q.chars().take(64).collect(),
            page: p.page.unwrap_or(1),
            ..Self::default()
        }
    }
}

/// The Create form as submitted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateForm {
    username: String,
    password: String,
    /// `reseller` or `user`.
    kind: String,
    owner: String,
    /// The contact address (optional).
    email: String,
}

impl CreateForm {
    /// The form in domain types, or a message per field.
    fn parse(&self) -> Result<(NewAccount, Password), FieldErrors> {
        let mut errors = FieldErrors::default();
        let username = errors.check("username", Username::parse(&self.username));
        let password = errors.check(
            "password",
            match &username {
                Some(name) => Password::for_account(&self.password, name),
                None => Password::parse(&self.password),
            },
        );
        let kind = if self.kind == "reseller" {
            AccountKind::Reseller
        } else {
            AccountKind::User
        };
        // Resellers belong to root: the Owner field is for plain accounts.
        let owner = if self.owner.trim().is_empty() || kind == AccountKind::Reseller {
            Some(Username::root())
        } else {
            errors.check("owner", Username::parse(&self.owner))
        };
        let email = errors.check("email", EmailAddress::parse_optional(&self.email));
        match (username, password, owner, email) {
            (Some(username), Some(password), Some(owner), Some(contact_email)) => Ok((
                NewAccount {
                    username,
                    kind,
                    owner: Some(owner),
                    password_hash: None,
                    privileges: None,
                    contact_email,
                },
                password,
            )),
            _ => Err(errors),
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/page.html")]
pub struct AccountsPage {
    pub chrome: Chrome,
    /// Root's rule: resellers must use two-factor sign-in.
    pub two_factor_required: bool,
    pub table: AccountsTable,
    pub can_manage: bool,
    pub form: CreateForm,
    pub errors: FieldErrors,
}

async fn load_table(
    user: &SignedIn,
    state: &AppState,
    query: AccountQuery,
) -> Result<AccountsTable, UiError> {
    let filter = query.filter.clone();
    let listed = state
        .read_as(&user.actor, move |conn, actor| {
            account_ops::page(conn, actor, &query)
        })
        .await;
    let (rows, page, pages, total, list_error) = match listed {
        Ok(p) => (
            p.rows.iter().map(AccountRowView::from).collect::<Vec<_>>(),
            p.page,
            p.pages(),
            p.total,
            None,
        ),
        Err(e @ OpError::MissingPrivilege(_)) => (Vec::new(), 1, 1, 0, Some(e.to_string())),
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

/// The page around its table and the Create form (empty, or as sent with
/// its messages).
async fn accounts_page(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    query: AccountQuery,
    form: CreateForm,
    errors: FieldErrors,
) -> Result<AccountsPage, UiError> {
    Ok(AccountsPage {
        two_factor_required: state
            .db
            .read(two_factor_store::required_for_resellers)
            .await?,
        table: load_table(user, state, query).await?,
        chrome: Chrome::for_user(user, session),
        can_manage: user.actor.account.is_root(),
        form,
        errors,
    })
}

pub async fn page(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Query(params): Query<AccountsParams>,
) -> Result<HttpResponse, UiError> {
    let query = AccountQuery::from(params);
    if wants_partial() {
        return render(StatusCode::OK, &load_table(&user, &state, query).await?);
    }
    let form = CreateForm {
        kind: "reseller".to_owned(),
        owner: "root".to_owned(),
        ..CreateForm::default()
    };
    let page = accounts_page(&user, &session, &state, query, form, FieldErrors::default()).await?;
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
    Form(form): Form<CreateForm>,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let outcome = match form.parse() {
        Err(errors) => Err(errors),
        Ok((mut new, password)) => {
            new.password_hash = Some(state.passwords.hash_now(password).await?);
            let now = state.clock.now();
            let created = state
                .write_as(&user.actor, move |conn, actor| {
                    account_ops::create(conn, actor, new, now)
                })
                .await;
            match created {
                Ok(account) => Ok(account),
                Err(e @ (OpError::UsernameTaken(_) | OpError::NotAllowed(_))) => {
                    Err(FieldErrors::one("username", e))
                }
                Err(e @ (OpError::AccountNotFound(_) | OpError::Invalid(_))) => {
                    Err(FieldErrors::one("owner", e))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(account) => {
            flash(
                &session,
                &format!("The account “{}” was created.", account.username),
            );
            Ok(redirect("/accounts"))
        }
        Err(errors) => {
            let query = AccountQuery::default();
            let page = accounts_page(&user, &session, &state, query, form, errors).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/edit.html")]
pub struct EditPage {
    pub chrome: Chrome,
    pub username: Username,
    pub kind: &'static str,
    pub is_reseller: bool,
    pub suspended: bool,
    pub token_count: i64,
    pub new_name: String,
    /// The contact address, as saved or as sent.
    pub email: String,
    pub categories: Vec<CategoryView>,
    pub errors: FieldErrors,
}

/// The account a URL names, among those the actor manages. A name that
/// cannot be a user name names no account.
async fn find(state: &AppState, user: &SignedIn, raw: &str) -> Result<Found, UiError> {
    let name = Username::parse(raw).map_err(|_| OpError::AccountNotFound(raw.to_owned()))?;
    Ok(state
        .read_as(&user.actor, move |conn, actor| {
            let account = account_ops::find_managed(conn, actor, &name)?;
            let count = account_ops::token_count(conn, account.id)?;
            let email = account_ops::contact_email(conn, account.id)?;
            Ok(Found {
                account,
                token_count: count,
                email,
            })
        })
        .await?)
}

/// An account as its Manage page shows it.
struct Found {
    account: Account,
    token_count: i64,
    email: Option<EmailAddress>,
}

/// Root's page for one other account.
async fn editable(state: &AppState, user: &SignedIn, raw: &str) -> Result<Found, UiError> {
    root_only(user)?;
    let found = find(state, user, raw).await?;
    if found.account.is_root() {
        return Err(UiError::Forbidden(
            "The root account cannot be changed here.".into(),
        ));
    }
    Ok(found)
}

fn edit_view(chrome: Chrome, found: &Found) -> EditPage {
    let Found {
        account,
        token_count,
        email,
    } = found;
    let token_count = *token_count;
    EditPage {
        email: email
            .as_ref()
            .map(EmailAddress::to_string)
            .unwrap_or_default(),
        chrome,
        username: account.username.clone(),
        kind: account.kind.label(),
        is_reseller: account.kind == AccountKind::Reseller,
        suspended: account.suspended,
        token_count,
        new_name: account.username.to_string(),
        categories: privileges_form::grouped(PrivilegeSet::everything(), account.privileges),
        errors: FieldErrors::default(),
    }
}

pub async fn edit_page(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let found = editable(&state, &user, &username).await?;
    render(
        StatusCode::OK,
        &edit_view(Chrome::for_user(&user, &session), &found),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RenameForm {
    new_name: String,
}

pub async fn rename(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
    Form(form): Form<RenameForm>,
) -> Result<HttpResponse, UiError> {
    let found = editable(&state, &user, &username).await?;
    let account = found.account.clone();
    let outcome = match Username::parse(&form.new_name) {
        Err(e) => Err(e.to_string()),
        Ok(new_name) => {
            let old = account.username.clone();
            let renamed = state
                .write_as(&user.actor, move |conn, actor| {
                    account_ops::rename(conn, actor, &old, &new_name)
                })
                .await;
            match renamed {
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
            let mut page = edit_view(Chrome::for_user(&user, &session), &found);
            page.new_name = form.new_name;
            page.errors.add("new_name", message);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PrivilegesForm {
    acl: Vec<String>,
}

pub async fn set_privileges(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
    Form(form): Form<PrivilegesForm>,
) -> Result<HttpResponse, UiError> {
    let found = editable(&state, &user, &username).await?;
    let account = found.account.clone();
    // A reseller may hold no privileges at all.
    let outcome = match privileges_form::parse(&form.acl) {
        Err(e) => Err(e.to_string()),
        Ok(set) => {
            let set = set.unwrap_or_else(PrivilegeSet::empty);
            let name = account.username.clone();
            let saved = state
                .write_as(&user.actor, move |conn, actor| {
                    account_ops::set_privileges(conn, actor, &name, set)
                })
                .await;
            match saved {
                Ok(_) => Ok(()),
                Err(e @ OpError::Invalid(_)) => Err(e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(()) => {
            flash(
                &session,
                &format!("The privileges of “{}” were saved.", account.username),
            );
            Ok(redirect(&format!("/accounts/{}", account.username)))
        }
        Err(message) => {
            let mut page = edit_view(Chrome::for_user(&user, &session), &found);
            page.categories = privileges_form::grouped(
                PrivilegeSet::everything(),
                privileges_form::resubmitted(&form.acl),
            );
            page.errors.add("privileges", message);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// Root sets another account's contact address.
pub async fn set_email(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
    Form(form): Form<EmailForm>,
) -> Result<HttpResponse, UiError> {
    let found = editable(&state, &user, &username).await?;
    let name = found.account.username.clone();
    match contact_email::save(&user, &state, name.clone(), &form).await? {
        Ok(message) => {
            flash(&session, &message);
            Ok(redirect(&format!("/accounts/{name}")))
        }
        Err(errors) => {
            let mut page = edit_view(Chrome::for_user(&user, &session), &found);
            page.email = form.email().to_owned();
            page.errors = errors;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// Suspend or Unsuspend (`/accounts/{user}/suspend`, `…/unsuspend`).
pub async fn set_suspended(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (username, change) = path.into_inner();
    let suspended = change == "suspend";
    let account = editable(&state, &user, &username).await?.account;
    let account = state
        .write_as(&user.actor, move |conn, actor| {
            account_ops::set_suspended(conn, actor, &account.username, suspended, None)
        })
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

/// Deletion's confirmation, naming the account and how many tokens go
/// with it.
pub async fn delete_confirm(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let found = editable(&state, &user, &username).await?;
    let (account, count) = (found.account, found.token_count);
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: format!("Delete “{}”", account.username),
            question: "Are you sure that you want to delete",
            what: format!(
                "the account “{}” and its {count} API token(s)",
                account.username
            ),
            consequence: "Scripts that use those tokens stop working at once, and accounts it \
                          owns pass to root. This cannot be undone."
                .to_owned(),
            action: format!("/accounts/{}/delete", account.username),
            hidden: Vec::new(),
            back: "/accounts",
            swaps: None,
        },
    )
}

pub async fn delete(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    username: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let account = editable(&state, &user, &username).await?.account;
    let deleted = state
        .write_as(&user.actor, move |conn, actor| {
            account_ops::delete(conn, actor, &account.username)
        })
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TwoFactorPolicyForm {
    /// Present (`1`) when the box is ticked.
    required: Option<String>,
}

/// Root's rule: whether every reseller must use two-factor sign-in.
pub async fn set_two_factor_policy(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<TwoFactorPolicyForm>,
) -> Result<HttpResponse, UiError> {
    root_only(&user)?;
    let required = form.required.is_some();
    state
        .write_as(&user.actor, move |conn, actor| {
            two_factor_store::set_required_for_resellers(conn, actor, required)
        })
        .await?;
    flash(
        &session,
        if required {
            "Resellers must now use two-factor sign-in; each sets it up at their next sign-in."
        } else {
            "Resellers may choose whether to use two-factor sign-in."
        },
    );
    Ok(redirect("/accounts"))
}
