//! What a token may be given, and which tokens an actor may act on: the
//! rules every token command checks before it changes anything.

use diesel::prelude::*;

use crate::db::schema::tokens;
use crate::db::DbConnection;
use crate::domain::privileges::PrivilegeError;
use crate::domain::{PrivilegeSet, TokenName};

use super::{Actor, OpError};

/// A token may be given only what its owner holds, and, when the actor is
/// itself a token, only what that token may do.
pub(super) fn check_grantable(
    privileges: PrivilegeSet,
    owner: &super::Account,
    actor: &Actor,
) -> Result<(), OpError> {
    if privileges.is_empty() {
        return Err(OpError::Invalid(PrivilegeError::Empty.to_string()));
    }
    let mut missing = privileges.not_permitted_by(owner.privileges);
    for p in privileges.not_permitted_by(actor.privileges) {
        if !missing.contains(&p) {
            missing.push(p);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(OpError::PrivilegesNotHeld(missing))
    }
}

/// A token may act only on tokens whose privileges its own cover: a narrow
/// token that could regenerate, widen, re-enable or rename a broader
/// sibling would take over what that sibling may do. A signed-in account
/// (and a token that follows its owner) covers every token it owns, now and
/// later. Any other token covers a sibling only when the sibling's stored
/// list is within what the token may do: a sibling that follows its owner,
/// or lists privileges the owner lacks today, may do more tomorrow (when
/// the owner is given more), so a narrower token never takes it.
pub(super) fn check_covers<'a>(
    actor: &Actor,
    targets: impl IntoIterator<Item = (&'a TokenName, PrivilegeSet)>,
) -> Result<(), OpError> {
    if actor.follows_owner {
        return Ok(());
    }
    let held = actor.privileges.expanded();
    for (name, privileges) in targets {
        if !privileges.expanded().is_subset_of(held) {
            return Err(OpError::TokenBroaderThanCaller(name.to_string()));
        }
    }
    Ok(())
}

/// The owner's tokens with these names (all of them when `None`), with
/// their privileges: what [`check_covers`] needs before a change to several
/// at once. On PostgreSQL the rows are held to the end of the transaction:
/// its transactions read what is committed at each statement, so a token
/// widened by an edit committing between this read and the change would
/// be changed by a token it no longer covers. (SQLite's writers take
/// turns already.)
fn privileges_of(
    conn: &mut DbConnection,
    owner_id: i64,
    names: Option<&[TokenName]>,
) -> Result<Vec<(TokenName, PrivilegeSet)>, OpError> {
    macro_rules! load {
        ($query:expr) => {
            match conn {
                DbConnection::Pg(c) => $query.for_update().load(c)?,
                DbConnection::Sqlite(c) => $query.load(c)?,
            }
        };
    }
    let all = tokens::table
        .filter(tokens::account_id.eq(owner_id))
        .select((tokens::name, tokens::privileges));
    Ok(match names {
        Some(names) => load!(all.filter(tokens::name.eq_any(names))),
        None => load!(all),
    })
}

/// Refuses a change to several of the owner's tokens (all of them when
/// `names` is `None`) if any is broader than the acting token.
pub(super) fn check_covers_named(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &super::Account,
    names: Option<&[TokenName]>,
) -> Result<(), OpError> {
    if actor.follows_owner {
        return Ok(());
    }
    let targets = privileges_of(conn, owner.id, names)?;
    check_covers(actor, targets.iter().map(|(n, p)| (n, *p)))
}
