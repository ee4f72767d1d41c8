//! Passkeys on the Two-factor page: adding one (a name and the password,
//! then the browser's ceremony; the options come as JSON to `app.js`) and
//! removing one (the password).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::Uuid;

use crate::auth::passkeys::{passkey_from_store, CEREMONY_SECS};
use crate::domain::PasskeyName;
use crate::ops::passkeys::{self as store, NewPasskey};
use crate::ops::OpError;
use crate::state::AppState;

use super::form::{FieldErrors, Form};
use super::passkey_site::{json_refusal, offered, options_answer, relying_party};
use super::password::{check_current, CurrentPassword};
use super::two_factor::{password_refused, with_errors};
use super::{flash, redirect, SignedIn, UiError};

/// A registration under way, kept in the (server-side) session.
const REGISTRATION: &str = "passkey_registration";

#[derive(Serialize, Deserialize)]
struct Registration {
    state: String,
    name: String,
    handle: String,
    since: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OptionsForm {
    name: String,
    password: String,
}

/// The options for the browser to register a new passkey, after its name
/// and the password check out. The state stays in the session.
pub async fn register_options(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<OptionsForm>,
) -> Result<HttpResponse, UiError> {
    let Some(rp) = relying_party(&req, &state) else {
        return Ok(json_refusal(
            StatusCode::NOT_FOUND,
            "passkey",
            offered(&req, &state).1,
        ));
    };
    let name = match PasskeyName::parse(&form.name) {
        Ok(name) => name,
        Err(message) => {
            return Ok(json_refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey_name",
                message,
            ))
        }
    };
    let checked = check_current(&user, &state, form.password).await?;
    if let Some((status, message)) = checked.refusal() {
        return Ok(json_refusal(status, "passkey_password", message));
    }
    let id = user.actor.id();
    let existing = state.db.read(move |conn| store::list(conn, id)).await?;
    if existing.len() as i64 >= store::MAX_PER_ACCOUNT {
        return Ok(json_refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "passkey",
            "You have ten passkeys already: remove one before adding another.",
        ));
    }
    let handle = existing
        .first()
        .and_then(|p| Uuid::parse_str(&p.user_handle).ok())
        .unwrap_or_else(Uuid::new_v4);
    let passkeys: Vec<_> = existing
        .iter()
        .filter_map(|p| passkey_from_store(&p.passkey))
        .collect();
    let username = user.actor.account.username.to_string();
    let (options, ceremony) = match rp.start_registration(handle, &username, &passkeys) {
        Ok(started) => started,
        Err(refused) => {
            return Ok(json_refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey",
                refused.0,
            ))
        }
    };
    session
        .insert(
            REGISTRATION,
            Registration {
                state: ceremony,
                name: name.to_string(),
                handle: handle.to_string(),
                since: state.clock.now(),
            },
        )
        .map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(options_answer(options))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AnswerForm {
    credential: String,
}

/// Finishes a registration with the browser's answer: the passkey is
/// stored under the name given, or the page says why not.
pub async fn register(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<AnswerForm>,
) -> Result<HttpResponse, UiError> {
    let refuse = |message: String| {
        let errors = FieldErrors::one("passkey", message);
        with_errors(
            &req,
            &user,
            &session,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
        )
    };
    let Some(rp) = relying_party(&req, &state) else {
        return refuse(offered(&req, &state).1).await;
    };
    let started: Option<Registration> = session.remove_as(REGISTRATION).and_then(Result::ok);
    let now = state.clock.now();
    let Some(started) = started.filter(|r| now - r.since <= CEREMONY_SECS) else {
        return refuse(
            "That took too long, or was started elsewhere. Add the passkey again.".into(),
        )
        .await;
    };
    let (passkey, credential_id) = match rp.finish_registration(&form.credential, &started.state) {
        Ok(done) => done,
        Err(refused) => return refuse(refused.0.to_owned()).await,
    };
    let name =
        PasskeyName::parse(&started.name).map_err(|e| UiError::Internal(anyhow::anyhow!(e)))?;
    let new = NewPasskey {
        name: name.clone(),
        credential_id,
        user_handle: started.handle,
        passkey: serde_json::to_string(&passkey).map_err(|e| UiError::Internal(e.into()))?,
    };
    let actor = user.actor.clone();
    let added = state
        .db
        .write_bookkeeping(move |conn| store::add(conn, &actor, &new, now))
        .await;
    match added {
        Ok(()) => {}
        Err(OpError::NotAllowed(message)) => return refuse(message.to_owned()).await,
        Err(e) => return Err(e.into()),
    }
    flash(&session, &format!("Passkey “{name}” added."));
    Ok(redirect("/account/two-factor"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    id: i64,
    password: String,
}

/// Removes one of the account's passkeys, after the password.
pub async fn remove(
    req: HttpRequest,
    user: SignedIn,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<RemoveForm>,
) -> Result<HttpResponse, UiError> {
    let field = "remove_password";
    match check_current(&user, &state, form.password).await? {
        CurrentPassword::Right => {}
        refused => return password_refused(&req, &user, &session, &state, field, refused).await,
    }
    let actor = user.actor.clone();
    let id = form.id;
    let removed = state
        .db
        .write_bookkeeping(move |conn| store::remove(conn, &actor, id))
        .await;
    let refused = match removed {
        Ok(name) => {
            flash(&session, &format!("Passkey “{name}” removed."));
            return Ok(redirect("/account/two-factor"));
        }
        Err(OpError::NotAllowed(message)) => message.to_owned(),
        Err(OpError::Invalid(message)) => message,
        Err(e) => return Err(e.into()),
    };
    let errors = FieldErrors::one(field, refused);
    with_errors(
        &req,
        &user,
        &session,
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        errors,
    )
    .await
}
