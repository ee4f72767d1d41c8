//! The tokens page: the table inside the page, the expiry banner and the
//! new-address notices.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::ops::tokens::{self as token_ops};
use crate::state::AppState;

use super::form::Query;
use super::token_access::TokenManager;
use super::token_table::{load_table, TableParams, TokensTable};
use super::{redirect, render, wants_partial, Chrome, SignedIn, UiError};

#[derive(Template)]
#[template(path = "tokens/page.html")]
pub struct TokensPage {
    pub chrome: Chrome,
    pub table: TokensTable,
    /// "deploy was used from 203.0.113.9 for the first time", until
    /// dismissed.
    pub notices: Vec<String>,
    /// "2 tokens expire within 7 days, 1 has expired", when either is so.
    pub expiry_banner: Option<String>,
}

/// The banner's horizon.
const EXPIRY_BANNER_DAYS: i64 = 7;

/// "2 tokens expire within 7 days, 1 has expired".
pub fn expiry_banner(soon: i64, expired: i64) -> Option<String> {
    let tokens = |n: i64| {
        if n == 1 {
            "1 token".to_owned()
        } else if n > token_ops::BANNER_COUNT_CAP {
            format!("{}+ tokens", token_ops::BANNER_COUNT_CAP)
        } else {
            format!("{n} tokens")
        }
    };
    let expired_count = |e: i64| {
        if e > token_ops::BANNER_COUNT_CAP {
            format!("{}+", token_ops::BANNER_COUNT_CAP)
        } else {
            e.to_string()
        }
    };
    match (soon, expired) {
        (0, 0) => None,
        (s, 0) => Some(format!(
            "{} expire{} within {EXPIRY_BANNER_DAYS} days",
            tokens(s),
            if s == 1 { "s" } else { "" }
        )),
        (0, e) => Some(format!(
            "{} {} expired",
            tokens(e),
            if e == 1 { "has" } else { "have" }
        )),
        (s, e) => Some(format!(
            "{} expire{} within {EXPIRY_BANNER_DAYS} days, {} {} expired",
            tokens(s),
            if s == 1 { "s" } else { "" },
            expired_count(e),
            if e == 1 { "has" } else { "have" }
        )),
    }
}

/// The session entry that remembers which notices were dismissed.
const NOTICES_SEEN: &str = "notices_seen";
/// Notices older than this are not shown.
const NOTICE_DAYS: i64 = 7;

/// The new-address notices this session has not dismissed, with the
/// newest one's id.
async fn notices(
    state: &AppState,
    user: &SignedIn,
    session: &Session,
) -> Result<(Vec<String>, i64), UiError> {
    let seen = session.get::<i64>(NOTICES_SEEN).ok().flatten().unwrap_or(0);
    let id = user.actor.account.id;
    let since = state.clock.now() - NOTICE_DAYS * 86_400;
    let found = state
        .db
        .read(move |conn| crate::ops::audit::new_address_notices(conn, id, seen, since))
        .await?;
    let newest = found.first().map_or(seen, |(id, _)| *id);
    Ok((found.into_iter().map(|(_, d)| d).collect(), newest))
}

/// Dismisses the notices shown.
pub async fn dismiss_notices(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, UiError> {
    let (_, newest) = notices(&state, &user, &session).await?;
    session
        .insert(NOTICES_SEEN, newest)
        .map_err(|e| UiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(redirect("/tokens"))
}

pub async fn page(
    TokenManager(user): TokenManager,
    session: Session,
    state: web::Data<AppState>,
    Query(params): Query<TableParams>,
) -> Result<HttpResponse, UiError> {
    let table = load_table(&state, &user, params.into()).await?;
    if wants_partial() {
        return render(StatusCode::OK, &table);
    }
    let (notices, _) = notices(&state, &user, &session).await?;
    let now = state.clock.now();
    let (soon, expired) = state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::expiry_counts(conn, actor, now, EXPIRY_BANNER_DAYS)
        })
        .await?;
    render(
        StatusCode::OK,
        &TokensPage {
            chrome: Chrome::for_user(&user, &session),
            table,
            notices,
            expiry_banner: expiry_banner(soon, expired),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::expiry_banner;

    #[test]
    fn the_expiry_banner_counts_in_words() {
        assert_eq!(expiry_banner(0, 0), None);
        assert_eq!(
            expiry_banner(2, 1).as_deref(),
            Some("2 tokens expire within 7 days, 1 has expired")
        );
        assert_eq!(
            expiry_banner(1, 0).as_deref(),
            Some("1 token expires within 7 days")
        );
        assert_eq!(
            expiry_banner(0, 3).as_deref(),
            Some("3 tokens have expired")
        );
        let past = crate::ops::tokens::BANNER_COUNT_CAP + 1;
        assert_eq!(
            expiry_banner(past, past).as_deref(),
            Some("100+ tokens expire within 7 days, 100+ have expired")
        );
    }
}
