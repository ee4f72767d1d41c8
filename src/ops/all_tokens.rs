//! Root's actions on every account's tokens (`/tokens/all`): the tokens a
//! confirmation names, and revoking them, each recorded under its owner.

use diesel::prelude::*;

use crate::db::schema::{accounts as account_rows, tokens};
use crate::db::DbConnection;
use crate::domain::{TokenName, Username};

use super::{accounts, audit, Actor, OpError};

/// Revokes tokens by id as root (`/tokens/all`), recording each under its
/// owner. Returns how many went.
pub fn revoke_any(conn: &mut DbConnection, actor: &Actor, ids: &[i64]) -> Result<usize, OpError> {
    if !actor.account.is_root() {
        return Err(OpError::NotAllowed(
            "Only root can revoke other accounts' tokens.",
        ));
    }
    let gone: Vec<(TokenName, i64)> = diesel::delete(tokens::table.filter(tokens::id.eq_any(ids)))
        .returning((tokens::name, tokens::account_id))
        .get_results(conn)?;
    for (name, owner_id) in &gone {
        let owner = accounts::load(conn, *owner_id)?;
        audit::tokens_revoked(
            conn,
            actor,
            &owner,
            std::slice::from_ref(name),
            "revoked by root from every account's tokens",
        )?;
    }
    Ok(gone.len())
}

/// Tokens by id with their owners' names, as root is asked to confirm
/// revoking them from every account's tokens (`/tokens/all`): by owner,
/// then name.
pub fn named_with_owners(
    conn: &mut DbConnection,
    actor: &Actor,
    ids: &[i64],
) -> Result<Vec<(i64, TokenName, Username)>, OpError> {
    if !actor.account.is_root() {
        return Err(OpError::NotAllowed(
            "Only root can revoke other accounts' tokens.",
        ));
    }
    Ok(tokens::table
        .inner_join(account_rows::table)
        .filter(tokens::id.eq_any(ids))
        .select((tokens::id, tokens::name, account_rows::username))
        .order((account_rows::username.asc(), tokens::name.asc()))
        .load(conn)?)
}
