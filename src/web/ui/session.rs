//! Signing in (with a password, or a one-time link) and out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use serde::Deserialize;

use crate::auth::session_store::ACCOUNT_ID;
use crate::auth::{client_ip, csrf, device, throttle};
use crate::domain::AuditEvent;
use crate::domain::{TokenSecret, Username};
use crate::ops::audit;
use crate::ops::{accounts, login_links, OpError};
use crate::state::AppState;

use super::form::{Form, Query};
use super::sign_in::{await_code, finish_sign_in, record_sign_in, start_session};
use super::{redirect, render, Chrome, UiError};
use crate::metrics::SignInOutcome;
use crate::web::context::loggable;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    error: Option<String>,
    /// "Sign in with a passkey" is offered.
    passkeys: bool,
}

/// The sign-in page, with the form's CSRF token from its own cookie: a
/// stranger's view of it stores nothing.
pub(super) fn login_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    username: String,
    error: Option<String>,
    notice: Option<String>,
) -> Result<HttpResponse, UiError> {
    let (token, cookie) = csrf::login_token(req, &state.cookie_key, state.config.secure_cookies);
    let mut response = render(
        status,
        &LoginPage {
            chrome: Chrome::anonymous(token, notice),
            username,
            error,
            passkeys: super::passkey_site::offered(req, state).0,
        },
    )?;
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| UiError::Internal(e.into()))?;
    }
    Ok(response)
}

/// What the sign-in page's address may say about how the user got there.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    expired: Option<String>,
    signed_out: Option<String>,
}

pub async fn login_form(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<LoginQuery>,
) -> Result<HttpResponse, UiError> {
    if session.get::<i64>(ACCOUNT_ID).ok().flatten().is_some() {
        return Ok(redirect("/tokens"));
    }
    let error = query.expired.map(|_| {
        "This sign-in link has expired or was already used. Sign in with your password.".to_owned()
    });
    let notice = query.signed_out.map(|_| "You have signed out.".to_owned());
    login_page(&req, &state, StatusCode::OK, String::new(), error, notice)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// Signs in. Any failure (wrong password, throttled, workers busy) is
/// answered no sooner than the configured delay after the request came in:
/// a person hardly notices, while a script guessing over a connection is
/// held to one guess per delay, and waiting costs a timer, not a thread.
pub async fn login(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, UiError> {
    let started = actix_web::rt::time::Instant::now();
    let answer = try_login(&req, session, &state, form).await;
    let signed_in = matches!(&answer, Ok(r) if r.status() == StatusCode::SEE_OTHER);
    if !signed_in {
        actix_web::rt::time::sleep_until(started + state.config.failed_sign_in_delay).await;
    }
    answer
}

async fn try_login(
    req: &HttpRequest,
    session: Session,
    state: &AppState,
    form: LoginForm,
) -> Result<HttpResponse, UiError> {
    let typed = form.username.trim().to_owned();
    let addr = client_ip::of_request(req, &state.config.trusted_proxies);
    let now = state.clock.now();
    let failure = |message: String, status: StatusCode| {
        login_page(req, state, status, typed.clone(), Some(message), None)
    };
    // A place with the password workers comes first: when they are full the
    // attempt is refused before it costs any database work.
    let slot = state.passwords.try_slot().inspect_err(|_| {
        state.metrics.sign_in(SignInOutcome::Busy);
    })?;
    // A name that cannot be a user name names nobody, and is never looked
    // up or stored.
    let username = Username::parse(&typed).ok();
    let found = match username.clone() {
        Some(name) => {
            state
                .db
                .read(move |conn| accounts::find_for_sign_in(conn, &name))
                .await?
        }
        None => None,
    };
    let known_device = found.as_ref().is_some_and(|(account, _)| {
        device::accounts(req, &state.cookie_key, state.config.secure_cookies, now)
            .contains(&account.id)
    });
    let attempt = throttle::Attempt::new(username.as_ref(), addr, known_device);
    // An attempt already over a limit is refused on a read alone.
    if let Some(wait) = throttle::reserve_unless_blocked(&state.db, &attempt, now).await? {
        tracing::warn!(?addr, user = %loggable(&typed), known_device, "sign-in throttled");
        state.metrics.sign_in(SignInOutcome::Throttled);
        return failure(too_many_sign_ins(wait), StatusCode::TOO_MANY_REQUESTS);
    }
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), hash),
        None => (None, None),
    };
    // Failed sign-ins at a real account are the account's to see.
    let account_about = account.as_ref().map(audit::Target::of);
    // Verify even for unknown users, so timing does not tell who exists.
    let verified = state.passwords.verify(slot, hash, form.password).await?;
    let usable = account.filter(|a| verified && !a.suspended && a.kind.may_own_tokens());
    let Some(account) = usable else {
        // The reservation stands as the failure.
        tracing::warn!(?addr, user = %loggable(&typed), "sign-in failed");
        // Keyed by the account when it exists; a name that is no account
        // is a stranger's choice, kept only in the row's sample.
        let name = loggable(&typed);
        let key = account_about
            .as_ref()
            .map_or_else(|| "no such account".to_owned(), |t| t.id.to_string());
        let known = account_about.is_some();
        state.refusals.record(audit::Counted {
            actor: Some(name.clone()).filter(|_| known),
            tried: Some(name).filter(|_| !known),
            target: account_about,
            ..crate::auth::refusals::counted(
                AuditEvent::SignInFailed,
                now,
                addr,
                &[&key],
                "wrong password, or the account is suspended".to_owned(),
                crate::web::context::current_id(),
            )
        });
        state.metrics.sign_in(SignInOutcome::WrongPassword);
        return failure(
            "The user name or password is incorrect, or the account is suspended.".to_owned(),
            StatusCode::UNAUTHORIZED,
        );
    };
    throttle::succeeded_in(&state.db, attempt).await?;
    if account.two_factor {
        await_code(&session, account.id, now)?;
        state.metrics.sign_in(SignInOutcome::SecondFactorAsked);
        tracing::info!(?addr, user = %account.username, "password right; waiting for the second factor");
        return Ok(redirect("/login/two-factor"));
    }
    finish_sign_in(req, &session, state, &account, "with a password").await
}

/// A one-time sign-in link's query, and the form that confirms it.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OnceQuery {
    session: String,
}

#[derive(Template)]
#[template(path = "login_once.html")]
struct SwitchPage {
    chrome: Chrome,
    /// Who is signed in, if anyone other than the link's account.
    current: Option<Username>,
    target: Username,
    action: String,
    secret: String,
}

/// Follows a one-time link: a page that names the account the link is
/// for, whose button uses it (a POST, with the CSRF check). Never a
/// sign-in by GET: a link someone else made must neither silently replace
/// a session nor put a signed-out visitor to work in the maker's account
/// (a page that loads the link in the background could do either). The
/// link is kept until the answer.
pub async fn login_once(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<OnceQuery>,
) -> Result<HttpResponse, UiError> {
    let Some(secret) = TokenSecret::parse(&query.session) else {
        return Ok(redirect("/login?expired=1"));
    };
    let current_id = session.get::<i64>(ACCOUNT_ID).ok().flatten();
    let now = state.clock.now();
    let found = state
        .db
        .read(move |conn| {
            let target = login_links::peek(conn, &secret, now)?;
            // An account deleted meanwhile is no one; an outage is an
            // outage, not "no one signed in".
            let current = match current_id.map(|id| accounts::load(conn, id)) {
                Some(Ok(account)) => Some(account),
                None | Some(Err(OpError::AccountNotFound(_))) => None,
                Some(Err(e)) => return Err(e),
            };
            Ok::<_, OpError>((target, current))
        })
        .await?;
    let (target, current) = match found {
        (None, _) => return Ok(redirect("/login?expired=1")),
        (Some(target), current) => (target, current),
    };
    let csrf = csrf::token(&session)?;
    let mut chrome = Chrome::anonymous(csrf, None);
    if let Some(current) = &current {
        chrome.username = current.username.to_string();
        chrome.is_root = current.is_root();
    }
    render(
        StatusCode::OK,
        &SwitchPage {
            chrome,
            // Signed in as the link's own account: nothing to switch from.
            current: current.filter(|c| c.id != target.id).map(|c| c.username),
            target: target.username,
            action: req.path().to_owned(),
            secret: query.session,
        },
    )
}

/// "Continue as …": the visitor chose to use the link.
pub async fn login_once_confirmed(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<OnceQuery>,
) -> Result<HttpResponse, UiError> {
    match TokenSecret::parse(&form.session) {
        Some(secret) => use_link(&req, &session, &state, secret).await,
        None => Ok(redirect("/login?expired=1")),
    }
}

async fn use_link(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    secret: TokenSecret,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    // A read first: a made-up or used link (anyone can post one) takes no
    // write; a live one is then taken, once, by the delete.
    let wanted = secret.clone();
    let live = state
        .db
        .read(move |conn| login_links::peek(conn, &wanted, now))
        .await?
        .is_some();
    if !live {
        return Ok(redirect("/login?expired=1"));
    }
    let account = state
        .db
        .write_bookkeeping(move |conn| login_links::consume(conn, &secret, now))
        .await?;
    match account {
        // The link stands for the password, not for the second factor:
        // an account that has one is asked for its code.
        Some(account) if account.kind.may_own_tokens() && account.two_factor => {
            await_code(session, account.id, now)?;
            state.metrics.sign_in(SignInOutcome::SecondFactorAsked);
            tracing::info!(user = %account.username, "one-time link used; waiting for the second factor");
            Ok(redirect("/login/two-factor"))
        }
        Some(account) if account.kind.may_own_tokens() => {
            start_session(session, req, state, account.id)?;
            record_sign_in(req, state, &account, "with a one-time link").await?;
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

/// What a throttled sign-in (with a password or a passkey) is told, given
/// the seconds to wait.
pub(super) fn too_many_sign_ins(wait: i64) -> String {
    format!(
        "Too many failed sign-ins. Try again in {} minute(s).",
        (wait + 59) / 60
    )
}
