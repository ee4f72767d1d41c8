//! Root's accounts page: the list (searched and paged), Create, and the
//! rule that resellers use two-factor sign-in. Resellers see the accounts
//! they own, read-only. One account's page is `account_edit`.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::{AccountKind, EmailAddress, Password, Username};
use crate::ops::account_listing::{self as listing, AccountQuery, AccountSummary, PageAt};
use crate::ops::accounts::{self as account_ops, NewAccount};
use crate::ops::two_factor as two_factor_store;
use crate::ops::OpError;
use crate::state::AppState;

use super::form::{lenient, FieldErrors, Form, Query};
use super::token_table::PER_PAGE_CHOICES;
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
    /// Rows a page holds: 50 unless the address asks for another of
    /// [`PER_PAGE_CHOICES`].
    pub per_page: i64,
    /// Matching accounts, counted up to a cap.
    pub total: i64,
    /// More match than `total`.
    pub more: bool,
    pub has_previous: bool,
    pub has_next: bool,
    pub list_error: Option<String>,
}

/// The links of the pager.
pub enum PagerLink {
    First,
    Previous,
    Next,
    Last,
}

impl AccountsTable {
    /// The address of a page next to this one, or at an end: pages are
    /// found from the first or last name shown, not by number.
    pub fn page_url(&self, link: PagerLink) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.filter.is_empty() {
            pairs.push(("q", self.filter.clone()));
        }
        match link {
            PagerLink::First => {}
            PagerLink::Previous => {
                if let Some(first) = self.rows.first() {
                    pairs.push(("before", first.username.clone()));
                }
            }
            PagerLink::Next => {
                if let Some(last) = self.rows.last() {
                    pairs.push(("after", last.username.clone()));
                }
            }
            PagerLink::Last => pairs.push(("last", "1".to_owned())),
        }
        if self.per_page != PER_PAGE {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if query.is_empty() {
            "/accounts".to_owned()
        } else {
            format!("/accounts?{query}")
        }
    }
}

/// The accounts table's query string: a search, and a page given by the
/// name it comes after or before, or `last=1`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountsParams {
    q: String,
    after: String,
    before: String,
    last: String,
    #[serde(deserialize_with = "lenient")]
    per_page: Option<i64>,
}

/// Rows a page of accounts holds unless the address asks otherwise.
const PER_PAGE: i64 = 50;

impl From<AccountsParams> for AccountQuery {
    fn from(p: AccountsParams) -> Self {
        let at = if !p.after.is_empty() {
            PageAt::After(p.after.chars().take(64).collect())
        } else if !p.before.is_empty() {
            PageAt::Before(p.before.chars().take(64).collect())
        } else if p.last == "1" {
            PageAt::Last
        } else {
            PageAt::First
        };
        Self {
            filter: p.q.chars().take(64).collect(),
            at,
            per_page: p
                .per_page
                .filter(|n| PER_PAGE_CHOICES.contains(n))
                .unwrap_or(PER_PAGE),
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
    let (filter, per_page) = (query.filter.clone(), query.per_page);
    let (kept, changes) = (state.account_names.clone(), state.db.changes().clone());
    let listed = state
        .read_as(&user.actor, move |conn, actor| {
            let names = listing::Names {
                kept: &kept,
                generation: changes.current(),
            };
            listing::page(conn, actor, &query, &names)
        })
        .await;
    let (rows, (total, more), (has_previous, has_next), list_error) = match listed {
        Ok(p) => (
            p.rows.iter().map(AccountRowView::from).collect::<Vec<_>>(),
            (p.total, p.more),
            (p.has_previous, p.has_next),
            None,
        ),
        Err(e @ OpError::MissingPrivilege(_)) => {
            (Vec::new(), (0, false), (false, false), Some(e.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(AccountsTable {
        rows,
        can_manage: user.actor.account.is_root(),
        filter,
        per_page,
        total,
        more,
        has_previous,
        has_next,
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

pub(super) const ROOT_ONLY: &str = "Only root can manage accounts here.";

pub async fn create(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<CreateForm>,
) -> Result<HttpResponse, UiError> {
    user.root_only(ROOT_ONLY)?;
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
    user.root_only(ROOT_ONLY)?;
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
