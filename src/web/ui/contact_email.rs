//! Contact addresses, where expiry notices go: each account sets its own
//! (`/account/email`), and root sets any other's on its Manage page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::{EmailAddress, Username};
use crate::ops::accounts as account_ops;
use crate::ops::OpError;
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

#[derive(Template)]
#[template(path = "account/email.html")]
struct EmailPage {
    chrome: Chrome,
    email: String,
    /// Whether this server sends notices by email at all.
    mail_on: bool,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

pub async fn own_form(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let id = user.actor.id();
    let email = state
        .db
        .read(move |conn| account_ops::contact_email(conn, id))
        .await?;
    let page = EmailPage {
        chrome: Chrome::for_user(&user, &session),
        email: email.map(|e| e.to_string()).unwrap_or_default(),
        mail_on: state.config.notices.mail.is_some(),
        errors: FieldErrors::default(),
    };
    render(StatusCode::OK, &page)
}

pub async fn own_save(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<EmailForm>,
) -> Result<HttpResponse, UiError> {
    let me = user.actor.account.username.clone();
    match save(&user, &state, me, &form).await? {
        Ok(message) => {
            flash(&session, &message);
            Ok(redirect("/account/email"))
        }
        Err(errors) => {
            let page = EmailPage {
                chrome: Chrome::for_user(&user, &session),
                email: form.email,
                mail_on: state.config.notices.mail.is_some(),
                errors,
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// Saves `form` as `username`'s address: a flash message, or the field's
/// error (nothing written).
pub async fn save(
    user: &SignedIn,
    state: &AppState,
    username: Username,
    form: &EmailForm,
) -> Result<Result<String, FieldErrors>, UiError> {
    let email = match EmailAddress::parse_optional(&form.email) {
        Ok(email) => email,
        Err(e) => return Ok(Err(FieldErrors::one("email", e))),
    };
    let shown = email.as_ref().map(EmailAddress::to_string);
    let saved = state
        .write_as(&user.actor, move |conn, actor| {
            account_ops::set_contact_email(conn, actor, &username, email.as_ref())
        })
        .await;
    match saved {
        Ok(account) => Ok(Ok(match shown {
            Some(address) => {
                format!(
                    "Expiry notices of “{}” now go to {address}.",
                    account.username
                )
            }
            None => format!(
                "“{}” has no contact address now: no expiry notices by email.",
                account.username
            ),
        })),
        Err(e @ OpError::NotAllowed(_)) => Ok(Err(FieldErrors::one("email", e))),
        Err(e) => Err(e.into()),
    }
}

impl EmailForm {
    pub fn email(&self) -> &str {
        &self.email
    }
}
