//! Two-factor sign-in on the page: setting it up on
//! `/account/two-factor` (a QR code and the secret as text, confirmed with a
//! first code; ten recovery codes shown once), new recovery codes, turning
//! it off, and the second step of signing in (`/login/two-factor`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use base64::Engine;
use serde::Deserialize;

use crate::auth::two_factor::{qr_svg, recovery_codes, recovery_digest, TotpSecret};
use crate::auth::{csrf, throttle};
use crate::domain::AccountKind;
use crate::domain::AuditEvent;
use crate::ops::{accounts, two_factor as store, Account};
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::password::{check_current, CurrentPassword};
use super::sign_in::{finish_sign_in, pending, record_about_self};
use super::{flash, redirect, render, Chrome, SignedIn, UiError};
use crate::metrics::SignInOutcome;

/// A secret being set up, sealed, until its first code confirms it.
const SETUP_SECRET: &str = "totp_setup";

fn base64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct TwoFactorPage {
    chrome: Chrome,
    /// The authenticator app (TOTP) is set up.
    enabled: bool,
    /// The account's passkeys, and whether this page may add one.
    passkeys: Vec<super::passkey_site::PasskeyView>,
    passkeys_offered: bool,
    passkey_note: String,
    required: bool,
    codes_left: i64,
    /// Setting up: the QR code (inline SVG) and the secret as text.
    qr: String,
    secret: String,
    /// Just made: the recovery codes, shown this once.
    new_codes: Vec<String>,
    errors: FieldErrors,
}

/// The secret being set up in this session, or a new one.
fn setup_secret(session: &Session, state: &AppState) -> Result<TotpSecret, UiError> {
    let kept = session
        .get::<String>(SETUP_SECRET)
        .ok()
        .flatten()
        .and_then(|b| base64().decode(b).ok())
        .and_then(|sealed| state.secrets.open(&sealed))
        .and_then(TotpSecret::from_bytes);
    if let Some(secret) = kept {
        return Ok(secret);
    }
    let secret = TotpSecret::generate();
    session
        .insert(
            SETUP_SECRET,
            base64().encode(state.secrets.seal(secret.as_bytes())),
        )
        .map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(secret)
}

/// Whether the account has an authenticator app set up.
async fn totp_on(state: &AppState, account_id: i64) -> Result<bool, UiError> {
    Ok(state
        .db
        .read(move |conn| store::secret(conn, account_id))
        .await?
        .is_some())
}

async fn page_for(
    req: &HttpRequest,
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    new_codes: Vec<String>,
    errors: FieldErrors,
) -> Result<TwoFactorPage, UiError> {
    let account = &user.actor.account;
    let id = account.id;
    let (codes_left, required, totp, passkeys) = state
        .db
        .read(move |conn| {
            Ok::<_, crate::ops::OpError>((
                store::recovery_codes_left(conn, id)?,
                store::required_for_resellers(conn)?,
                store::secret(conn, id)?.is_some(),
                crate::ops::passkeys::list(conn, id)?,
            ))
        })
        .await?;
    let enabled = totp || !new_codes.is_empty();
    let (passkeys_offered, passkey_note) = super::passkey_site::offered(req, state);
    let (qr, secret) = if enabled {
        (String::new(), String::new())
    } else {
        let secret = setup_secret(session, state)?;
        (
            qr_svg(&secret.url(account.username.as_str())),
            secret.base32(),
        )
    };
    Ok(TwoFactorPage {
        chrome: Chrome::for_user(user, session),
        enabled,
        passkeys: passkeys
            .iter()
            .map(|p| super::passkey_site::PasskeyView::of(p, state))
            .collect(),
        passkeys_offered,
        passkey_note,
        required: required && account.kind == AccountKind::Reseller,
        codes_left,
        qr,
        secret,
        new_codes,
        errors,
    })
}

pub async fn page(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    with_errors(
        &req,
        &user,
        &session,
        &state,
        StatusCode::OK,
        FieldErrors::default(),
    )
    .await
}

/// The page with `errors` (the passkey forms' too), answered `status`.
pub(super) async fn with_errors(
    req: &HttpRequest,
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    status: StatusCode,
    errors: FieldErrors,
) -> Result<HttpResponse, UiError> {
    let page = page_for(req, user, session, state, Vec::new(), errors).await?;
    render(status, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EnableForm {
    code: String,
    password: String,
}

/// The page again with the password's outcome as `field`'s error: 429
/// when too many wrong passwords came lately, else 422.
pub(super) async fn password_refused(
    req: &HttpRequest,
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    field: &'static str,
    outcome: CurrentPassword,
) -> Result<HttpResponse, UiError> {
    let (status, message) = outcome.refusal().unwrap_or((
        StatusCode::UNPROCESSABLE_ENTITY,
        CurrentPassword::WRONG.to_owned(),
    ));
    let errors = FieldErrors::one(field, message);
    with_errors(req, user, session, state, status, errors).await
}

/// Confirms the set-up with the password and a first code; shows the
/// recovery codes once. The password is asked as for turning it off
/// (GitHub does the same): a session left open must not be enough to tie
/// the account to someone else's phone.
pub async fn enable(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<EnableForm>,
) -> Result<HttpResponse, UiError> {
    if totp_on(&state, user.actor.id()).await? {
        return Ok(redirect("/account/two-factor"));
    }
    match check_current(&user, &state, form.password).await? {
        CurrentPassword::Right => {}
        refused => {
            return password_refused(&req, &user, &session, &state, "password", refused).await
        }
    }
    let secret = setup_secret(&session, &state)?;
    let now = state.clock.now().max(0) as u64;
    let Some(step) = secret.check(&form.code, now, 0) else {
        let errors = FieldErrors::one(
            "code",
            "That code is not right. Check the time on your phone and try the newest code.",
        );
        return with_errors(
            &req,
            &user,
            &session,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
        )
        .await;
    };
    let codes = recovery_codes();
    let digests: Vec<Vec<u8>> = codes.iter().map(|c| recovery_digest(c)).collect();
    let sealed = state.secrets.seal(secret.as_bytes());
    let actor = user.actor.clone();
    let turned_on = state
        .db
        .write_bookkeeping(move |conn| store::enable(conn, &actor, &sealed, step as i64, &digests))
        .await?;
    session.remove(SETUP_SECRET);
    if !turned_on {
        // Another request turned it on first (a double click): its codes
        // are the ones kept, shown on its answer, which this one replaces.
        flash(
            &session,
            "Two-factor sign-in was already on. If you did not see your recovery codes, make new ones below.",
        );
        return Ok(redirect("/account/two-factor"));
    }
    let page = page_for(&req, &user, &session, &state, codes, FieldErrors::default()).await?;
    // `render` marks it no-store: the codes are never cached.
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
}

/// Ten new recovery codes (the old ones stop working), after the password.
pub async fn new_codes(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    if !totp_on(&state, user.actor.id()).await? {
        return Ok(redirect("/account/two-factor"));
    }
    let id = user.actor.id();
    let seen = state
        .db
        .read(move |conn| store::recovery_code_set(conn, id))
        .await?;
    match check_current(&user, &state, form.password).await? {
        CurrentPassword::Right => {}
        refused => {
            return password_refused(&req, &user, &session, &state, "codes_password", refused).await
        }
    }
    let codes = recovery_codes();
    let digests: Vec<Vec<u8>> = codes.iter().map(|c| recovery_digest(c)).collect();
    let actor = user.actor.clone();
    let replaced = state
        .db
        .write_bookkeeping(move |conn| store::replace_recovery_codes(conn, &actor, &seen, &digests))
        .await?;
    if !replaced {
        flash(
            &session,
            "Your recovery codes were just replaced by another request. If you did not see them, make new ones again.",
        );
        return Ok(redirect("/account/two-factor"));
    }
    let page = page_for(&req, &user, &session, &state, codes, FieldErrors::default()).await?;
    render(StatusCode::OK, &page)
}

/// Turns the authenticator app off, after the password; not for a reseller
/// root requires two factors of, unless a passkey remains.
pub async fn disable(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    let account = &user.actor.account;
    let id = account.id;
    let (required, passkeys) = state
        .db
        .read(move |conn| {
            Ok::<_, crate::ops::OpError>((
                store::required_for_resellers(conn)?,
                crate::ops::passkeys::count(conn, id)?,
            ))
        })
        .await?;
    if required && account.kind == AccountKind::Reseller && passkeys == 0 {
        return Err(UiError::Forbidden(
            "Root requires two-factor sign-in of resellers: it cannot be turned off.".into(),
        ));
    }
    match check_current(&user, &state, form.password).await? {
        CurrentPassword::Right => {}
        refused => {
            return password_refused(&req, &user, &session, &state, "off_password", refused).await
        }
    }
    if !totp_on(&state, id).await? {
        return Ok(redirect("/account/two-factor"));
    }
    let actor = user.actor.clone();
    state
        .db
        .write_bookkeeping(move |conn| store::disable(conn, &actor))
        .await?;
    flash(&session, "Two-factor sign-in is off.");
    Ok(redirect("/account/two-factor"))
}

// --- The second step of signing in -----------------------------------------

#[derive(Template)]
#[template(path = "login_two_factor.html")]
struct CodePage {
    chrome: Chrome,
    error: Option<String>,
    /// What the account can answer with: a code, a passkey.
    codes: bool,
    passkeys: bool,
    /// Why the account's only factor, a passkey, cannot be used here.
    unavailable: Option<String>,
}

/// The account's sealed app secret with its last step used (when the app
/// is on), and how many passkeys it has.
async fn factors(
    state: &AppState,
    account_id: i64,
) -> Result<(Option<(Vec<u8>, i64)>, i64), UiError> {
    Ok(state
        .db
        .read(move |conn| {
            Ok::<_, crate::ops::OpError>((
                store::secret(conn, account_id)?,
                crate::ops::passkeys::count(conn, account_id)?,
            ))
        })
        .await?)
}

/// The second step of signing in, offering what `account_id` has set up.
pub(super) async fn code_page(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    account_id: i64,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, UiError> {
    let (sealed, count) = factors(state, account_id).await?;
    let totp = sealed.is_some();
    let (offered, why_not) = super::passkey_site::offered(req, state);
    render(
        status,
        &CodePage {
            chrome: Chrome::anonymous(csrf::token(session)?, None),
            error,
            // No code form for an account whose only factor is a passkey:
            // no code could be right.
            codes: totp || count == 0,
            passkeys: count > 0 && offered,
            unavailable: (count > 0 && !totp && !offered).then_some(why_not),
        },
    )
}

pub async fn code_form(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let Some(account_id) = pending(&session, state.clock.now()) else {
        return Ok(redirect("/login"));
    };
    code_page(&req, &session, &state, account_id, StatusCode::OK, None).await
}

/// The start of checking a second factor (a code or a passkey): the
/// account waiting for it, with its try reserved against the throttle; or
/// the answer to give instead (sign in again, or too many tries).
pub(super) async fn begin_second_step(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    now: i64,
) -> Result<Result<(Account, throttle::Attempt), HttpResponse>, UiError> {
    let Some(account_id) = pending(session, now) else {
        return Ok(Err(redirect("/login?expired=1")));
    };
    let account = state
        .db
        .read(move |conn| accounts::load(conn, account_id))
        .await?;
    let attempt = throttle::Attempt::second_factor(&account.username);
    let Some(wait) = throttle::reserve_unless_blocked(&state.db, &attempt, now).await? else {
        return Ok(Ok((account, attempt)));
    };
    state.metrics.sign_in(SignInOutcome::SecondFactorFailed);
    let message = format!(
        "Too many failed tries. Try again in {} minute(s).",
        (wait + 59) / 60
    );
    code_page(
        req,
        session,
        state,
        account_id,
        StatusCode::TOO_MANY_REQUESTS,
        Some(message),
    )
    .await
    .map(Err)
}

/// A second factor refused: recorded in the activity (`detail`), counted,
/// and the step shown again with `message`.
pub(super) async fn second_step_refused(
    req: &HttpRequest,
    session: &Session,
    state: &AppState,
    account: &Account,
    detail: &'static str,
    message: &str,
) -> Result<HttpResponse, UiError> {
    record_about_self(req, state, account, AuditEvent::TwoFactorFailed, detail).await?;
    state.metrics.sign_in(SignInOutcome::SecondFactorFailed);
    code_page(
        req,
        session,
        state,
        account.id,
        StatusCode::UNAUTHORIZED,
        Some(message.to_owned()),
    )
    .await
}

/// Checks the code (or a recovery code); throttled per account like a
/// password, and each code works once.
pub async fn check_code(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<CodeForm>,
) -> Result<HttpResponse, UiError> {
    let now = state.clock.now();
    let waiting = pending(&session, now);
    let found = match waiting {
        Some(id) => Some(factors(&state, id).await?),
        None => None,
    };
    // A code for an account whose only factor is a passkey cannot be
    // right: said so, without spending a try or writing an event.
    if let (Some(id), Some((None, 1..))) = (waiting, &found) {
        let message = "This account's second factor is a passkey: no code is asked.";
        return code_page(
            &req,
            &session,
            &state,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message.to_owned()),
        )
        .await;
    }
    let (account, attempt) = match begin_second_step(&req, &session, &state, now).await? {
        Ok(waiting) => waiting,
        Err(answer) => return Ok(answer),
    };
    let Some((sealed, passkeys)) = found else {
        return Ok(redirect("/login?expired=1"));
    };
    let account_id = account.id;
    let code = form.code.trim().to_owned();
    let accepted = match sealed {
        // Two-factor was turned off meanwhile: the password was enough.
        // With passkeys only, no code is right: the passkey is the factor.
        None => passkeys == 0,
        Some((sealed, last_step)) => {
            let secret = state.secrets.open(&sealed).and_then(TotpSecret::from_bytes);
            // Sealed under another key (the session key changed): no app
            // code can be checked, but recovery codes (digests, no key)
            // still can.
            if secret.is_none() {
                tracing::error!(user = %account.username, "the two-factor secret cannot be opened: was the session key changed?");
            }
            let step =
                secret.and_then(|s| s.check(&code, now.max(0) as u64, last_step.max(0) as u64));
            match step {
                Some(step) => {
                    state
                        .db
                        .write_bookkeeping(move |conn| {
                            store::use_step(conn, account_id, step as i64)
                        })
                        .await?
                }
                None if code.len() > 6 => {
                    let digest = recovery_digest(&code);
                    state
                        .db
                        .write_bookkeeping(move |conn| {
                            store::use_recovery_code(conn, account_id, &digest)
                        })
                        .await?
                }
                None => false,
            }
        }
    };
    let usable = accepted && !account.suspended && account.kind.may_own_tokens();
    if !usable {
        tracing::warn!(user = %account.username, "second factor refused");
        // Only someone who knew the password gets here, and the throttle
        // above bounds how often: each wrong code is an event of its own.
        return second_step_refused(
            &req,
            &session,
            &state,
            &account,
            "a wrong or used code after the right password",
            "That code is not right, or was used already.",
        )
        .await;
    }
    throttle::succeeded_in(&state.db, attempt).await?;
    finish_sign_in(
        &req,
        &session,
        &state,
        &account,
        "with a password and a code",
    )
    .await
}
