//! Every account's tokens (`/tokens/all`): root sees them all and may
//! revoke any, with confirmation (recorded as done by root); a reseller
//! sees those of the accounts it owns, read-only. The same table as the
//! tokens page, with an Owner column.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::state::AppState;

use super::confirm::{self, Confirmation};
use super::form::{Form, Query};
use super::token_access::TokenManager;
use super::token_table::{plural, TableParams, TableQuery, TokensTable};
use super::{
    flash, redirect, render, render_parts, wants_partial, Chrome, SignedIn, Toast, UiError,
};

#[derive(Template)]
#[template(path = "tokens/all.html")]
struct AllTokensPage {
    chrome: Chrome,
    table: TokensTable,
}

async fn load(
    state: &AppState,
    user: &SignedIn,
    mut query: TableQuery,
) -> Result<TokensTable, UiError> {
    query.base = "/tokens/all";
    let owner = (!query.owner.is_empty()).then(|| query.owner.clone());
    let list = query.list.clone();
    let kept = state.token_names.clone();
    let (page, owners) = state
        .read_as(&user.actor, move |conn, actor| {
            crate::ops::token_listing::list_every(conn, actor, &list, owner.as_deref(), &kept)
        })
        .await?;
    Ok(TokensTable::of(state, user, query, page, Some(&owners)))
}

pub async fn page(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(params): Query<TableParams>,
) -> Result<HttpResponse, UiError> {
    let table = load(&state, &user, params.into()).await?;
    if wants_partial() {
        return render(StatusCode::OK, &table);
    }
    render(
        StatusCode::OK,
        &AllTokensPage {
            chrome: Chrome::for_user(&user, &session),
            table,
        },
    )
}

/// Tokens named by id, as forms and links send them.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Ids {
    ids: Vec<String>,
}

impl Ids {
    fn parsed(&self) -> Vec<i64> {
        self.ids
            .iter()
            .filter_map(|i| i.trim().parse().ok())
            .take(500)
            .collect()
    }
}

const ROOT_ONLY: &str = "Only root can revoke other accounts' tokens.";

/// The confirmation, naming each token with its owner.
pub async fn revoke_confirm(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(ids): Query<Ids>,
) -> Result<HttpResponse, UiError> {
    user.root_only(ROOT_ONLY)?;
    let ids = ids.parsed();
    let found = state
        .read_as(&user.actor, move |conn, actor| {
            crate::ops::all_tokens::named_with_owners(conn, actor, &ids)
        })
        .await?;
    if found.is_empty() {
        return Err(UiError::Refused(
            "Select at least one token to revoke.".into(),
        ));
    }
    let listed: Vec<String> = found
        .iter()
        .map(|(_, n, o)| format!("“{n}” of {o}"))
        .collect();
    confirm::respond(
        &user,
        &session,
        &Confirmation {
            title: "Revoke API Tokens".to_owned(),
            question: "Are you sure that you want to revoke",
            what: format!(
                "{} token{}: {}",
                found.len(),
                plural(found.len()),
                listed.join(", ")
            ),
            consequence: "Their owners' scripts that use them will stop working at once."
                .to_owned(),
            action: "/tokens/all/revoke".to_owned(),
            hidden: found
                .iter()
                .map(|(id, _, _)| ("ids", id.to_string()))
                .collect(),
            back: "/tokens/all",
            swaps: Some("#tokens-table"),
        },
    )
}

pub async fn revoke(
    req: HttpRequest,
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Form(ids): Form<Ids>,
) -> Result<HttpResponse, UiError> {
    user.root_only(ROOT_ONLY)?;
    let ids = ids.parsed();
    let revoked = state
        .write_as(&user.actor, move |conn, actor| {
            crate::ops::all_tokens::revoke_any(conn, actor, &ids)
        })
        .await?;
    let message = format!("{revoked} token{} revoked.", plural(revoked));
    if !wants_partial() {
        flash(&session, &message);
        return Ok(redirect("/tokens/all"));
    }
    let table = load(&state, &user, TableQuery::of_current_url(&req)).await?;
    render_parts(&[&table, &Toast::oob(&message)])
}
