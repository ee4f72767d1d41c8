//! Changing one's own password.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::auth::throttle;
use crate::domain::AuditEvent;
use crate::domain::Password;
use crate::ops::{accounts, audit};
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::sign_in::start_session;
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
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    let mut errors = FieldErrors::default();
    let new = errors.check(
        "new",
        Password::for_account(&form.new, &user.actor.account.username),
    );
    if new.is_some() && form.confirm != form.new {
        errors.add("confirm", "The two new passwords differ.");
    }
    match check_current(&user, &state, form.current).await? {
        CurrentPassword::Right => {}
        CurrentPassword::Wrong => errors.add("current", CurrentPassword::WRONG),
        CurrentPassword::TooManyTries { minutes } => {
            errors.add("current", CurrentPassword::too_many(minutes));
            let page = PasswordPage {
                chrome: Chrome::for_user(&user, &session),
                errors,
            };
            return render(StatusCode::TOO_MANY_REQUESTS, &page);
        }
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
    let passkeys = state
        .write_as(&user.actor, move |conn, actor| {
            accounts::set_password(conn, id, &hash)?;
            audit::record(
                conn,
                actor,
                AuditEvent::PasswordChanged,
                audit::About::account(&actor.account).detail("other sessions ended"),
            )?;
            crate::ops::passkeys::count(conn, id)
        })
        .await?;
    // Every session of the account has just ended, this one included; give
    // this browser a fresh one.
    start_session(&session, &req, &state, id)?;
    tracing::info!(user = %user.actor.account.username, "password changed");
    // Passkeys sign in without the password: a new password does not end
    // them, so say that they are still there.
    let kept = match passkeys {
        0 => String::new(),
        n => format!(
            " {n} passkey(s) still sign in to your account without it: remove any you do not recognise under Two-factor."
        ),
    };
    flash(
        &session,
        &format!("Your password was changed, and your other sessions were signed out.{kept}"),
    );
    Ok(redirect("/tokens"))
}

/// What a check of the signed-in account's current password found.
pub(super) enum CurrentPassword {
    Right,
    Wrong,
    /// Too many wrong guesses lately: not checked at all.
    TooManyTries {
        minutes: i64,
    },
}

impl CurrentPassword {
    pub(super) const WRONG: &'static str = "That is not your current password.";

    pub(super) fn too_many(minutes: i64) -> String {
        format!("Too many wrong current passwords. Try again in {minutes} minute(s).")
    }

    /// The status and message of a password that was not right (429 when
    /// too many wrong ones came lately, else 422); `None` when it was.
    pub(super) fn refusal(self) -> Option<(StatusCode, String)> {
        match self {
            Self::Right => None,
            Self::Wrong => Some((StatusCode::UNPROCESSABLE_ENTITY, Self::WRONG.to_owned())),
            Self::TooManyTries { minutes } => {
                Some((StatusCode::TOO_MANY_REQUESTS, Self::too_many(minutes)))
            }
        }
    }
}

/// Checks `candidate` against the signed-in account's password. Every
/// place that asks for the current password comes through here, so guesses
/// are throttled like sign-ins wherever they are made: a session left open
/// must not become a way to find the password.
pub(super) async fn check_current(
    user: &SignedIn,
    state: &AppState,
    candidate: String,
) -> Result<CurrentPassword, UiError> {
    let attempt = throttle::Attempt::current_password(&user.actor.account.username);
    let now = state.clock.now();
    let blocked = throttle::reserve_unless_blocked(&state.db, &attempt, now).await?;
    if let Some(wait) = blocked {
        return Ok(CurrentPassword::TooManyTries {
            minutes: (wait + 59) / 60,
        });
    }
    let name = user.actor.account.username.clone();
    let stored = state
        .db
        .read(move |conn| accounts::find_for_sign_in(conn, &name))
        .await?
        .and_then(|(_, hash)| hash);
    if !state.passwords.verify_now(stored, candidate).await? {
        // The reservation stands as the failure.
        return Ok(CurrentPassword::Wrong);
    }
    throttle::succeeded_in(&state.db, attempt).await?;
    Ok(CurrentPassword::Right)
}
