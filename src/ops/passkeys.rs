//! What the store keeps of passkeys: each account's credentials (named,
//! with webauthn-rs's record of each: public key, signature counter, backup
//! flags) and the challenges of passwordless sign-ins already answered.
//! The ceremonies themselves are [`crate::auth::passkeys`]'.

use diesel::prelude::*;

use crate::db::schema::{passkey_challenges_used, passkeys};
use crate::db::DbConnection;
use crate::domain::{AccountKind, AuditEvent, PasskeyName};

use super::audit::{self, About};
use super::{Actor, OpError};

/// Passkeys one account may hold.
pub const MAX_PER_ACCOUNT: i64 = 10;

/// A passkey as stored.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = passkeys)]
pub struct StoredPasskey {
    pub id: i64,
    pub account_id: i64,
    pub credential_id: String,
    pub user_handle: String,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The account's passkeys, oldest first.
pub fn list(conn: &mut DbConnection, account_id: i64) -> Result<Vec<StoredPasskey>, OpError> {
    Ok(passkeys::table
        .filter(passkeys::account_id.eq(account_id))
        .order(passkeys::id)
        .select(StoredPasskey::as_select())
        .load(conn)?)
}

/// How many passkeys the account has.
pub fn count(conn: &mut DbConnection, account_id: i64) -> Result<i64, OpError> {
    Ok(passkeys::table
        .filter(passkeys::account_id.eq(account_id))
        .count()
        .get_result(conn)?)
}

/// The account's WebAuthn user id, once it has a passkey.
pub fn user_handle(conn: &mut DbConnection, account_id: i64) -> Result<Option<String>, OpError> {
    Ok(passkeys::table
        .filter(passkeys::account_id.eq(account_id))
        .select(passkeys::user_handle)
        .first(conn)
        .optional()?)
}

/// The passkey with this credential id (base64url), whoever holds it.
pub fn by_credential(
    conn: &mut DbConnection,
    credential_id: &str,
) -> Result<Option<StoredPasskey>, OpError> {
    Ok(passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(StoredPasskey::as_select())
        .first(conn)
        .optional()?)
}

/// What a newly registered passkey brings.
pub struct NewPasskey {
    pub name: PasskeyName,
    pub credential_id: String,
    pub user_handle: String,
    pub passkey: String,
}

/// Adds a passkey the actor registered (at most [`MAX_PER_ACCOUNT`]; a
/// credential registered already, to anyone, is refused).
pub fn add(
    conn: &mut DbConnection,
    actor: &Actor,
    new: &NewPasskey,
    now: i64,
) -> Result<(), OpError> {
    let account_id = actor.id();
    if count(conn, account_id)? >= MAX_PER_ACCOUNT {
        return Err(OpError::NotAllowed(
            "You have ten passkeys already: remove one before adding another.",
        ));
    }
    if by_credential(conn, &new.credential_id)?.is_some() {
        return Err(OpError::NotAllowed("This passkey is registered already."));
    }
    diesel::insert_into(passkeys::table)
        .values((
            passkeys::account_id.eq(account_id),
            passkeys::credential_id.eq(&new.credential_id),
            passkeys::user_handle.eq(&new.user_handle),
            passkeys::name.eq(new.name.as_str()),
            passkeys::passkey.eq(&new.passkey),
            passkeys::created_at.eq(now),
        ))
        .execute(conn)?;
    tracing::info!(account_id, "passkey added");
    audit::record(
        conn,
        actor,
        AuditEvent::PasskeyAdded,
        About::account(&actor.account).detail(format!("“{}”", new.name)),
    )
}

/// Removes one of the actor's passkeys. A reseller whom root requires to
/// use two factors keeps at least one: the last passkey of an account
/// without an authenticator app stays.
pub fn remove(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<String, OpError> {
    let account_id = actor.id();
    super::two_factor::lock_second_factors(conn, account_id)?;
    let name: Option<String> = passkeys::table
        .filter(passkeys::id.eq(id))
        .filter(passkeys::account_id.eq(account_id))
        .select(passkeys::name)
        .first(conn)
        .optional()?;
    let Some(name) = name else {
        return Err(OpError::Invalid("You have no such passkey.".into()));
    };
    let last =
        count(conn, account_id)? == 1 && super::two_factor::secret(conn, account_id)?.is_none();
    if last
        && actor.account.kind == AccountKind::Reseller
        && super::two_factor::required_for_resellers(conn)?
    {
        return Err(OpError::NotAllowed(
            "Root requires two-factor sign-in of resellers: add another passkey or an \
             authenticator app before removing your last passkey.",
        ));
    }
    diesel::delete(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::account_id.eq(account_id)),
    )
    .execute(conn)?;
    tracing::info!(account_id, "passkey removed");
    audit::record(
        conn,
        actor,
        AuditEvent::PasskeyRemoved,
        About::account(&actor.account).detail(format!("“{name}”")),
    )?;
    Ok(name)
}

/// What a sign-in does to a stored passkey, decided on its record as stored
/// at that moment.
pub enum Use {
    /// Its counter went back: the sign-in is refused.
    Refused,
    Unchanged,
    /// A new record (a new signature counter or backup state).
    Updated(String),
}

/// Records a sign-in with the passkey. Its row is locked first, so that two
/// sign-ins at once are applied one after the other, and `decide` sees the
/// record as stored now, not as read when the ceremony began. False when
/// `decide` refused it.
pub fn record_use(
    conn: &mut DbConnection,
    id: i64,
    now: i64,
    decide: impl Fn(&str) -> Use,
) -> Result<bool, OpError> {
    // A write that changes nothing takes the row's lock (PostgreSQL) or
    // the store's (SQLite) before the read below.
    diesel::update(passkeys::table.find(id))
        .set(passkeys::last_used_at.eq(passkeys::last_used_at))
        .execute(conn)?;
    let stored: Option<String> = passkeys::table
        .find(id)
        .select(passkeys::passkey)
        .first(conn)
        .optional()?;
    let Some(stored) = stored else {
        return Ok(false);
    };
    match decide(&stored) {
        Use::Refused => return Ok(false),
        Use::Updated(passkey) => diesel::update(passkeys::table.find(id))
            .set((
                passkeys::last_used_at.eq(Some(now)),
                passkeys::passkey.eq(passkey),
            ))
            .execute(conn)?,
        Use::Unchanged => diesel::update(passkeys::table.find(id))
            .set(passkeys::last_used_at.eq(Some(now)))
            .execute(conn)?,
    };
    Ok(true)
}

/// Takes the challenge of a passwordless sign-in once: false when it was
/// answered already (a replayed answer).
pub fn take_challenge(
    conn: &mut DbConnection,
    digest: &[u8],
    expires_at: i64,
    now: i64,
) -> Result<bool, OpError> {
    diesel::delete(
        passkey_challenges_used::table.filter(passkey_challenges_used::expires_at.lt(now)),
    )
    .execute(conn)?;
    macro_rules! insert {
        () => {
            diesel::insert_into(passkey_challenges_used::table)
                .values((
                    passkey_challenges_used::digest.eq(digest),
                    passkey_challenges_used::expires_at.eq(expires_at),
                ))
                .on_conflict_do_nothing()
        };
    }
    let inserted = match conn {
        DbConnection::Pg(c) => insert!().execute(c)?,
        DbConnection::Sqlite(c) => insert!().execute(c)?,
    };
    Ok(inserted == 1)
}
