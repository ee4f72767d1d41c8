//! The confirmations the tokens page asks before it acts, as pages or
//! dialogs, naming exactly what will change.
//!
//! Each confirmation is one `Confirmation` filled in for its route; their
//! likeness is the point (one dialog, worded per action), so they stay
//! apart rather than being generated.

use actix_session::Session;
use actix_web::{web, HttpResponse};

use crate::ops::accounts as account_ops;
use crate::ops::tokens::{self as token_ops};
use crate::state::AppState;

use super::confirm::{self, Confirmation};
use super::form::Query;
use super::token_access::{load, name_in_path, TokenManager};
use super::token_actions::{Selection, NOTHING_SELECTED};
use super::token_table::plural;
use super::{SignedIn, UiError};

/// Disable Selected's confirmation, naming every selected token that exists.
pub async fn disable_selected_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(selection): Query<Selection>,
) -> Result<HttpResponse, UiError> {
    confirm_selected(
        &user,
        &session,
        &state,
        selection,
        SelectedAction {
            question: "Are you sure that you want to disable",
            nothing_selected: "Select at least one token to disable.",
            title: "Disable Selected Tokens",
            consequence:
                "Calls with them are refused until they are enabled; they keep their settings.",
            action: "/tokens/disable",
        },
    )
    .await
}

/// What a confirmation of selected tokens asks for.
struct SelectedAction {
    question: &'static str,
    /// The refusal when none of the selected tokens exists.
    nothing_selected: &'static str,
    title: &'static str,
    consequence: &'static str,
    action: &'static str,
}

/// The confirmation of an action on the selected tokens, naming every one
/// that exists; nothing selected is refused.
async fn confirm_selected(
    user: &SignedIn,
    session: &Session,
    state: &AppState,
    selection: Selection,
    what: SelectedAction,
) -> Result<HttpResponse, UiError> {
    let names = selection.names();
    let found = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::existing(conn, actor, &names)
        })
        .await?;
    if found.is_empty() {
        return Err(UiError::Refused(what.nothing_selected.to_owned()));
    }
    let listed: Vec<String> = found.iter().map(|n| format!("“{n}”")).collect();
    confirm::respond(
        user,
        session,
        &Confirmation {
            title: what.title.to_owned(),
            question: what.question,
            what: format!(
                "{} selected token{}: {}",
                found.len(),
                plural(found.len()),
                listed.join(", ")
            ),
            consequence: what.consequence.to_owned(),
            action: what.action.to_owned(),
            hidden: found.iter().map(|n| ("names", n.to_string())).collect(),
            back: "/tokens",
            swaps: Some("#tokens-table"),
        },
    )
}

/// Regenerate's confirmation: scripts using the old secret will stop.
pub async fn regenerate_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let target = name_in_path(&name)?;
    let fingerprint = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::secret_fingerprint(conn, actor, &target)
        })
        .await?;
    let token = load(&state, &user, &name).await?;
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Regenerate API Token".to_owned(),
            question: "Are you sure that you want a new secret for",
            what: format!("the token “{}”", token.name),
            consequence: "Its name, privileges, IP list and expiry stay; scripts using the old secret will stop working at once.".to_owned(),
            action: format!("/tokens/{}/regenerate", token.name),
            hidden: vec![("secret", fingerprint)],
            back: "/tokens",
            // The new secret is a page of its own.
            swaps: None,
        },
    )
}

/// Revoke's confirmation, naming the token.
pub async fn revoke_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let token = load(&state, &user, &name).await?;
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Revoke API Token".to_owned(),
            question: "Are you sure that you want to revoke",
            what: format!("the token “{}”", token.name),
            consequence: "Scripts that use it will stop working at once.".to_owned(),
            action: format!("/tokens/{}/revoke", token.name),
            hidden: Vec::new(),
            back: "/tokens",
            swaps: Some("#tokens-table"),
        },
    )
}

/// Revoke Selected's confirmation, naming every selected token that exists.
pub async fn revoke_selected_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(selection): Query<Selection>,
) -> Result<HttpResponse, UiError> {
    confirm_selected(
        &user,
        &session,
        &state,
        selection,
        SelectedAction {
            question: "Are you sure that you want to revoke",
            nothing_selected: NOTHING_SELECTED,
            title: "Revoke Selected Tokens",
            consequence: "Scripts that use them will stop working at once.",
            action: "/tokens/revoke",
        },
    )
    .await
}

/// Revoke All's confirmation, with how many tokens that is.
pub async fn revoke_all_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let (count, upto) = state
        .read_as(&user.actor, |conn, actor| {
            Ok::<_, crate::ops::OpError>((
                account_ops::token_count(conn, actor.id())?,
                crate::ops::tokens::newest_id(conn, actor.id())?,
            ))
        })
        .await?;
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Revoke All API Tokens".to_owned(),
            question: "Are you sure that you want to revoke",
            what: "all of your tokens".to_owned(),
            consequence: format!(
                "That is {count} token{}; every script that uses one will stop working at once.",
                plural(count as usize)
            ),
            action: "/tokens/revoke-all".to_owned(),
            // Continue revokes what was counted: not a token made since.
            hidden: vec![("upto", upto.to_string())],
            back: "/tokens",
            swaps: Some("#tokens-table"),
        },
    )
}
