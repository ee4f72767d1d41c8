//! The steps of signing in that the password, two-factor and one-time
//! link routes share: waiting for a second factor, starting the session,
//! and recording the sign-in.

use actix_session::Session;
use actix_web::HttpRequest;

use crate::auth::client_ip;
use crate::auth::csrf;
use crate::auth::session_store::{ACCOUNT_ID, CLIENT_ADDRESS, CLIENT_AGENT, SESSION_ID};
use crate::domain::AuditEvent;
use crate::ops::{audit, Actor, Origin};
use crate::state::AppState;

use super::error::UiError;

/// The session entries of a sign-in waiting for its second factor.
pub use crate::auth::session_store::PENDING_ACCOUNT;
const PENDING_SINCE: &str = "pending_since";
/// How long the second step may take.
const PENDING_SECS: i64 = 300;
/// After the right password, for an account with two-factor on: the
/// session holds only "waiting for a code" until the code comes.
pub fn await_code(session: &Session, account_id: i64, now: i64) -> Result<(), UiError> {
    session.renew();
    session.clear();
    let failed = |e: actix_session::SessionInsertError| UiError::Internal(anyhow::anyhow!("{e}"));
    session
        .insert(PENDING_ACCOUNT, account_id)
        .map_err(failed)?;
    session.insert(PENDING_SINCE, now).map_err(failed)?;
    csrf::token(session)?;
    Ok(())
}

/// The account waiting for its code, if the wait is not over.
pub fn pending(session: &Session, now: i64) -> Option<i64> {
    let since = session.get::<i64>(PENDING_SINCE).ok().flatten()?;
    if now - since > PENDING_SECS {
        return None;
    }
    session.get::<i64>(PENDING_ACCOUNT).ok().flatten()
}

/// Records a sign-in (`how`: with a password, a code, a link).
pub async fn record_sign_in(
    req: &HttpRequest,
    state: &AppState,
    account: &crate::ops::Account,
    how: &'static str,
) -> Result<(), UiError> {
    record_about_self(req, state, account, AuditEvent::SignIn, how).await
}

/// Records `event` as done by `account` to itself, from this request.
pub async fn record_about_self(
    req: &HttpRequest,
    state: &AppState,
    account: &crate::ops::Account,
    event: AuditEvent,
    detail: &'static str,
) -> Result<(), UiError> {
    let actor = Actor::signed_in(account.clone()).acting_from(origin_of(req, state));
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
pub fn origin_of(req: &HttpRequest, state: &AppState) -> Origin {
    Origin {
        at: state.clock.now(),
        ip: client_ip::of_request(req, &state.config.trusted_proxies).map(|a| a.to_string()),
        request_id: Some(crate::web::context::current_id()),
        token: None,
    }
}

/// A fresh session for `account_id`: a new key (no fixation), a new CSRF
/// token, and what the list of sessions shows of it (a public id, the
/// client's address and browser).
pub fn start_session(
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

/// The end of every successful sign-in but a one-time link's: the session,
/// the activity row, the metric, and the known-device cookie.
pub async fn finish_sign_in(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    account: &crate::ops::Account,
    how: &'static str,
) -> Result<actix_web::HttpResponse, UiError> {
    start_session(session, req, state, account.id)?;
    record_sign_in(req, state, account, how).await?;
    state.metrics.sign_in(crate::metrics::SignInOutcome::Ok);
    tracing::info!(user = %account.username, how, "signed in");
    let mut response = super::redirect("/tokens");
    let known = crate::auth::device::remember(
        req,
        &state.cookie_key,
        account.id,
        state.config.secure_cookies,
        state.clock.now(),
    );
    response
        .add_cookie(&known)
        .map_err(|e| UiError::Internal(e.into()))?;
    Ok(response)
}
