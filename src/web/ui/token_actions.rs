//! What the tokens page does to tokens: Revoke, Revoke Selected, Revoke
//! All, Disable and Enable, Disable Selected.
//!
//! The handlers share a shape (read the selection, run one operation, say
//! what happened through `after_change`) and are kept one per route, not
//! folded into one generic handler, so that each route's input, operation
//! and message read in one place.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::TokenName;
use crate::ops::tokens::{self as token_ops};
use crate::ops::OpError;
use crate::state::AppState;

use super::form::Form;
use super::token_access::{name_in_path, TokenManager};
use super::token_table::{load_table, plural, TableQuery};
use super::{flash, redirect, render_parts, wants_partial, SignedIn, Toast, UiError};

/// After a revoke: for htmx, the refreshed table and a toast (the dialog
/// that asked closes itself); for a plain form, a redirect with a flash
/// message.
/// The verb of `/tokens/{name}/enable` and `…/disable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    Enable,
    Disable,
}

pub(super) async fn after_change(
    req: &HttpRequest,
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    message: &str,
) -> Result<HttpResponse, UiError> {
    if !wants_partial() {
        flash(session, message);
        return Ok(redirect("/tokens"));
    }
    let table = load_table(state, user, TableQuery::of_current_url(req)).await?;
    render_parts(&[&table, &Toast::oob(message)])
}

/// The names a request gives, as token names; a name that cannot be valid
/// names no token.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Selection {
    names: Vec<String>,
}

impl Selection {
    pub(super) fn names(&self) -> Vec<TokenName> {
        self.names
            .iter()
            .filter_map(|n| TokenName::parse(n).ok())
            .collect()
    }
}

pub(super) const NOTHING_SELECTED: &str = "Select at least one token to revoke.";

pub async fn revoke_one(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let name = name_in_path(&name)?;
    let target = name.clone();
    let revoked = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::revoke(conn, actor, &[target])
        })
        .await?;
    if revoked == 0 {
        return Err(OpError::TokenNotFound(name.to_string()).into());
    }
    let message = format!("The token “{name}” was revoked.");
    after_change(&req, &user, &session, &state, &message).await
}

pub async fn revoke_selected(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(selection): Form<Selection>,
) -> Result<HttpResponse, UiError> {
    let names = selection.names();
    if names.is_empty() {
        return Err(UiError::Refused(NOTHING_SELECTED.into()));
    }
    let revoked = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::revoke(conn, actor, &names)
        })
        .await?;
    let message = format!("{revoked} token{} revoked.", plural(revoked));
    after_change(&req, &user, &session, &state, &message).await
}

/// What Revoke All's Continue posts: the newest token id it counted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevokeAllForm {
    upto: Option<i64>,
}

pub async fn revoke_all(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(form): Form<RevokeAllForm>,
) -> Result<HttpResponse, UiError> {
    let (revoked, kept) = state
        .write_as(&user.actor, move |conn, actor| {
            let revoked = token_ops::revoke_all(conn, actor, form.upto)?;
            let kept = crate::ops::accounts::token_count(conn, actor.id())?;
            Ok::<_, OpError>((revoked, kept))
        })
        .await?;
    let message = match kept {
        0 => format!("All of your tokens were revoked ({revoked})."),
        kept => format!(
            "The {revoked} token{} you confirmed {} revoked; {kept} made since {} kept.",
            plural(revoked),
            if revoked == 1 { "was" } else { "were" },
            if kept == 1 { "was" } else { "were" },
        ),
    };
    after_change(&req, &user, &session, &state, &message).await
}

/// Disable or Enable (`/tokens/{name}/disable`, `…/enable`): the token is
/// refused while disabled and keeps every setting.
pub async fn set_enabled(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, Switch)>,
) -> Result<HttpResponse, UiError> {
    let (raw, switch) = path.into_inner();
    let name = name_in_path(&raw)?;
    let enabled = switch == Switch::Enable;
    let changes = token_ops::TokenChanges {
        enabled: Some(enabled),
        ..Default::default()
    };
    let target = name.clone();
    state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::update(conn, actor, &target, changes)
        })
        .await?;
    let message = if enabled {
        format!("The token “{name}” was enabled: it works again.")
    } else {
        format!("The token “{name}” was disabled: calls with it are refused until it is enabled.")
    };
    after_change(&req, &user, &session, &state, &message).await
}

pub async fn disable_selected(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(selection): Form<Selection>,
) -> Result<HttpResponse, UiError> {
    let names = selection.names();
    if names.is_empty() {
        return Err(UiError::Refused(
            "Select at least one token to disable.".into(),
        ));
    }
    let changed = state
        .write_as(&user.actor, move |conn, actor| {
            token_ops::set_enabled(conn, actor, &names, false)
        })
        .await?;
    let message = format!("{} token{} disabled.", changed.len(), plural(changed.len()));
    after_change(&req, &user, &session, &state, &message).await
}
