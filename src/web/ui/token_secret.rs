//! The secret, shown once: the page that shows it after Generate or
//! Regenerate, Regenerate itself, and what a form sent again (a reload)
//! leads to instead of a second secret.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::domain::{Expiry, TokenName};
use crate::ops::tokens::{self as token_ops};
use crate::ops::OpError;
use crate::state::AppState;

use super::form::Form;
use super::token_access::{load, name_in_path, TokenManager};
use super::{redirect, render, Chrome, SignedIn, UiError};

/// The session entry that remembers the last form that made a secret, and
/// the token it made (never the secret).
const GENERATED: &str = "generated";

/// A fresh id for a form that makes a secret.
pub fn new_form_id() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

/// The token this form already made, when the same form comes again for
/// the same name (a reload; not Back, a new name and Generate again).
pub(super) fn form_already_made(session: &Session, form_id: &str, name: &str) -> Option<String> {
    if form_id.is_empty() {
        return None;
    }
    made_here(session)
        .into_iter()
        .find(|(id, made)| id == form_id && made == name.trim())
        .map(|(_, made)| made)
}

/// The forms that made a secret lately in this session, newest last.
fn made_here(session: &Session) -> Vec<(String, String)> {
    session
        .get::<Vec<(String, String)>>(GENERATED)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// How many such forms a session remembers (several tabs, Back).
const REMEMBERED: usize = 10;

pub(super) fn remember_made(session: &Session, form_id: &str, name: &TokenName) {
    if form_id.is_empty() {
        return;
    }
    let mut made = made_here(session);
    made.push((form_id.to_owned(), name.to_string()));
    let excess = made.len().saturating_sub(REMEMBERED);
    made.drain(..excess);
    let _ = session.insert(GENERATED, made);
}

/// Where a form that made a secret leads when sent again. The name is one
/// this session stored from a `TokenName`: nothing in it needs escaping.
pub(super) fn redirect_to_made(name: &str) -> HttpResponse {
    redirect(&format!("/tokens/{name}/generated"))
}

#[derive(Template)]
#[template(path = "tokens/created.html")]
pub(super) struct CreatedPage {
    chrome: Chrome,
    name: TokenName,
    secret: String,
    expires: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegenerateForm {
    /// The fingerprint of the secret this form replaces.
    secret: String,
}

#[derive(Template)]
#[template(path = "tokens/generated.html")]
struct GeneratedPage {
    chrome: Chrome,
    name: TokenName,
}

/// Where a reload of the page that showed a secret leads: the token
/// exists, and its secret cannot be shown again.
pub async fn generated(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let token = load(&state, &user, &name).await?;
    render(
        StatusCode::OK,
        &GeneratedPage {
            chrome: Chrome::for_user(&user, &session),
            name: token.name,
        },
    )
}

/// A new secret for the token, shown once, as after Generate.
pub async fn regenerate(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
    Form(form): Form<RegenerateForm>,
) -> Result<HttpResponse, UiError> {
    // The form names the secret it replaces: sent again (a reload), or
    // twice at once, only the first makes a new secret. A second new secret
    // would silently break the first one, which may already be in use.
    let name = name_in_path(&name)?;
    if form.secret.is_empty() {
        // Another's token (or none) is not found, whatever the form says.
        load(&state, &user, name.as_str()).await?;
        return Err(UiError::BadRequest(
            "This form does not say which secret it replaces: open Regenerate again.".into(),
        ));
    }
    let made = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::regenerate(conn, actor, &name, Some(&form.secret))
        })
        .await;
    match made {
        Ok(made) => render(StatusCode::OK, &created_page(&user, &session, &state, made)),
        Err(OpError::SecretAlreadyReplaced(name)) => Ok(redirect_to_made(&name)),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn created_page(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    made: token_ops::CreatedToken,
) -> CreatedPage {
    CreatedPage {
        chrome: Chrome::for_user(user, session),
        name: made.token.name,
        secret: made.secret.expose().to_owned(),
        expires: match made.token.expiry {
            Expiry::Never => "Never".into(),
            Expiry::At(t) => state.clock.format(t),
        },
    }
}
