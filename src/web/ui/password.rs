//! Changing one's own password.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::Password;
use crate::ops::accounts;
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::session::start_session;
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    chrome: Chrome,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn form(user: SignedIn, session: Session) -> Result<HttpResponse, UiError> {
    let page = PasswordPage {
        chrome: Chrome::for_user(&user, &session),
        errors: FieldErrors::default(),
    };
    render(StatusCode::OK, &page)
}

pub async fn change(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    let mut errors = FieldErrors::default();
    let new = errors.check("new", Password::parse(&form.new));
    if new.is_some() && form.confirm != form.new {
        errors.add("confirm", "The two new passwords differ.");
    }
    let name = user.actor.account.username.clone();
    let stored = state
        .db
        .read(move |conn| accounts::find_for_sign_in(conn, &name))
        .await?
        .and_then(|(_, hash)| hash);
    if !state.passwords.verify_now(stored, form.current).await? {
        errors.add("current", "That is not your current password.");
    }
    let new = match new {
        Some(p) if errors.is_empty() => p,
        _ => {
            let page = PasswordPage {
                chrome: Chrome::for_user(&user, &session),
                errors,
            };
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let hash = state.passwords.hash_now(new).await?;
    let id = user.actor.account.id;
    state
        .db
        .write(move |conn| accounts::set_password(conn, id, &hash))
        .await?;
    // Every session of the account has just ended, this one included; give
    // this browser a fresh one.
    start_session(&session, id)?;
    tracing::info!(user = %user.actor.account.username, "password changed");
    flash(
        &session,
        "Your password was changed, and your other sessions were signed out.",
    );
    Ok(redirect("/tokens"))
}
