//! Generate Token and Edit: one form, parsed into domain types once, with a
//! message per field when something is wrong (422, input kept).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Months;

use crate::domain::{Expiry, IpAllowList, PrivilegeSet, ServerClock, TokenName};
use crate::ops::tokens::{self as token_ops, NewToken, Token, TokenChanges};
use crate::ops::OpError;
use crate::state::AppState;
use crate::web::params::Params;

use super::privileges_form::{self, CategoryView};
use super::tokens::{name_in_path, TokenManager};
use super::{flash, redirect, render, Chrome, SignedIn, UiError};

#[derive(Default)]
pub struct FieldErrors {
    pub name: Option<String>,
    pub expires: Option<String>,
    pub ips: Option<String>,
    pub privileges: Option<String>,
    pub general: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        self.name.is_some()
            || self.expires.is_some()
            || self.ips.is_some()
            || self.privileges.is_some()
    }
}

#[derive(Template)]
#[template(path = "tokens/form.html")]
pub struct TokenFormPage {
    pub chrome: Chrome,
    /// `Some(original name)` when editing.
    pub editing: Option<String>,
    pub name: String,
    pub expires_mode: String,
    pub expires_on: String,
    pub min_date: String,
    pub ips: String,
    pub categories: Vec<CategoryView>,
    pub errors: FieldErrors,
}

impl TokenFormPage {
    pub fn action(&self) -> String {
        match &self.editing {
            Some(name) => format!("/tokens/{name}/edit"),
            None => "/tokens/new".to_owned(),
        }
    }

    pub fn never(&self) -> bool {
        self.expires_mode != "date"
    }
}

#[derive(Template)]
#[template(path = "tokens/created.html")]
struct CreatedPage {
    chrome: Chrome,
    name: String,
    secret: String,
    expires: String,
}

fn one_year_ahead(clock: &ServerClock) -> String {
    let today = clock.today();
    today
        .checked_add_months(Months::new(12))
        .unwrap_or(today)
        .format("%Y-%m-%d")
        .to_string()
}

/// What the form parses into.
struct Parsed {
    name: TokenName,
    expiry: Expiry,
    ips: IpAllowList,
    privileges: PrivilegeSet,
}

/// Parses the submitted form. `keep` is the stored expiry when editing: a
/// date left as it was keeps that expiry even if it has passed.
fn parse(
    form: &Params,
    clock: &ServerClock,
    now: i64,
    keep: Option<Expiry>,
) -> Result<Parsed, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = TokenName::parse(form.get("name").unwrap_or_default())
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let expiry = match form.get("expires") {
        Some("date") => {
            let raw = form.get("expires_on").unwrap_or_default().trim();
            match keep {
                Some(current @ Expiry::At(t)) if clock.date_of(t) == raw => Some(current),
                _ => Expiry::parse_date(raw, clock, now)
                    .map_err(|e| errors.expires = Some(e.to_string()))
                    .ok(),
            }
        }
        _ => Some(Expiry::Never),
    };
    let ips = IpAllowList::parse(form.get("ips").unwrap_or_default())
        .map_err(|e| errors.ips = Some(e.to_string()))
        .ok();
    let privileges = match privileges_form::parse(form) {
        Ok(Some(set)) => Some(set),
        Ok(None) => {
            errors.privileges = Some("Select at least one privilege.".into());
            None
        }
        Err(e) => {
            errors.privileges = Some(e);
            None
        }
    };
    match (name, expiry, ips, privileges) {
        (Some(name), Some(expiry), Some(ips), Some(privileges)) if !errors.any() => Ok(Parsed {
            name,
            expiry,
            ips,
            privileges,
        }),
        _ => Err(errors),
    }
}

/// The form again, around what the user sent, with the messages.
fn resubmitted(
    chrome: Chrome,
    editing: Option<String>,
    form: &Params,
    user: &SignedIn,
    clock: &ServerClock,
    errors: FieldErrors,
) -> TokenFormPage {
    TokenFormPage {
        chrome,
        editing,
        name: form.get("name").unwrap_or_default().to_owned(),
        expires_mode: form.get("expires").unwrap_or("never").to_owned(),
        expires_on: form.get("expires_on").unwrap_or_default().to_owned(),
        min_date: clock.today().format("%Y-%m-%d").to_string(),
        ips: form.get("ips").unwrap_or_default().to_owned(),
        categories: privileges_form::grouped(
            user.actor.privileges,
            privileges_form::resubmitted(form),
        ),
        errors,
    }
}

/// Where an operation's refusal belongs on the form.
fn place(e: OpError) -> Result<FieldErrors, UiError> {
    let mut errors = FieldErrors::default();
    match e {
        OpError::TokenNameTaken(_) => errors.name = Some(e.to_string()),
        OpError::PrivilegesNotHeld(_) | OpError::Invalid(_) => {
            errors.privileges = Some(e.to_string())
        }
        OpError::AccountSuspended(_) | OpError::NothingToChange => {
            errors.general = Some(e.to_string())
        }
        other => return Err(other.into()),
    }
    Ok(errors)
}

pub async fn new_form(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let page = TokenFormPage {
        chrome: Chrome::for_user(&user, &session)?,
        editing: None,
        name: String::new(),
        expires_mode: "never".into(),
        expires_on: one_year_ahead(&state.clock),
        min_date: state.clock.today().format("%Y-%m-%d").to_string(),
        ips: String::new(),
        categories: privileges_form::grouped(user.actor.privileges, user.actor.privileges),
        errors: FieldErrors::default(),
    };
    render(StatusCode::OK, &page)
}

pub async fn create(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let form = Params::parse("", Some(&body));
    let now = state.clock.now();
    let invalid = |errors| -> Result<HttpResponse, UiError> {
        let page = resubmitted(
            Chrome::for_user(&user, &session)?,
            None,
            &form,
            &user,
            &state.clock,
            errors,
        );
        render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let parsed = match parse(&form, &state.clock, now, None) {
        Ok(p) => p,
        Err(errors) => return invalid(errors),
    };
    let actor = user.actor.clone();
    let new = NewToken {
        name: parsed.name,
        expiry: parsed.expiry,
        ips: parsed.ips,
        privileges: Some(parsed.privileges),
    };
    let created = match state
        .db
        .write(move |conn| token_ops::create(conn, &actor, new, now))
        .await
    {
        Ok(c) => c,
        Err(e) => return invalid(place(e)?),
    };
    tracing::info!(user = %user.actor.account.username, token = %created.token.name, "token generated");
    let page = CreatedPage {
        chrome: Chrome::for_user(&user, &session)?,
        name: created.token.name.clone(),
        secret: created.secret.expose().to_owned(),
        expires: match created.token.expiry {
            Expiry::Never => "Never".into(),
            Expiry::At(t) => state.clock.format(t),
        },
    };
    // `render` marks the answer no-store: the secret is never cached.
    render(StatusCode::OK, &page)
}

async fn load(state: &AppState, user: &SignedIn, name: &str) -> Result<Token, UiError> {
    let name = name_in_path(name)?;
    let actor = user.actor.clone();
    Ok(state
        .db
        .read(move |conn| token_ops::get(conn, &actor, &name))
        .await?)
}

pub async fn edit_form(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let token = load(&state, &user, &name).await?;
    let (expires_mode, expires_on) = match token.expiry {
        Expiry::Never => ("never", one_year_ahead(&state.clock)),
        Expiry::At(t) => ("date", state.clock.date_of(t)),
    };
    let page = TokenFormPage {
        chrome: Chrome::for_user(&user, &session)?,
        editing: Some(token.name.clone()),
        name: token.name.clone(),
        expires_mode: expires_mode.into(),
        expires_on,
        min_date: state.clock.today().format("%Y-%m-%d").to_string(),
        ips: token.ips.entries().join("\n"),
        categories: privileges_form::grouped(user.actor.privileges, token.privileges),
        errors: FieldErrors::default(),
    };
    render(StatusCode::OK, &page)
}

pub async fn update(
    _req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let current = load(&state, &user, &name).await?;
    let form = Params::parse("", Some(&body));
    let now = state.clock.now();
    let invalid = |errors| -> Result<HttpResponse, UiError> {
        let page = resubmitted(
            Chrome::for_user(&user, &session)?,
            Some(current.name.clone()),
            &form,
            &user,
            &state.clock,
            errors,
        );
        render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let parsed = match parse(&form, &state.clock, now, Some(current.expiry)) {
        Ok(p) => p,
        Err(errors) => return invalid(errors),
    };
    let actor = user.actor.clone();
    let original =
        TokenName::parse(&current.name).map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    let changes = TokenChanges {
        new_name: Some(parsed.name),
        expiry: Some(parsed.expiry),
        ips: Some(parsed.ips),
        privileges: Some(parsed.privileges),
    };
    let saved = match state
        .db
        .write(move |conn| token_ops::update(conn, &actor, &original, changes))
        .await
    {
        Ok(t) => t,
        Err(e) => return invalid(place(e)?),
    };
    flash(&session, &format!("The token “{}” was saved.", saved.name));
    Ok(redirect("/tokens"))
}
