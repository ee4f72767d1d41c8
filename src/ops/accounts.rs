//! Accounts: root, resellers and the plain accounts they own. Root manages
//! every account; a reseller manages only the accounts it owns.

use diesel::prelude::*;

use crate::db::models::{AccountRow, NewAccountRow};
use crate::db::schema::{accounts, login_links, sessions, tokens};
use crate::db::DbConnection;
use crate::domain::AuditEvent;
use crate::domain::Privilege;
use crate::domain::{EmailAddress, PrivilegeSet, Username};

use super::audit::{self, About};
use super::error::is_unique_violation;
use super::{Account, AccountKind, Actor, OpError};

pub const LIST_ACCOUNTS: Privilege = Privilege::LIST_ACCOUNTS;
pub const CREATE_ACCOUNT: Privilege = Privilege::CREATE_ACCOUNT;
pub const SUSPEND_ACCOUNT: Privilege = Privilege::SUSPEND_ACCOUNT;
pub const DELETE_ACCOUNT: Privilege = Privilege::KILL_ACCOUNT;
pub const MODIFY_ACCOUNT: Privilege = Privilege::EDIT_ACCOUNT;

pub fn load(conn: &mut DbConnection, id: i64) -> Result<Account, OpError> {
    accounts::table
        .find(id)
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?
        .map(Account::from)
        .ok_or_else(|| OpError::AccountNotFound(format!("#{id}")))
}

/// The account with this name and its password hash, for signing in.
pub fn find_for_sign_in(
    conn: &mut DbConnection,
    username: &Username,
) -> Result<Option<(Account, Option<String>)>, OpError> {
    let row: Option<(AccountRow, Option<String>)> = accounts::table
        .filter(accounts::username.eq(username))
        .select((AccountRow::as_select(), accounts::password_hash))
        .first(conn)
        .optional()?;
    Ok(row.map(|(account, hash)| (account.into(), hash)))
}

/// An account the actor manages: any for root, owned ones for a reseller.
/// Accounts the actor may not manage look exactly like missing ones.
pub fn find_managed(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
) -> Result<Account, OpError> {
    let mut query = accounts::table
        .filter(accounts::username.eq(username))
        .select(AccountRow::as_select())
        .into_boxed();
    if !actor.account.is_root() {
        query = query.filter(accounts::owner_id.eq(actor.id()));
    }
    query
        .first(conn)
        .optional()?
        .map(Account::from)
        .ok_or_else(|| OpError::AccountNotFound(username.to_string()))
}

/// How many tokens an account holds (kept by triggers: one row read).
pub fn token_count(conn: &mut DbConnection, account_id: i64) -> Result<i64, OpError> {
    Ok(accounts::table
        .find(account_id)
        .select(accounts::token_count)
        .first(conn)?)
}

pub struct NewAccount {
    pub username: Username,
    pub kind: AccountKind,
    /// Defaults to the actor.
    pub owner: Option<Username>,
    pub password_hash: Option<String>,
    /// For a reseller; defaults to the Initial Privileges.
    pub privileges: Option<PrivilegeSet>,
    /// Where its expiry notices go.
    pub contact_email: Option<EmailAddress>,
}

#[tracing::instrument(name = "create_account", skip_all, fields(actor = %actor.account.username))]
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    new: NewAccount,
    now: i64,
) -> Result<Account, OpError> {
    require_now(conn, actor, CREATE_ACCOUNT)?;
    if new.username.is_root() {
        return Err(OpError::UsernameTaken(new.username.to_string()));
    }
    let owner = match &new.owner {
        None => actor.account.clone(),
        Some(name) if actor.account.is_root() => {
            let owner = find_managed(conn, actor, name)?;
            if owner.kind == AccountKind::User {
                return Err(OpError::Invalid(format!(
                    "The owner “{name}” must be root or a reseller."
                )));
            }
            owner
        }
        Some(name) if *name == actor.account.username => actor.account.clone(),
        Some(_) => {
            return Err(OpError::NotAllowed(
                "Resellers can create accounts only for themselves.",
            ))
        }
    };
    let privileges = match new.kind {
        AccountKind::Root => return Err(OpError::NotAllowed("There is only one root account.")),
        AccountKind::Reseller if !actor.account.is_root() => {
            return Err(OpError::NotAllowed("Only root can create resellers."))
        }
        AccountKind::Reseller => new.privileges.unwrap_or_else(PrivilegeSet::initial),
        AccountKind::User => PrivilegeSet::empty(),
    };
    let row = NewAccountRow {
        username: &new.username,
        kind: new.kind,
        owner_id: Some(owner.id),
        password_hash: new.password_hash.as_deref(),
        privileges: &privileges.to_column(),
        suspended: false,
        created_at: now,
        contact_email: new.contact_email.as_ref(),
    };
    let created = diesel::insert_into(accounts::table)
        .values(&row)
        .returning(crate::db::columns::<AccountRow>())
        .get_result::<AccountRow>(conn)
        .map(Account::from)
        .map_err(|e| username_conflict(e, &new.username))?;
    tracing::info!(account = %created.username, kind = created.kind.as_str(), "account created");
    audit::record(
        conn,
        actor,
        AuditEvent::AccountCreated,
        About::account(&created).detail(format!("a {}", created.kind.label().to_lowercase())),
    )?;
    Ok(created)
}

fn username_conflict(e: diesel::result::Error, name: &Username) -> OpError {
    if is_unique_violation(&e) {
        OpError::UsernameTaken(name.to_string())
    } else {
        e.into()
    }
}

/// Creates `root` if the store has no root yet. Returns whether it did.
pub fn ensure_root(
    conn: &mut DbConnection,
    password_hash: &str,
    now: i64,
) -> Result<bool, OpError> {
    let exists: i64 = accounts::table
        .filter(accounts::kind.eq(AccountKind::Root))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    let root = Username::root();
    let row = NewAccountRow {
        username: &root,
        kind: AccountKind::Root,
        owner_id: None,
        password_hash: Some(password_hash),
        privileges: &PrivilegeSet::everything().to_column(),
        suspended: false,
        created_at: now,
        contact_email: None,
    };
    // Two instances starting together on an empty store both get here: the
    // second one's insert gives way.
    macro_rules! insert {
        () => {
            diesel::insert_into(accounts::table)
                .values(&row)
                .on_conflict_do_nothing()
        };
    }
    let inserted = match conn {
        DbConnection::Pg(c) => insert!().execute(c)?,
        DbConnection::Sqlite(c) => insert!().execute(c)?,
    };
    Ok(inserted == 1)
}

/// `privilege`, as the actor holds it now: the actor's own account read
/// afresh inside the transaction (a suspension, a privilege taken away or
/// a deletion that landed after the call was authenticated already
/// counts), and the actor's own set (a token's) as well.
pub(super) fn require_now(
    conn: &mut DbConnection,
    actor: &Actor,
    privilege: Privilege,
) -> Result<Account, OpError> {
    actor.require(privilege)?;
    let now = unsuspended_now(conn, actor)?;
    if !now.privileges.allows(privilege) {
        return Err(OpError::MissingPrivilege(privilege));
    }
    Ok(now)
}

/// The acting account as it is now, refused if it has been suspended.
fn unsuspended_now(conn: &mut DbConnection, actor: &Actor) -> Result<Account, OpError> {
    let now = load(conn, actor.id())?;
    if now.suspended {
        return Err(OpError::AccountSuspended(now.username.to_string()));
    }
    Ok(now)
}

fn managed_other(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
    privilege: Privilege,
) -> Result<Account, OpError> {
    require_now(conn, actor, privilege)?;
    let account = find_managed(conn, actor, username)?;
    if account.is_root() {
        return Err(OpError::NotAllowed(
            "The root account cannot be changed this way.",
        ));
    }
    if account.id == actor.id() {
        return Err(OpError::NotAllowed(
            "You cannot do this to your own account.",
        ));
    }
    Ok(account)
}

/// Renames an account. Its tokens belong to it by id, so they keep working.
#[tracing::instrument(name = "rename_account", skip_all, fields(actor = %actor.account.username, account = %username))]
pub fn rename(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
    new_name: &Username,
) -> Result<Account, OpError> {
    let account = managed_other(conn, actor, username, MODIFY_ACCOUNT)?;
    if new_name.is_root() {
        return Err(OpError::UsernameTaken(new_name.to_string()));
    }
    let renamed = diesel::update(accounts::table.find(account.id))
        .set(accounts::username.eq(new_name))
        .returning(crate::db::columns::<AccountRow>())
        .get_result::<AccountRow>(conn)
        .map(Account::from)
        .map_err(|e| username_conflict(e, new_name))?;
    tracing::info!(new_name = %renamed.username, "account renamed");
    audit::record(
        conn,
        actor,
        AuditEvent::AccountRenamed,
        About::account(&renamed).detail(format!(
            "renamed from {} to {}; its tokens keep working",
            account.username, renamed.username
        )),
    )?;
    Ok(renamed)
}

/// Sets where an account's expiry notices go (`None`: nowhere). An account
/// may set its own; root and resellers, those of the accounts they manage.
#[tracing::instrument(name = "set_contact_email", skip_all, fields(actor = %actor.account.username, account = %username))]
pub fn set_contact_email(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
    email: Option<&EmailAddress>,
) -> Result<Account, OpError> {
    // The actor as it is now, as every change reads it: a suspension or a
    // privilege taken away since the call was authenticated stops it.
    let account = if *username == actor.account.username {
        unsuspended_now(conn, actor)?
    } else {
        require_now(conn, actor, MODIFY_ACCOUNT)?;
        find_managed(conn, actor, username)?
    };
    diesel::update(accounts::table.find(account.id))
        .set(accounts::contact_email.eq(email))
        .execute(conn)?;
    tracing::info!(set = email.is_some(), "contact address set");
    audit::record(
        conn,
        actor,
        AuditEvent::ContactEmailChanged,
        About::account(&account).detail(match email {
            Some(e) => format!("notices go to {e}"),
            None => "no address: no notices by email".to_owned(),
        }),
    )?;
    Ok(account)
}

/// An account's contact address.
pub fn contact_email(
    conn: &mut DbConnection,
    account_id: i64,
) -> Result<Option<EmailAddress>, OpError> {
    Ok(accounts::table
        .find(account_id)
        .select(accounts::contact_email)
        .first(conn)?)
}

/// Sets a reseller's privileges. Their tokens follow at once, because a
/// token's effective privileges are computed from its owner's at every call.
#[tracing::instrument(name = "set_privileges", skip_all, fields(actor = %actor.account.username, account = %username))]
pub fn set_privileges(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
    privileges: PrivilegeSet,
) -> Result<Account, OpError> {
    if !actor.account.is_root() {
        return Err(OpError::NotAllowed(
            "Only root can change a reseller's privileges.",
        ));
    }
    let account = managed_other(conn, actor, username, MODIFY_ACCOUNT)?;
    if account.kind != AccountKind::Reseller {
        return Err(OpError::Invalid(format!("“{username}” is not a reseller.")));
    }
    let updated = diesel::update(accounts::table.find(account.id))
        .set(accounts::privileges.eq(privileges.to_column()))
        .returning(crate::db::columns::<AccountRow>())
        .get_result::<AccountRow>(conn)?;
    tracing::info!(privileges = privileges.len(), "reseller privileges set");
    let updated = Account::from(updated);
    audit::record(
        conn,
        actor,
        AuditEvent::PrivilegesChanged,
        About::account(&updated).detail(privileges.to_column()),
    )?;
    Ok(updated)
}

#[tracing::instrument(name = "set_suspended", skip_all, fields(actor = %actor.account.username, account = %username, suspended))]
/// Suspends or unsuspends an account. When root suspends an account that a
/// reseller owns, the suspension is locked (as WHM's `disallowun`) unless
/// `lock` says otherwise, and only root may lift it; `lock` means nothing
/// for resellers, whose suspensions are never locked.
pub fn set_suspended(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
    suspended: bool,
    lock: Option<bool>,
) -> Result<Account, OpError> {
    let account = managed_other(conn, actor, username, SUSPEND_ACCOUNT)?;
    let root = actor.account.is_root();
    const LOCKED: &str =
        "Root suspended this account and locked the suspension: only root can unsuspend it.";
    let was_locked: bool = accounts::table
        .find(account.id)
        .select(accounts::suspension_locked)
        .first(conn)?;
    if !suspended && !root && was_locked {
        return Err(OpError::NotAllowed(LOCKED));
    }
    // Root's lock is root's: a reseller suspending the account again
    // keeps it, and never sets or clears one.
    let locked = if root {
        suspended && lock.unwrap_or(account.owner_id != Some(actor.id()))
    } else {
        suspended && was_locked
    };
    // Written only if the lock is still as read: root locking it meanwhile
    // (PostgreSQL's transactions do not hold the row from the read) is not
    // undone by a reseller's change.
    let updated: Account = diesel::update(
        accounts::table
            .find(account.id)
            .filter(accounts::suspension_locked.eq(was_locked)),
    )
    .set((
        accounts::suspended.eq(suspended),
        accounts::suspension_locked.eq(locked),
    ))
    .returning(crate::db::columns::<AccountRow>())
    .get_result::<AccountRow>(conn)
    .optional()?
    .ok_or(OpError::NotAllowed(
        "The account's suspension changed while this was asked: look at it again.",
    ))?
    .into();
    if suspended {
        end_sessions(conn, account.id)?;
    }
    tracing::info!(suspended, locked, "account suspension set");
    // "Only root can unsuspend it" when root set the lock; a reseller
    // suspending again an account root locked only suspends.
    let (event, detail) = match (suspended, locked && root) {
        (true, true) => (AuditEvent::AccountSuspended, "only root can unsuspend it"),
        (true, false) => (AuditEvent::AccountSuspended, ""),
        (false, _) => (AuditEvent::AccountUnsuspended, ""),
    };
    audit::record(conn, actor, event, About::account(&updated).detail(detail))?;
    Ok(updated)
}

/// Deletes an account with its tokens and sessions; accounts it owned pass
/// to root.
#[tracing::instrument(name = "delete_account", skip_all, fields(actor = %actor.account.username, account = %username))]
pub fn delete(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &Username,
) -> Result<Account, OpError> {
    let account = managed_other(conn, actor, username, DELETE_ACCOUNT)?;
    let root_id: i64 = accounts::table
        .filter(accounts::kind.eq(AccountKind::Root))
        .select(accounts::id)
        .first(conn)?;
    diesel::update(accounts::table.filter(accounts::owner_id.eq(account.id)))
        .set(accounts::owner_id.eq(root_id))
        .execute(conn)?;
    let revoked: Vec<crate::domain::TokenName> =
        diesel::delete(tokens::table.filter(tokens::account_id.eq(account.id)))
            .returning(tokens::name)
            .get_results(conn)?;
    audit::tokens_revoked(conn, actor, &account, &revoked, "the account was deleted")?;
    diesel::delete(login_links::table.filter(login_links::account_id.eq(account.id)))
        .execute(conn)?;
    end_sessions(conn, account.id)?;
    diesel::delete(accounts::table.find(account.id)).execute(conn)?;
    tracing::info!("account deleted with its tokens");
    audit::record(
        conn,
        actor,
        AuditEvent::AccountDeleted,
        About::account(&account).detail(format!("with {} token(s)", revoked.len())),
    )?;
    Ok(account)
}

/// Sets an account's password and signs it out everywhere.
pub fn set_password(
    conn: &mut DbConnection,
    account_id: i64,
    password_hash: &str,
) -> Result<(), OpError> {
    let changed = diesel::update(accounts::table.find(account_id))
        .set(accounts::password_hash.eq(password_hash))
        .execute(conn)?;
    if changed == 0 {
        return Err(OpError::AccountNotFound(format!("#{account_id}")));
    }
    end_sessions(conn, account_id)
}

/// Ends the account's sessions, and its one-time sign-in links not used
/// yet (each would open a new one).
pub fn end_sessions(conn: &mut DbConnection, account_id: i64) -> Result<(), OpError> {
    diesel::delete(sessions::table.filter(sessions::account_id.eq(account_id))).execute(conn)?;
    diesel::delete(
        crate::db::schema::login_links::table
            .filter(crate::db::schema::login_links::account_id.eq(account_id)),
    )
    .execute(conn)?;
    Ok(())
}
