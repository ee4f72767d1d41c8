//! What the store keeps for two-factor sign-in: an account's sealed TOTP
//! secret and the last time step used, its recovery codes (digests), and
//! root's rule for resellers. Sealing and checking codes is
//! [`crate::auth::two_factor`]'s.

use diesel::prelude::*;

use crate::db::schema::{accounts, passkeys, recovery_codes, sessions, settings};
use crate::db::DbConnection;
use crate::domain::{AccountKind, AuditEvent};

use super::audit::{self, About};
use super::{Account, Actor, OpError};

const REQUIRED_FOR_RESELLERS: &str = "two_factor_required_for_resellers";

/// The sealed secret and the last step used, when two-factor is on.
pub fn secret(conn: &mut DbConnection, account_id: i64) -> Result<Option<(Vec<u8>, i64)>, OpError> {
    let row: Option<(Option<Vec<u8>>, i64)> = accounts::table
        .find(account_id)
        .select((accounts::totp_secret, accounts::totp_last_step))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(sealed, step)| sealed.map(|s| (s, step))))
}

/// Turns two-factor on with this sealed secret, the step of the code that
/// confirmed it, and these recovery code digests (replacing any). False,
/// and nothing changed, when it is on already: of two confirmations sent
/// at once (a double click), the first wins, and the codes shown are
/// always the ones stored.
pub fn enable(
    conn: &mut DbConnection,
    actor: &Actor,
    sealed: &[u8],
    step: i64,
    recovery: &[Vec<u8>],
) -> Result<bool, OpError> {
    let account_id = actor.id();
    let turned_on = diesel::update(
        accounts::table
            .find(account_id)
            .filter(accounts::totp_secret.is_null()),
    )
    .set((
        accounts::totp_secret.eq(Some(sealed)),
        accounts::totp_last_step.eq(step),
    ))
    .execute(conn)?;
    if turned_on == 0 {
        return Ok(false);
    }
    store_recovery_codes(conn, account_id, recovery)?;
    tracing::info!(account_id, "two-factor sign-in turned on");
    audit::record(
        conn,
        actor,
        AuditEvent::TwoFactorOn,
        About::account(&actor.account).detail("with ten recovery codes"),
    )?;
    Ok(true)
}

/// Takes the lock on the account's second factors for the rest of the
/// transaction: a write that changes nothing locks its row (PostgreSQL) or
/// the store (SQLite), so that removing the last passkey and turning the
/// app off at once cannot both see the other factor still there.
pub fn lock_second_factors(conn: &mut DbConnection, account_id: i64) -> Result<(), OpError> {
    diesel::update(accounts::table.find(account_id))
        .set(accounts::totp_last_step.eq(accounts::totp_last_step))
        .execute(conn)?;
    Ok(())
}

/// Turns two-factor off (the account's own choice) and forgets the
/// recovery codes; not for a reseller root requires two factors of, unless
/// a passkey remains.
pub fn disable(conn: &mut DbConnection, actor: &Actor) -> Result<(), OpError> {
    lock_second_factors(conn, actor.id())?;
    let passkeys: i64 = accounts::table
        .find(actor.id())
        .select(accounts::passkey_count)
        .first(conn)?;
    if passkeys == 0 && actor.account.kind == AccountKind::Reseller && required_for_resellers(conn)?
    {
        return Err(OpError::NotAllowed(
            "Root requires two-factor sign-in of resellers: it cannot be turned off.",
        ));
    }
    turn_off(conn, actor.id())?;
    audit::record(
        conn,
        actor,
        AuditEvent::TwoFactorOff,
        About::account(&actor.account),
    )
}

fn turn_off(conn: &mut DbConnection, account_id: i64) -> Result<(), OpError> {
    diesel::update(accounts::table.find(account_id))
        .set((
            accounts::totp_secret.eq(None::<Vec<u8>>),
            accounts::totp_last_step.eq(0),
        ))
        .execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::account_id.eq(account_id)))
        .execute(conn)?;
    tracing::info!(account_id, "two-factor sign-in turned off");
    Ok(())
}

/// For an account locked out of its authenticator (the
/// `reset-two-factor` command): two-factor off, its passkeys forgotten
/// and every session ended.
pub fn reset(conn: &mut DbConnection, account: &Account, now: i64) -> Result<(), OpError> {
    turn_off(conn, account.id)?;
    let passkeys = diesel::delete(passkeys::table.filter(passkeys::account_id.eq(account.id)))
        .execute(conn)?;
    diesel::delete(sessions::table.filter(sessions::account_id.eq(account.id))).execute(conn)?;
    audit::record_system(
        conn,
        now,
        AuditEvent::TwoFactorReset,
        About::account(account).detail(format!(
            "reset from the command line ({passkeys} passkey(s) removed); every session ended"
        )),
    )
}

/// Records that the code of `step` was used: true only for the first use
/// of a step later than the last (two requests with one code: one wins).
pub fn use_step(conn: &mut DbConnection, account_id: i64, step: i64) -> Result<bool, OpError> {
    let updated = diesel::update(
        accounts::table
            .find(account_id)
            .filter(accounts::totp_last_step.lt(step)),
    )
    .set(accounts::totp_last_step.eq(step))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Uses up a recovery code: true when it was one of the account's.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    account_id: i64,
    digest: &[u8],
) -> Result<bool, OpError> {
    let deleted = diesel::delete(
        recovery_codes::table
            .filter(recovery_codes::account_id.eq(account_id))
            .filter(recovery_codes::digest.eq(digest)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

/// The digests of the account's recovery codes, in a fixed order: what a
/// request saw, to replace only that set ([`replace_recovery_codes`]).
pub fn recovery_code_set(
    conn: &mut DbConnection,
    account_id: i64,
) -> Result<Vec<Vec<u8>>, OpError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::account_id.eq(account_id))
        .select(recovery_codes::digest)
        .order(recovery_codes::digest)
        .load(conn)?)
}

/// New recovery codes for the actor (the old ones stop working), if its
/// codes are still the set `seen` (see [`recovery_code_set`]): of two
/// requests at once (a double click), the later finds the set replaced,
/// changes nothing and says false, so that no page shows codes that were
/// replaced before they were shown.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    actor: &Actor,
    seen: &[Vec<u8>],
    digests: &[Vec<u8>],
) -> Result<bool, OpError> {
    lock_second_factors(conn, actor.id())?;
    if recovery_code_set(conn, actor.id())? != seen {
        return Ok(false);
    }
    store_recovery_codes(conn, actor.id(), digests)?;
    audit::record(
        conn,
        actor,
        AuditEvent::RecoveryCodesNew,
        About::account(&actor.account).detail("the old ones stopped working"),
    )?;
    Ok(true)
}

fn store_recovery_codes(
    conn: &mut DbConnection,
    account_id: i64,
    digests: &[Vec<u8>],
) -> Result<(), OpError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::account_id.eq(account_id)))
        .execute(conn)?;
    // One row at a time: the two-backend connection has no batch insert
    // (and there are ten).
    for digest in digests {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::account_id.eq(account_id),
                recovery_codes::digest.eq(digest),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn recovery_codes_left(conn: &mut DbConnection, account_id: i64) -> Result<i64, OpError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::account_id.eq(account_id))
        .count()
        .get_result(conn)?)
}

/// Whether root requires two-factor sign-in of every reseller.
pub fn required_for_resellers(conn: &mut DbConnection) -> Result<bool, OpError> {
    let value: Option<String> = settings::table
        .find(REQUIRED_FOR_RESELLERS)
        .select(settings::value)
        .first(conn)
        .optional()?;
    Ok(value.as_deref() == Some("1"))
}

/// Root's rule: whether resellers must use two-factor sign-in.
pub fn set_required_for_resellers(
    conn: &mut DbConnection,
    actor: &super::Actor,
    required: bool,
) -> Result<(), OpError> {
    if !actor.account.is_root() {
        return Err(OpError::NotAllowed(
            "Only root can require two-factor sign-in.",
        ));
    }
    diesel::delete(settings::table.find(REQUIRED_FOR_RESELLERS)).execute(conn)?;
    diesel::insert_into(settings::table)
        .values((
            settings::name.eq(REQUIRED_FOR_RESELLERS),
            settings::value.eq(if required { "1" } else { "0" }),
        ))
        .execute(conn)?;
    tracing::info!(required, "two-factor requirement for resellers set");
    audit::record(
        conn,
        actor,
        AuditEvent::TwoFactorRequired,
        About::default().detail(if required {
            "resellers must sign in with two factors"
        } else {
            "resellers may sign in without a second factor"
        }),
    )
}
