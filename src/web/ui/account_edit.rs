//! Root's page for one other account: rename, privileges, contact
//! address, suspend or unsuspend, delete.
//!
//! The changes share a shape (find the account, parse, run one operation,
//! then `finish`: a flash and a redirect, or the page again with 422); one
//! handler per route keeps each one's input and message in one place.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::{AccountKind, EmailAddress, PrivilegeSet, Username};
use crate::ops::accounts::{self as account_ops};
use crate::ops::{Account, OpError};
use crate::state::AppState;

use super::confirm::{self, Confirmation};
use super::contact_email::{self, EmailForm};
use super::form::{FieldErrors, Form};
use super::privileges_form::{self, CategoryView};
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

use super::accounts::ROOT_ONLY;

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
async fn find(state: &AppState, user: &SignedIn, raw: &str) -> Result<Managed, UiError> {
    let name = Username::parse(raw).map_err(|_| OpError::AccountNotFound(raw.to_owned()))?;
    Ok(state
        .read_as(&user.actor, move |conn, actor| {
            let account = account_ops::find_managed(conn, actor, &name)?;
            let count = account_ops::token_count(conn, account.id)?;
            let email = account_ops::contact_email(conn, account.id)?;
            Ok(Managed {
                account,
                token_count: count,
                email,
            })
        })
        .await?)
}

/// An account as its Manage page shows it.
struct Managed {
    account: Account,
    token_count: i64,
    email: Option<EmailAddress>,
}

/// Root's page for one other account.
async fn editable(state: &AppState, user: &SignedIn, raw: &str) -> Result<Managed, UiError> {
    user.root_only(ROOT_ONLY)?;
    let found = find(state, user, raw).await?;
    if found.account.is_root() {
        return Err(UiError::Forbidden(
            "The root account cannot be changed here.".into(),
        ));
    }
    Ok(found)
}

fn edit_view(chrome: Chrome, found: &Managed) -> EditPage {
    let Managed {
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
    let ending: Ending = match outcome {
        Ok(renamed) => Ok((
            format!(
                "“{}” is now “{}”; its tokens keep working.",
                account.username, renamed.username
            ),
            format!("/accounts/{}", renamed.username),
        )),
        Err(message) => Err(Box::new(move |page: &mut EditPage| {
            page.new_name = form.new_name;
            page.errors.add("new_name", message);
        })),
    };
    finish(&user, &session, &found, ending)
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
    let ending: Ending = match outcome {
        Ok(()) => Ok((
            format!("The privileges of “{}” were saved.", account.username),
            format!("/accounts/{}", account.username),
        )),
        Err(message) => Err(Box::new(move |page: &mut EditPage| {
            page.categories = privileges_form::grouped(
                PrivilegeSet::everything(),
                privileges_form::resubmitted(&form.acl),
            );
            page.errors.add("privileges", message);
        })),
    };
    finish(&user, &session, &found, ending)
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
    let ending: Ending = match contact_email::save(&user, &state, name.clone(), &form).await? {
        Ok(message) => Ok((message, format!("/accounts/{name}"))),
        Err(errors) => Err(Box::new(move |page: &mut EditPage| {
            page.email = form.email().to_owned();
            page.errors = errors;
        })),
    };
    finish(&user, &session, &found, ending)
}

/// The verb of `/accounts/{user}/suspend` and `…/unsuspend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suspension {
    Suspend,
    Unsuspend,
}

/// Suspend or Unsuspend (`/accounts/{user}/suspend`, `…/unsuspend`).
pub async fn set_suspended(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, Suspension)>,
) -> Result<HttpResponse, UiError> {
    let (username, change) = path.into_inner();
    let suspended = change == Suspension::Suspend;
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

/// How a change on an account's page ends: with a message for the next
/// page and where to go, or with the page again (adjusted to show what was
/// sent and why it failed).
type Ending = Result<(String, String), Box<dyn FnOnce(&mut EditPage)>>;

/// Flash and redirect on success; otherwise the page again with 422.
fn finish(
    user: &SignedIn,
    session: &Session,
    found: &Managed,
    ending: Ending,
) -> Result<HttpResponse, UiError> {
    match ending {
        Ok((message, to)) => {
            flash(session, &message);
            Ok(redirect(&to))
        }
        Err(adjust) => {
            let mut page = edit_view(Chrome::for_user(user, session), found);
            adjust(&mut page);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
