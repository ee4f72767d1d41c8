//! Changing one's own password.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::domain::password::MAX_PASSWORD_LEN;
use crate::domain::Password;
use crate::ops::accounts;
use crate::state::AppState;
use crate::web::params::Params;

use super::session::start_session;
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

#[derive(Default)]
pub struct PasswordErrors {
    pub current: Option<String>,
    pub new: Option<String>,
    pub confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    chrome: Chrome,
    errors: PasswordErrors,
}

pub async fn form(user: SignedIn, session: Session) -> Result<HttpResponse, UiError> {
    let page = PasswordPage {
        chrome: Chrome::for_user(&user, &session)?,
        errors: PasswordErrors::default(),
    };
    render(StatusCode::OK, &page)
}

pub async fn change(
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form = Params::parse("", Some(&body));
    let current = form.get("current").unwrap_or_default().to_owned();
    let mut errors = PasswordErrors::default();
    let new = Password::parse(form.get("new").unwrap_or_default())
        .map_err(|e| errors.new = Some(e.to_string()))
        .ok();
    if new.is_some() && form.get("confirm") != form.get("new") {
        errors.confirm = Some("The two new passwords differ.".into());
    }
    let name = user.actor.account.username.clone();
    let stored = state
        .db
        .read(move |conn| accounts::find_for_sign_in(conn, &name))
        .await?
        .and_then(|(_, hash)| hash);
    let verified = if current.len() > MAX_PASSWORD_LEN {
        false
    } else {
        let slot = state.passwords.try_slot()?;
        state.passwords.verify(slot, stored, current).await?
    };
    if !verified {
        errors.current = Some("That is not your current password.".into());
    }
    let new = match new {
        Some(p) if errors.current.is_none() && errors.confirm.is_none() => p,
        _ => {
            let page = PasswordPage {
                chrome: Chrome::for_user(&user, &session)?,
                errors,
            };
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let hash = state.passwords.hash_now(new).await??;
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
