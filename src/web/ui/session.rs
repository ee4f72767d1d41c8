//! Signing in and out, and the `SignedIn` extractor every page uses.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use serde::Deserialize;

use crate::auth::session_store::ACCOUNT_ID;
use crate::auth::{client_ip, csrf, throttle};
use crate::domain::{TokenSecret, Username};
use crate::ops::{accounts, login_links, Actor, OpError};
use crate::state::AppState;

use super::form::{Form, Query};
use super::{redirect, render, Chrome, UiError};

/// The signed-in account, read afresh from the store on every request: a
/// suspension or deletion takes effect on the very next click.
pub struct SignedIn {
    pub actor: Actor,
    pub csrf: String,
}

impl FromRequest for SignedIn {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| UiError::Internal(anyhow::anyhow!("no app state")))?;
            let denied = UiError::SignInRequired;
            let Some(id) = session
                .get::<i64>(ACCOUNT_ID)
                .map_err(|_| UiError::SignInRequired)?
            else {
                return Err(denied);
            };
            let account = match state.db.read(move |conn| accounts::load(conn, id)).await {
                Ok(a) => a,
                Err(OpError::AccountNotFound(_)) => {
                    session.purge();
                    return Err(denied);
                }
                Err(e) => return Err(e.into()),
            };
            if account.suspended || !account.kind.may_own_tokens() {
                session.purge();
                return Err(denied);
            }
            let csrf = csrf::token(&session)?;
            Ok(SignedIn {
                actor: Actor::signed_in(account),
                csrf,
            })
        })
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    error: Option<String>,
}

/// What the sign-in page's address may say about how the user got there.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    expired: Option<String>,
    signed_out: Option<String>,
}

pub async fn login_form(
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Result<HttpResponse, UiError> {
    if session.get::<i64>(ACCOUNT_ID).ok().flatten().is_some() {
        return Ok(redirect("/tokens"));
    }
    let error = query.expired.map(|_| {
        "This sign-in link has expired or was already used. Sign in with your password.".to_owned()
    });
    let notice = query.signed_out.map(|_| "You have signed out.".to_owned());
    let page = LoginPage {
        chrome: Chrome::anonymous(csrf::token(&session)?, notice),
        username: String::new(),
        error,
    };
    render(StatusCode::OK, &page)
}

/// Signs in. Any failure (wrong password, throttled, workers busy) is
/// answered no sooner than the configured delay after the request came in:
/// a person hardly notices, while a script guessing over a connection is
/// held to one guess per delay, and waiting costs a timer, not a thread.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, UiError> {
    let started = actix_web::rt::time::Instant::now();
    let answer = try_login(req, session, &state, form).await;
    let signed_in = matches!(&answer, Ok(r) if r.status() == StatusCode::SEE_OTHER);
    if !signed_in {
        actix_web::rt::time::sleep_until(started + state.config.failed_sign_in_delay).await;
    }
    answer
}

async fn try_login(
    req: HttpRequest,
    session: Session,
    state: &AppState,
    form: LoginForm,
) -> Result<HttpResponse, UiError> {
    let username = form.username.trim().to_owned();
    let candidate = form.password;
    let addr = client_ip::of_request(&req, &state.config.trusted_proxies);
    let now = state.clock.now();
    let attempt = throttle::Attempt::new(&username, addr);

    let failure = |message: String, status: StatusCode| -> Result<HttpResponse, UiError> {
        let page = LoginPage {
            chrome: Chrome::anonymous(csrf::token(&session)?, None),
            username: username.clone(),
            error: Some(message),
        };
        render(status, &page)
    };
    // A place with the password workers comes first: when they are full the
    // attempt is refused before it costs a database write.
    let slot = state.passwords.try_slot()?;
    // An attempt already over a limit is refused on a read alone.
    let check = attempt.clone();
    let mut blocked = state
        .db
        .read(move |conn| throttle::already_blocked(conn, &check, now))
        .await?;
    if blocked.is_none() {
        let reservation = attempt.clone();
        blocked = state
            .db
            .write_bookkeeping(move |conn| throttle::reserve(conn, &reservation, now))
            .await?;
    }
    if let Some(wait) = blocked {
        tracing::warn!(?addr, user = %username, "sign-in throttled");
        let minutes = (wait + 59) / 60;
        return failure(
            format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }

    // A name that cannot be a user name names nobody.
    let found = match Username::parse(&username) {
        Ok(name) => {
            state
                .db
                .read(move |conn| accounts::find_for_sign_in(conn, &name))
                .await?
        }
        Err(_) => None,
    };
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), hash),
        None => (None, None),
    };
    // Verify even for unknown users, so timing does not tell who exists.
    let verified = state.passwords.verify(slot, hash, candidate).await?;
    let usable = account.filter(|a| verified && !a.suspended && a.kind.may_own_tokens());
    let Some(account) = usable else {
        // The reservation stands as the failure.
        tracing::warn!(?addr, user = %username, "sign-in failed");
        return failure(
            "The user name or password is incorrect, or the account is suspended.".to_owned(),
            StatusCode::UNAUTHORIZED,
        );
    };
    state
        .db
        .write_bookkeeping(move |conn| throttle::succeeded(conn, &attempt))
        .await?;
    start_session(&session, account.id)?;
    tracing::info!(?addr, user = %account.username, "signed in");
    Ok(redirect("/tokens"))
}

/// A fresh session for `account_id`: a new key (no fixation) and a new CSRF
/// token.
pub(super) fn start_session(session: &Session, account_id: i64) -> Result<(), UiError> {
    session.renew();
    session.clear();
    session
        .insert(ACCOUNT_ID, account_id)
        .map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    csrf::token(session)?;
    Ok(())
}

/// A one-time sign-in link's query.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OnceQuery {
    session: String,
}

pub async fn login_once(
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<OnceQuery>,
) -> Result<HttpResponse, UiError> {
    // A string that cannot be a link's secret is a link that does not work.
    let account = match TokenSecret::parse(&query.session) {
        Some(secret) => {
            let now = state.clock.now();
            state
                .db
                .write_bookkeeping(move |conn| login_links::consume(conn, &secret, now))
                .await?
        }
        None => None,
    };
    match account {
        Some(account) if account.kind.may_own_tokens() => {
            start_session(&session, account.id)?;
            tracing::info!(user = %account.username, "signed in with a one-time link");
            Ok(redirect("/tokens"))
        }
        _ => Ok(redirect("/login?expired=1")),
    }
}

pub async fn logout(session: Session) -> HttpResponse {
    session.purge();
    redirect("/login?signed_out=1")
}
