//! Signing in and out, and the `SignedIn` extractor every page uses.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use serde::Deserialize;

use crate::auth::session_store::{ACCOUNT_ID, CLIENT_ADDRESS, CLIENT_AGENT, SESSION_ID};
use crate::auth::{client_ip, csrf, device, throttle};
use crate::domain::{AccountKind, TokenSecret, Username};
use crate::ops::audit;
use crate::ops::two_factor as two_factor_store;
use crate::ops::{accounts, login_links, Actor, OpError, Origin};
use crate::state::AppState;

use super::form::{Form, Query};
use super::{redirect, render, Chrome, UiError};
use crate::web::request::loggable;

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
        let path = req.path().to_owned();
        let client = state
            .as_ref()
            .and_then(|s| client_ip::of_request(req, &s.config.trusted_proxies));
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
            // Root may require two-factor sign-in of resellers: one without
            // it may only set it up (or sign out).
            let setting_up = path.starts_with("/account/two-factor") || path == "/logout";
            if account.kind == AccountKind::Reseller && !account.two_factor && !setting_up {
                let required = state
                    .db
                    .read(two_factor_store::required_for_resellers)
                    .await?;
                if required {
                    return Err(UiError::TwoFactorSetupRequired);
                }
            }
            let csrf = csrf::token(&session)?;
            let origin = Origin {
                ip: client.map(|a| a.to_string()),
                request_id: Some(crate::web::request::current_id()),
                token: None,
            };
            let actor = Actor::signed_in(account).from(origin);
            // Error pages show the same top bar as `Chrome::for_user`.
            crate::web::request::set_who(crate::web::request::Who {
                username: actor.account.username.to_string(),
                is_root: actor.account.is_root(),
                lists_accounts: super::lists_accounts(&actor),
                csrf: csrf.clone(),
            });
            Ok(SignedIn { actor, csrf })
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

/// The sign-in page, with the form's CSRF token from its own cookie: a
/// stranger's view of it stores nothing.
fn login_page(
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
    let slot = state.passwords.try_slot()?;
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
        device::accounts(req, &state.cookie_key, state.config.secure_cookies).contains(&account.id)
    });
    let attempt = throttle::Attempt::new(username.as_ref(), addr, known_device);
    // An attempt already over a limit is refused on a read alone.
    let check = attempt.clone();
    let mut blocked = state
        .db
        .read(move |conn| throttle::already_blocked(conn, &check, now))
        .await?;
    if blocked.is_none() {
        blocked = throttle::reserve_in(&state.db, &attempt, now).await?;
    }
    if let Some(wait) = blocked {
        tracing::warn!(?addr, user = %loggable(&typed), known_device, "sign-in throttled");
        let minutes = (wait + 59) / 60;
        return failure(
            format!("Too many failed sign-ins. Try again in {minutes} minute(s)."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), hash),
        None => (None, None),
    };
    // Failed sign-ins at a real account are the account's to see.
    let account_about = account
        .as_ref()
        .map(|a| (a.username.to_string(), a.id, a.owner_id));
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
            .map_or_else(|| "no such account".to_owned(), |(_, id, _)| id.to_string());
        let known = account_about.is_some();
        state.refusals.record(audit::Counted {
            actor: Some(name.clone()).filter(|_| known),
            tried: Some(name).filter(|_| !known),
            target: account_about,
            ..crate::auth::refusals::counted(
                "sign_in_failed",
                now,
                addr,
                &[&key],
                "wrong password, or the account is suspended".to_owned(),
                crate::web::request::current_id(),
            )
        });
        return failure(
            "The user name or password is incorrect, or the account is suspended.".to_owned(),
            StatusCode::UNAUTHORIZED,
        );
    };
    throttle::succeeded_in(&state.db, attempt).await?;
    if account.two_factor {
        super::two_factor::await_code(&session, account.id, now)?;
        tracing::info!(?addr, user = %account.username, "password right; waiting for the second factor");
        return Ok(redirect("/login/two-factor"));
    }
    start_session(&session, req, state, account.id)?;
    record_sign_in(req, state, &account, "with a password").await?;
    tracing::info!(?addr, user = %account.username, "signed in");
    let mut response = redirect("/tokens");
    let known = device::remember(
        req,
        &state.cookie_key,
        account.id,
        state.config.secure_cookies,
    );
    response
        .add_cookie(&known)
        .map_err(|e| UiError::Internal(e.into()))?;
    Ok(response)
}

/// Records a sign-in (`how`: with a password, a code, a link).
pub(super) async fn record_sign_in(
    req: &HttpRequest,
    state: &AppState,
    account: &crate::ops::Account,
    how: &'static str,
) -> Result<(), UiError> {
    record_about_self(req, state, account, "sign_in", how).await
}

/// Records `event` as done by `account` to itself, from this request.
pub(super) async fn record_about_self(
    req: &HttpRequest,
    state: &AppState,
    account: &crate::ops::Account,
    event: &'static str,
    detail: &'static str,
) -> Result<(), UiError> {
    let actor = Actor::signed_in(account.clone()).from(origin_of(req, state));
    state
        .db
        .write_bookkeeping(move |conn| {
            audit::record(
                conn,
                &actor,
                event,
                audit::About::account(&actor.account).detail(detail),
            )
        })
        .await?;
    Ok(())
}

/// Where a page request comes from, for the audit trail.
pub(super) fn origin_of(req: &HttpRequest, state: &AppState) -> Origin {
    Origin {
        ip: client_ip::of_request(req, &state.config.trusted_proxies).map(|a| a.to_string()),
        request_id: Some(crate::web::request::current_id()),
        token: None,
    }
}

/// A fresh session for `account_id`: a new key (no fixation), a new CSRF
/// token, and what the list of sessions shows of it (a public id, the
/// client's address and browser).
pub(super) fn start_session(
    session: &Session,
    req: &HttpRequest,
    state: &AppState,
    account_id: i64,
) -> Result<(), UiError> {
    session.renew();
    session.clear();
    let address = client_ip::of_request(req, &state.config.trusted_proxies)
        .map_or_else(String::new, |a| a.to_string());
    let agent: String = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    let id = hex::encode(rand::random::<[u8; 12]>());
    let failed = |e: actix_session::SessionInsertError| UiError::Internal(anyhow::anyhow!("{e}"));
    session.insert(ACCOUNT_ID, account_id).map_err(failed)?;
    for (key, value) in [
        (SESSION_ID, id),
        (CLIENT_ADDRESS, address),
        (CLIENT_AGENT, agent),
    ] {
        session.insert(key, value).map_err(failed)?;
    }
    csrf::token(session)?;
    Ok(())
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
    current: Username,
    target: Username,
    action: String,
    secret: String,
}

/// Follows a one-time link. Signed out, it signs in. Signed in as another
/// account, it asks first: a link someone else made must not silently
/// replace the session (the link is kept until the answer).
pub async fn login_once(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Query(query): Query<OnceQuery>,
) -> Result<HttpResponse, UiError> {
    let Some(secret) = TokenSecret::parse(&query.session) else {
        return Ok(redirect("/login?expired=1"));
    };
    let current = session.get::<i64>(ACCOUNT_ID).ok().flatten();
    if let Some(current_id) = current {
        let now = state.clock.now();
        let peek = secret.clone();
        let found = state
            .db
            .read(move |conn| {
                let target = login_links::peek(conn, &peek, now)?;
                let current = accounts::load(conn, current_id).ok();
                Ok::<_, OpError>((target, current))
            })
            .await?;
        match found {
            (None, _) => return Ok(redirect("/login?expired=1")),
            (Some(target), Some(current)) if target.id != current.id => {
                let csrf = csrf::token(&session)?;
                let mut chrome = Chrome::anonymous(csrf, None);
                chrome.username = current.username.to_string();
                chrome.is_root = current.is_root();
                return render(
                    StatusCode::OK,
                    &SwitchPage {
                        chrome,
                        current: current.username,
                        target: target.username,
                        action: req.path().to_owned(),
                        secret: query.session,
                    },
                );
            }
            _ => {}
        }
    }
    use_link(&req, &session, &state, secret).await
}

/// "Continue as …": the signed-in user chose to use the link.
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
    let account = state
        .db
        .write_bookkeeping(move |conn| login_links::consume(conn, &secret, now))
        .await?;
    match account {
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
