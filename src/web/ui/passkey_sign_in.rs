//! Signing in with a passkey: as the second step after the password (the
//! ceremony's state in the half-made session), and alone, without a user
//! name or password ("Sign in with a passkey"; the state sealed in a
//! cookie, so that a stranger's click stores nothing, and each answer taken
//! once). Both are throttled like passwords and recorded in the activity.

use actix_session::Session;
use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::auth::cookies::CookieNames;
use crate::auth::passkeys::{
    challenge_digest, counter_went_back, passkey_from_store, updated_record, Refused,
    CEREMONY_SECS, NOT_VERIFIED,
};
use crate::auth::{client_ip, device, throttle};
use crate::domain::AuditEvent;
use crate::metrics::SignInOutcome;
use crate::ops::passkeys::{self as store, StoredPasskey};
use crate::ops::{accounts, audit, Account, OpError};
use crate::state::AppState;

use super::form::Form;
use super::passkey_site::{json_refusal, options_answer, relying_party};
use super::session::{login_page, too_many_sign_ins};
use super::sign_in::{finish_sign_in, pending};
use super::two_factor::{begin_second_step, second_step_refused};
use super::UiError;

/// A second-factor ceremony under way, kept in the half-made session.
const SECOND_STEP: &str = "passkey_second_step";

#[derive(Serialize, Deserialize)]
struct Ceremony {
    state: String,
    /// The challenge (passwordless only), and when the ceremony began.
    challenge: String,
    since: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AnswerForm {
    credential: String,
}

// --- The second step, after the password -----------------------------------

/// The options to sign in with one of the waiting account's passkeys.
pub async fn second_step_options(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let Some(account_id) = pending(&session, state.clock.now()) else {
        return Ok(json_refusal(
            StatusCode::UNAUTHORIZED,
            "passkey",
            "Your sign-in has expired: sign in again.",
        ));
    };
    let Some(rp) = relying_party(&req, &state) else {
        return Ok(json_refusal(
            StatusCode::NOT_FOUND,
            "passkey",
            "Passkeys are not offered here.",
        ));
    };
    let stored = state
        .db
        .read(move |conn| store::list(conn, account_id))
        .await?;
    let passkeys: Vec<_> = stored
        .iter()
        .filter_map(|p| passkey_from_store(&p.passkey))
        .collect();
    if passkeys.is_empty() {
        return Ok(json_refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "passkey",
            "This account has no passkey.",
        ));
    }
    let (options, ceremony) = match rp.start_authentication(&passkeys) {
        Ok(started) => started,
        Err(Refused(message)) => {
            return Ok(json_refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey",
                message,
            ))
        }
    };
    session
        .insert(
            SECOND_STEP,
            Ceremony {
                state: ceremony,
                challenge: String::new(),
                since: state.clock.now(),
            },
        )
        .map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(options_answer(options))
}

/// Checks the passkey's answer as the second factor; throttled per account
/// like a code.
pub async fn second_step(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<AnswerForm>,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    let (account, attempt) = match begin_second_step(&req, &session, &state, now).await? {
        Ok(waiting) => waiting,
        Err(answer) => return Ok(answer),
    };
    let account_id = account.id;
    let ceremony: Option<Ceremony> = session.remove_as(SECOND_STEP).and_then(Result::ok);
    // Each ceremony is answered once, even by two requests at once on the
    // same session (its removal from the session is saved only with the
    // answer).
    let ceremony = match ceremony {
        Some(c) if answered_first(&state, &c.state, c.since, now).await? => Some(c),
        _ => None,
    };
    let verified = match (relying_party(&req, &state), ceremony) {
        (Some(rp), Some(c)) if now - c.since <= CEREMONY_SECS => rp
            .finish_authentication(&form.credential, &c.state)
            .map_err(|Refused(m)| m),
        _ => Err("That took too long. Try the passkey again."),
    };
    // webauthn-rs allowed only this account's credentials; the stored row
    // is read again by the id the answer names, and must be the account's.
    let used = match verified {
        Ok((credential_id, result)) => {
            let credential_id: String = credential_id;
            let found = state
                .db
                .read(move |conn| store::by_credential(conn, &credential_id))
                .await?
                .filter(|p| p.account_id == account_id);
            match found {
                Some(stored) => Ok((stored, result)),
                None => Err(NOT_VERIFIED.0),
            }
        }
        Err(message) => Err(message),
    };
    let usable = used.and_then(|u| {
        if account.suspended || !account.kind.may_own_tokens() {
            Err(NOT_VERIFIED.0)
        } else {
            Ok(u)
        }
    });
    let usable = match usable {
        Ok((stored, result)) => {
            if record_use(&state, &stored, &result, now).await? {
                Ok(())
            } else {
                Err(NOT_VERIFIED.0)
            }
        }
        Err(message) => Err(message),
    };
    if let Err(message) = usable {
        tracing::warn!(user = %account.username, "passkey refused as the second factor");
        return second_step_refused(
            &req,
            &session,
            &state,
            &account,
            "a passkey that was not accepted, after the right password",
            message,
        )
        .await;
    }
    throttle::succeeded_in(&state.db, attempt).await?;
    finish_sign_in(
        &req,
        &session,
        &state,
        &account,
        "with a password and a passkey",
    )
    .await
}

/// Stores a sign-in with the passkey: when, and its new counter, decided
/// on the record as stored now. False when its counter went back.
async fn record_use(
    state: &AppState,
    stored: &StoredPasskey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: i64,
) -> Result<bool, UiError> {
    let (id, result) = (stored.id, result.clone());
    let taken = state
        .db
        .write_bookkeeping(move |conn| {
            store::record_use(conn, id, now, |record| {
                if counter_went_back(record, &result) {
                    store::Use::Refused
                } else {
                    updated_record(record, &result)
                        .map_or(store::Use::Unchanged, store::Use::Updated)
                }
            })
        })
        .await?;
    if !taken {
        tracing::warn!(
            passkey = id,
            "a passkey whose counter went back was refused"
        );
    }
    Ok(taken)
}

/// Takes a ceremony's answer once, by what identifies the ceremony (its
/// challenge, or its state): false when it was answered before.
async fn answered_first(
    state: &AppState,
    ceremony: &str,
    since: i64,
    now: i64,
) -> Result<bool, UiError> {
    let digest = challenge_digest(ceremony);
    let expires = since + CEREMONY_SECS;
    Ok(state
        .db
        .write_bookkeeping(move |conn| store::take_challenge(conn, &digest, expires, now))
        .await?)
}

// --- Alone, without a password ----------------------------------------------

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The options for a passwordless sign-in, the state sealed into a cookie
/// that lasts as long as the ceremony.
pub async fn passwordless_options(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let Some(rp) = relying_party(&req, &state) else {
        return Ok(json_refusal(
            StatusCode::NOT_FOUND,
            "passkey",
            "Passkeys are not offered here.",
        ));
    };
    // An address over its limit of failed sign-ins is refused on a read.
    let addr = client_ip::of_request(&req, &state.config.trusted_proxies);
    let attempt = throttle::Attempt::new(None, addr, false);
    let now = state.clock.now();
    let blocked = state
        .db
        .read(move |conn| throttle::already_blocked(conn, &attempt, now))
        .await?;
    if let Some(wait) = blocked {
        state.metrics.sign_in(SignInOutcome::Throttled);
        return Ok(json_refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "passkey",
            too_many_sign_ins(wait),
        ));
    }
    let (options, ceremony, challenge) = match rp.start_discoverable() {
        Ok(started) => started,
        Err(Refused(message)) => {
            return Ok(json_refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey",
                message,
            ))
        }
    };
    let sealed = serde_json::to_vec(&Ceremony {
        state: ceremony,
        challenge,
        since: now,
    })
    .map_err(|e| UiError::Internal(e.into()))?;
    let secure = state.config.secure_cookies;
    let cookie = Cookie::build(
        CookieNames::new(secure).passkey(),
        b64().encode(state.passkey_box.seal(&sealed)),
    )
    .path("/")
    .http_only(true)
    .secure(secure)
    .same_site(SameSite::Strict)
    .max_age(CookieAge::seconds(CEREMONY_SECS))
    .finish();
    let mut response = options_answer(options);
    response
        .add_cookie(&cookie)
        .map_err(|e| UiError::Internal(e.into()))?;
    Ok(response)
}

/// The ceremony the cookie carries, if it is ours and not over.
fn ceremony_of(req: &HttpRequest, state: &AppState, now: i64) -> Option<Ceremony> {
    let names = CookieNames::new(state.config.secure_cookies);
    let sealed = b64().decode(req.cookie(names.passkey())?.value()).ok()?;
    let plain = state.passkey_box.open(&sealed)?;
    let ceremony: Ceremony = serde_json::from_slice(&plain).ok()?;
    (now - ceremony.since <= CEREMONY_SECS).then_some(ceremony)
}

/// Why a passwordless sign-in failed: the user sees one message whatever
/// it was; the log and the activity say which.
enum Failed {
    /// The ceremony's cookie is missing, altered or old.
    Expired,
    /// The answer names no passkey we hold.
    Unknown,
    /// The passkey's account, and what went wrong.
    Account(Account, &'static str),
    Throttled(i64),
}

/// Signs in with a passkey alone. Like a password, every failure is
/// answered no sooner than the configured delay.
pub async fn passwordless(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<AnswerForm>,
) -> Result<HttpResponse, UiError> {
    let started = actix_web::rt::time::Instant::now();
    let outcome = try_passwordless(&req, &state, &form.credential).await?;
    let names = CookieNames::new(state.config.secure_cookies);
    // As the cookie was set: a `__Host-` cookie's removal without
    // `Secure` is refused by browsers, and the ceremony would linger.
    let secure = state.config.secure_cookies;
    let mut gone = Cookie::build(names.passkey(), "")
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    gone.make_removal();
    let mut response = match outcome {
        Ok(account) => finish_sign_in(&req, &session, &state, &account, "with a passkey").await?,
        Err(failed) => {
            let addr = client_ip::of_request(&req, &state.config.trusted_proxies);
            let (status, message) = match &failed {
                Failed::Throttled(wait) => {
                    (StatusCode::TOO_MANY_REQUESTS, too_many_sign_ins(*wait))
                }
                Failed::Expired => (
                    StatusCode::UNAUTHORIZED,
                    "That took too long. Sign in with your passkey again.".to_owned(),
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "That passkey was not accepted. Use another, or sign in with your password."
                        .to_owned(),
                ),
            };
            if !matches!(failed, Failed::Throttled(_) | Failed::Expired) {
                record_failure(&state, addr, &failed);
            }
            state.metrics.sign_in(match failed {
                Failed::Throttled(_) => SignInOutcome::Throttled,
                _ => SignInOutcome::WrongPassword,
            });
            actix_web::rt::time::sleep_until(started + state.config.failed_sign_in_delay).await;
            login_page(&req, &state, status, String::new(), Some(message), None)?
        }
    };
    response
        .add_removal_cookie(&gone)
        .map_err(|e| UiError::Internal(e.into()))?;
    Ok(response)
}

/// Counts a failed passwordless sign-in in the activity: one row per
/// address, minute and account, like failed passwords.
fn record_failure(state: &AppState, addr: Option<std::net::IpAddr>, failed: &Failed) {
    let now = state.clock.now();
    let (target, detail) = match failed {
        Failed::Account(account, why) => (Some(audit::Target::of(account)), *why),
        _ => (None, "a passkey this server does not know"),
    };
    let key = target
        .as_ref()
        .map_or_else(|| "no such passkey".to_owned(), |t| t.id.to_string());
    let actor = match failed {
        Failed::Account(account, _) => Some(account.username.to_string()),
        _ => None,
    };
    state.refusals.record(audit::Counted {
        actor,
        target,
        ..crate::auth::refusals::counted(
            AuditEvent::SignInFailed,
            now,
            addr,
            &[&key, "passkey"],
            format!("with a passkey: {detail}"),
            crate::web::context::current_id(),
        )
    });
}

async fn try_passwordless(
    req: &HttpRequest,
    state: &AppState,
    answer: &str,
) -> Result<Result<Account, Failed>, UiError> {
    let now = state.clock.now();
    let addr = client_ip::of_request(req, &state.config.trusted_proxies);
    let (Some(rp), Some(ceremony)) = (relying_party(req, state), ceremony_of(req, state, now))
    else {
        return Ok(Err(Failed::Expired));
    };
    let Ok((handle, credential_id)) = rp.identify(answer) else {
        return unknown(state, addr, now).await;
    };
    let found = state
        .db
        .read(move |conn| {
            let Some(stored) = store::by_credential(conn, &credential_id)? else {
                return Ok::<_, OpError>(None);
            };
            let account = accounts::load(conn, stored.account_id)?;
            Ok(Some((stored, account)))
        })
        .await?;
    // The user id the authenticator holds must be the account's.
    let Some((stored, account)) = found.filter(|(s, _)| s.user_handle == handle.to_string()) else {
        return unknown(state, addr, now).await;
    };
    let known_device = device::accounts(req, &state.cookie_key, state.config.secure_cookies, now)
        .contains(&account.id);
    let attempt = throttle::Attempt::new(Some(&account.username), addr, known_device);
    if let Some(wait) = throttle::reserve_unless_blocked(&state.db, &attempt, now).await? {
        return Ok(Err(Failed::Throttled(wait)));
    }
    // Each challenge is answered once: a replayed answer finds it taken.
    if !answered_first(state, &ceremony.challenge, ceremony.since, now).await? {
        return Ok(Err(Failed::Account(account, "an answer used before")));
    }
    let Some(passkey) = passkey_from_store(&stored.passkey) else {
        return Ok(Err(Failed::Account(
            account,
            "its stored record cannot be read",
        )));
    };
    let result = match rp.finish_discoverable(answer, &ceremony.state, &passkey) {
        Ok(result) => result,
        Err(_) => return Ok(Err(Failed::Account(account, "the answer did not verify"))),
    };
    if account.suspended || !account.kind.may_own_tokens() {
        return Ok(Err(Failed::Account(account, "the account is suspended")));
    }
    if !record_use(state, &stored, &result, now).await? {
        return Ok(Err(Failed::Account(account, "its counter went back")));
    }
    throttle::succeeded_in(&state.db, attempt).await?;
    Ok(Ok(account))
}

/// A failure before any account is known: counted against the address.
async fn unknown(
    state: &AppState,
    addr: Option<std::net::IpAddr>,
    now: i64,
) -> Result<Result<Account, Failed>, UiError> {
    let attempt = throttle::Attempt::new(None, addr, false);
    if let Some(wait) = throttle::reserve_unless_blocked(&state.db, &attempt, now).await? {
        return Ok(Err(Failed::Throttled(wait)));
    }
    Ok(Err(Failed::Unknown))
}
