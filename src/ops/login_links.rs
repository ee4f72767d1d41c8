//! One-time sign-in links (`create_user_session`): a random secret whose
//! digest is stored for a few minutes and consumed on first use.

use diesel::prelude::*;

use crate::db::models::NewLoginLink;
use crate::db::schema::login_links;
use crate::db::DbConnection;
use crate::domain::Privilege;
use crate::domain::TokenSecret;

use super::{accounts, Account, Actor, OpError};

pub const CREATE_USER_SESSION: Privilege = Privilege::CREATE_USER_SESSION;
pub const LINK_LIFETIME_SECS: i64 = 300;

/// Makes a link for the actor's own account.
pub fn create(conn: &mut DbConnection, actor: &Actor, now: i64) -> Result<TokenSecret, OpError> {
    actor.require(CREATE_USER_SESSION)?;
    // A session holds every privilege of the account: a token narrower
    // than its owner must not open one (it could then make a broader
    // token, or anything else the account may).
    if !actor.follows_owner {
        return Err(OpError::NotAllowed(
            "Only a full-access token (privileges: all) can create a session: a session has every privilege of the account.",
        ));
    }
    diesel::delete(login_links::table.filter(login_links::expires_at.le(now))).execute(conn)?;
    let secret = TokenSecret::generate();
    diesel::insert_into(login_links::table)
        .values(&NewLoginLink {
            digest: &secret.digest(),
            account_id: actor.id(),
            expires_at: now + LINK_LIFETIME_SECS,
        })
        .execute(conn)?;
    Ok(secret)
}

/// The account a live link would sign in, without using the link.
pub fn peek(
    conn: &mut DbConnection,
    secret: &TokenSecret,
    now: i64,
) -> Result<Option<Account>, OpError> {
    let account_id: Option<i64> = login_links::table
        .filter(login_links::digest.eq(secret.digest()))
        .filter(login_links::expires_at.gt(now))
        .select(login_links::account_id)
        .first(conn)
        .optional()?;
    account_id.map(|id| accounts::load(conn, id)).transpose()
}

/// Consumes a link: the account it signs in, if the link is live and the
/// account is not suspended. A link works once: the one statement that
/// deletes it is the one that may use it, however many ask at once.
pub fn consume(
    conn: &mut DbConnection,
    secret: &TokenSecret,
    now: i64,
) -> Result<Option<Account>, OpError> {
    let consumed: Option<(i64, i64)> =
        diesel::delete(login_links::table.filter(login_links::digest.eq(secret.digest())))
            .returning((login_links::account_id, login_links::expires_at))
            .get_result(conn)
            .optional()?;
    match consumed {
        Some((account_id, expires_at)) if expires_at > now => {
            let account = accounts::load(conn, account_id)?;
            Ok((!account.suspended).then_some(account))
        }
        _ => Ok(None),
    }
}
