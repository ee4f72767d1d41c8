//! Root's token policy as stored: everyone's (root's row) and resellers'
//! overrides, read into every token check (with the token's owner, once
//! per cached check) and set by root alone. The rules themselves are in
//! [`crate::domain::token_policy`].

use diesel::prelude::*;

use crate::db::schema::{accounts, token_policies, tokens};
use crate::db::DbConnection;
use crate::domain::token_policy::{PolicyOverride, TokenPolicy, DAY, MAX_DAYS};
use crate::domain::{AccountKind, AuditEvent, PrivilegeSet, Username};

use super::audit::{self, About};
use super::{Account, Actor, OpError};

type Row = (
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
);

fn days(v: Option<i64>) -> Option<u32> {
    v.map(|d| d.clamp(0, i64::from(MAX_DAYS)) as u32)
}

fn override_of(row: &Row) -> PolicyOverride {
    PolicyOverride {
        max_lifetime_days: days(row.1),
        require_ip_for: row.2.as_deref().map(PrivilegeSet::from_column),
        disable_unused_days: days(row.3),
        delete_expired_days: days(row.4),
    }
}

macro_rules! policy_rows {
    () => {
        token_policies::table.inner_join(accounts::table).select((
            token_policies::account_id,
            token_policies::max_lifetime_days,
            token_policies::require_ip_for,
            token_policies::disable_unused_days,
            token_policies::delete_expired_days,
            accounts::kind,
        ))
    };
}

/// The policy in force for `account`'s tokens: everyone's, then its
/// owner's override, then its own. One indexed query.
pub fn for_account(conn: &mut DbConnection, account: &Account) -> Result<TokenPolicy, OpError> {
    // Two fixed comparisons rather than `IN (…)`: a query of one shape is
    // kept prepared, and this one runs on every call the token cache
    // cannot answer (an `IN` list was parsed and planned each time).
    // It runs on the concrete connection too, as the digest lookup does:
    // the multi-backend wrapper's statements are not kept.
    let owner = account.owner_id.unwrap_or(account.id);
    macro_rules! in_force {
        () => {
            policy_rows!().filter(
                accounts::kind
                    .eq(AccountKind::Root.as_str())
                    .or(token_policies::account_id.eq(account.id))
                    .or(token_policies::account_id.eq(owner)),
            )
        };
    }
    let rows: Vec<Row> = match conn {
        DbConnection::Pg(c) => in_force!().load(c)?,
        DbConnection::Sqlite(c) => in_force!().load(c)?,
    };
    let root = rows.iter().find(|r| r.5 == AccountKind::Root.as_str());
    let mut policy = root.map_or_else(TokenPolicy::default, |r| {
        TokenPolicy::default().with(&override_of(r))
    });
    for id in [account.owner_id, Some(account.id)].into_iter().flatten() {
        if let Some(r) = rows
            .iter()
            .find(|r| r.0 == id && r.5 != AccountKind::Root.as_str())
        {
            policy = policy.with(&override_of(r));
        }
    }
    Ok(policy)
}

/// Everyone's policy, the reseller's override (when `user` names one) and
/// what is in force for it.
pub struct Shown {
    pub everyone: TokenPolicy,
    pub user: Option<Username>,
    pub over: Option<PolicyOverride>,
    pub in_force: TokenPolicy,
    /// Resellers with an override of their own.
    pub overridden: Vec<Username>,
}

fn root_only(actor: &Actor) -> Result<(), OpError> {
    if actor.account.is_root() {
        Ok(())
    } else {
        Err(OpError::NotAllowed(
            "Only root can see or set the token policy.",
        ))
    }
}

/// A reseller root names, for its override.
fn reseller(conn: &mut DbConnection, username: &Username) -> Result<Account, OpError> {
    let account: Account = accounts::table
        .filter(accounts::username.eq(username))
        .select(crate::db::models::AccountRow::as_select())
        .first(conn)
        .optional()?
        .map(Account::from)
        .ok_or_else(|| OpError::AccountNotFound(username.to_string()))?;
    if account.kind != AccountKind::Reseller {
        return Err(OpError::Invalid(format!(
            "“{username}” is not a reseller: only resellers have overrides."
        )));
    }
    Ok(account)
}

pub fn show(
    conn: &mut DbConnection,
    actor: &Actor,
    user: Option<&Username>,
) -> Result<Shown, OpError> {
    root_only(actor)?;
    let root = &actor.account;
    let everyone = for_account(conn, root)?;
    let overridden: Vec<Username> = token_policies::table
        .inner_join(accounts::table)
        .filter(accounts::kind.ne(AccountKind::Root.as_str()))
        .select(accounts::username)
        .order(accounts::username.asc())
        .limit(1000)
        .load(conn)?;
    let Some(user) = user else {
        return Ok(Shown {
            everyone,
            user: None,
            over: None,
            in_force: everyone,
            overridden,
        });
    };
    let account = reseller(conn, user)?;
    let row: Option<Row> = policy_rows!()
        .filter(token_policies::account_id.eq(account.id))
        .first(conn)
        .optional()?;
    Ok(Shown {
        everyone,
        user: Some(user.clone()),
        over: row.as_ref().map(override_of),
        in_force: for_account(conn, &account)?,
        overridden,
    })
}

/// What a `set` changes: `Some(None)` for an override's rule means "keep
/// everyone's" (clear it); for everyone's policy, `None` and `Some(None)`
/// both leave the rule as it is.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub max_lifetime_days: Option<Option<u32>>,
    pub require_ip_for: Option<Option<PrivilegeSet>>,
    pub disable_unused_days: Option<Option<u32>>,
    pub delete_expired_days: Option<Option<u32>>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.max_lifetime_days.is_none()
            && self.require_ip_for.is_none()
            && self.disable_unused_days.is_none()
            && self.delete_expired_days.is_none()
    }
}

/// Root sets everyone's policy (`user: None`) or a reseller's override.
/// Tokens that break it from now on are blocked, not changed.
pub fn set(
    conn: &mut DbConnection,
    actor: &Actor,
    user: Option<&Username>,
    changes: &Changes,
) -> Result<Shown, OpError> {
    root_only(actor)?;
    if changes.is_empty() {
        return Err(OpError::NothingToChange);
    }
    for d in [
        changes.max_lifetime_days,
        changes.disable_unused_days,
        changes.delete_expired_days,
    ]
    .into_iter()
    .flatten()
    .flatten()
    {
        if d > MAX_DAYS {
            return Err(OpError::Invalid(format!(
                "A rule counts at most {MAX_DAYS} days."
            )));
        }
    }
    let target = match user {
        Some(u) => reseller(conn, u)?,
        None => actor.account.clone(),
    };
    let everyone = user.is_none();
    let current: Option<Row> = policy_rows!()
        .filter(token_policies::account_id.eq(target.id))
        .first(conn)
        .optional()?;
    let current = current.as_ref().map(override_of).unwrap_or_default();
    // Everyone's rules are never "inherited": a cleared one is off.
    let pick_days = |change: Option<Option<u32>>, now: Option<u32>| match change {
        None => now,
        Some(None) if everyone => Some(0),
        Some(v) => v,
    };
    let next = PolicyOverride {
        max_lifetime_days: pick_days(changes.max_lifetime_days, current.max_lifetime_days),
        require_ip_for: match changes.require_ip_for {
            None => current.require_ip_for,
            Some(None) if everyone => Some(PrivilegeSet::empty()),
            Some(v) => v,
        },
        disable_unused_days: pick_days(changes.disable_unused_days, current.disable_unused_days),
        delete_expired_days: pick_days(changes.delete_expired_days, current.delete_expired_days),
    };
    let values = (
        token_policies::account_id.eq(target.id),
        token_policies::max_lifetime_days.eq(next.max_lifetime_days.map(i64::from)),
        token_policies::require_ip_for.eq(next.require_ip_for.map(PrivilegeSet::to_column)),
        token_policies::disable_unused_days.eq(next.disable_unused_days.map(i64::from)),
        token_policies::delete_expired_days.eq(next.delete_expired_days.map(i64::from)),
    );
    diesel::delete(token_policies::table.find(target.id)).execute(conn)?;
    if !everyone && next == PolicyOverride::default() {
        // Nothing of its own left: the override is gone.
    } else {
        diesel::insert_into(token_policies::table)
            .values(values)
            .execute(conn)?;
    }
    let shown = show(conn, actor, user)?;
    tracing::info!(for_user = ?user.map(Username::as_str), "token policy set");
    audit::record(
        conn,
        actor,
        AuditEvent::PolicyChanged,
        About::account(&target).detail(match user {
            None => format!("everyone's token policy: {}", describe(&shown.in_force)),
            Some(u) => format!("{u}'s token policy: {}", describe(&shown.in_force)),
        }),
    )?;
    Ok(shown)
}

/// A policy in words, for the audit trail and the command line.
pub fn describe(p: &TokenPolicy) -> String {
    let days = |d: u32| {
        if d == 0 {
            "off".to_owned()
        } else {
            format!("{d} days")
        }
    };
    format!(
        "maximum lifetime {}; allow-list required for {}; disable unused after {}; remove expired after {}",
        days(p.max_lifetime_days),
        if p.require_ip_for.is_empty() {
            "none".to_owned()
        } else {
            p.require_ip_for.keys().join(", ")
        },
        days(p.disable_unused_days),
        days(p.delete_expired_days),
    )
}

/// Whose tokens one pass of the housekeeping reads.
#[derive(Clone, Copy, Debug)]
enum Scope {
    /// Accounts that neither have an override nor belong to an account
    /// that has one.
    Everyone,
    /// One account with an override of its own.
    Account(i64),
    /// The accounts owned by one with an override, but for those with an
    /// override of their own (each is its own scope).
    OwnedBy(i64),
}

/// Each scope of the policy with the policy in force there, as
/// [`for_account`] works it out for each account in it (everyone's, then
/// the owner's override, then the account's own); and the ids of the
/// accounts with an override.
#[allow(clippy::type_complexity)]
fn scopes(conn: &mut DbConnection) -> Result<(Vec<(Scope, TokenPolicy)>, Vec<i64>), OpError> {
    let rows: Vec<Row> = policy_rows!().load(conn)?;
    let everyone = rows
        .iter()
        .find(|r| r.5 == AccountKind::Root.as_str())
        .map_or_else(TokenPolicy::default, |r| {
            TokenPolicy::default().with(&override_of(r))
        });
    let overridden: Vec<&Row> = rows
        .iter()
        .filter(|r| r.5 != AccountKind::Root.as_str())
        .collect();
    let ids: Vec<i64> = overridden.iter().map(|r| r.0).collect();
    let owners: std::collections::HashMap<i64, Option<i64>> = accounts::table
        .filter(accounts::id.eq_any(&ids))
        .select((accounts::id, accounts::owner_id))
        .load::<(i64, Option<i64>)>(conn)?
        .into_iter()
        .collect();
    let mut scopes = vec![(Scope::Everyone, everyone)];
    for row in &overridden {
        let own = override_of(row);
        // Its owner's override first, if the owner has one.
        let above = owners
            .get(&row.0)
            .copied()
            .flatten()
            .and_then(|owner| overridden.iter().find(|r| r.0 == owner))
            .map_or_else(|| everyone, |r| everyone.with(&override_of(r)));
        scopes.push((Scope::Account(row.0), above.with(&own)));
        scopes.push((Scope::OwnedBy(row.0), everyone.with(&own)));
    }
    Ok((scopes, ids))
}

/// Tokens with their owners, within one scope (see [`scopes`]).
macro_rules! in_scope {
    ($scope:expr, $ids:expr, $select:expr, $limit:expr) => {{
        let mut q = tokens::table
            .inner_join(accounts::table)
            .select($select)
            .limit($limit)
            .into_boxed();
        q = match $scope {
            Scope::Account(a) => q.filter(accounts::id.eq(a)),
            Scope::OwnedBy(r) => q
                .filter(accounts::owner_id.eq(r))
                .filter(diesel::dsl::not(accounts::id.eq_any($ids.clone()))),
            Scope::Everyone => q
                .filter(diesel::dsl::not(accounts::id.eq_any($ids.clone())))
                .filter(accounts::owner_id.is_null().or(diesel::dsl::not(
                    accounts::owner_id.assume_not_null().eq_any($ids.clone()),
                ))),
        };
        q
    }};
}

/// An enabled token neither used (nor, never used, made) nor enabled
/// again by a person since `before`: one `disable_unused_days` disables.
macro_rules! unused_since {
    ($before:expr) => {
        tokens::enabled
            .eq(true)
            .and(
                tokens::last_used_at.le($before).or(tokens::last_used_at
                    .is_null()
                    .and(tokens::created_at.le($before))),
            )
            .and(
                tokens::enabled_at
                    .is_null()
                    .or(tokens::enabled_at.le($before)),
            )
    };
}

/// What the housekeeping reads of a token: its id, name and owner.
macro_rules! found {
    () => {
        (
            tokens::id,
            tokens::name,
            crate::db::models::AccountRow::as_select(),
        )
    };
}

/// The server's housekeeping for the two rules that act on their own:
/// tokens unused for `disable_unused_days` are disabled, tokens expired
/// for `delete_expired_days` are removed, each account by the policy in
/// force for it. One query per scope (everyone, and each reseller with an
/// override, with its accounts) and rule, each reading at most `limit`
/// tokens from the expiry or last-used range. Returns (disabled, removed).
pub fn enforce(conn: &mut DbConnection, now: i64, limit: i64) -> Result<(usize, usize), OpError> {
    let (scopes, ids) = scopes(conn)?;
    type Found = (i64, String, crate::db::models::AccountRow);
    let (mut disabled, mut removed) = (0, 0);
    for (scope, policy) in scopes {
        if policy.delete_expired_days > 0 {
            let days = policy.delete_expired_days;
            let found: Vec<Found> = in_scope!(scope, ids, found!(), limit)
                .filter(tokens::expires_at.le(now - i64::from(days) * DAY))
                .load(conn)?;
            for (id, name, owner) in found {
                diesel::delete(tokens::table.find(id)).execute(conn)?;
                removed += 1;
                audit::record_system(
                    conn,
                    now,
                    AuditEvent::TokenRevoked,
                    About {
                        token: Some(name),
                        target: Some(audit::Target::of(&Account::from(owner))),
                        detail: format!(
                            "removed by the token policy: expired more than {days} days ago"
                        ),
                    },
                )?;
            }
        }
        if policy.disable_unused_days > 0 {
            let days = policy.disable_unused_days;
            let before = now - i64::from(days) * DAY;
            let found: Vec<Found> = in_scope!(scope, ids, found!(), limit)
                .filter(unused_since!(before))
                .load(conn)?;
            for (id, name, owner) in found {
                // Still as found: a use written or a person enabling it
                // since the read (PostgreSQL) keeps it.
                let changed = diesel::update(tokens::table.find(id).filter(unused_since!(before)))
                    .set(tokens::enabled.eq(false))
                    .execute(conn)?;
                if changed == 0 {
                    continue;
                }
                disabled += 1;
                audit::record_system(
                    conn,
                    now,
                    AuditEvent::TokenUpdated,
                    About {
                        token: Some(name),
                        target: Some(audit::Target::of(&Account::from(owner))),
                        detail: format!("disabled by the token policy: unused for {days} days"),
                    },
                )?;
            }
        }
    }
    Ok((disabled, removed))
}

/// When `disable_unused_days` = `days` disables a token made at
/// `created`, last used at `used` and last enabled by a person at
/// `enabled_at`: `days` after the latest of them.
fn disabled_at(days: i64, created: i64, used: Option<i64>, enabled_at: Option<i64>) -> i64 {
    let since = used.unwrap_or(created).max(enabled_at.unwrap_or(i64::MIN));
    since + days * DAY
}

/// When the policy in force for `owner` disables its token made at
/// `created`, last used at `used` and enabled at `enabled_at`, if it
/// disables unused tokens at all.
pub fn disables_at(
    conn: &mut DbConnection,
    owner: &Account,
    created: i64,
    used: Option<i64>,
    enabled_at: Option<i64>,
) -> Result<Option<i64>, OpError> {
    let days = i64::from(for_account(conn, owner)?.disable_unused_days);
    Ok((days > 0).then(|| disabled_at(days, created, used, enabled_at)))
}

/// A token the policy will disable for disuse within a week: its id and
/// name, when it will be disabled, and its owner with the owner's contact
/// address.
pub type UnusedSoon = (
    i64,
    crate::domain::TokenName,
    i64,
    Account,
    Option<crate::domain::EmailAddress>,
);

/// Enabled tokens of active accounts that `disable_unused_days` will
/// disable within seven days (and not yet), each scope by its own policy: the first `limit` by
/// id after the token `after`, so that a walk pages through them all. The
/// second of the pair: whether there may be more after the last.
pub fn unused_soon(
    conn: &mut DbConnection,
    now: i64,
    after: Option<i64>,
    limit: i64,
) -> Result<(Vec<UnusedSoon>, bool), OpError> {
    let (scopes, ids) = scopes(conn)?;
    let mut soon = Vec::new();
    for (scope, policy) in scopes {
        let days = i64::from(policy.disable_unused_days);
        if days == 0 {
            continue;
        }
        // Disabled at (the latest of last use or creation, and being
        // enabled again) + days: due between now and a week from now.
        let (from, to) = (now - days * DAY, now - days * DAY + 7 * DAY);
        type Row = (
            i64,
            crate::domain::TokenName,
            i64,
            Option<i64>,
            Option<i64>,
            crate::db::models::AccountRow,
            Option<crate::domain::EmailAddress>,
        );
        macro_rules! candidates {
            () => {
                in_scope!(
                    scope,
                    ids,
                    (
                        tokens::id,
                        tokens::name,
                        tokens::created_at,
                        tokens::last_used_at,
                        tokens::enabled_at,
                        crate::db::models::AccountRow::as_select(),
                        accounts::contact_email,
                    ),
                    limit
                )
                .filter(tokens::enabled.eq(true))
                // A suspended account cannot use its tokens to keep them.
                .filter(accounts::suspended.eq(false))
                .filter(tokens::id.gt(after.unwrap_or(i64::MIN)))
                .order(tokens::id.asc())
            };
        }
        // Due by their last use (or creation), unless enabled since the
        // window's end.
        let by_use: Vec<Row> = candidates!()
            .filter(
                tokens::last_used_at
                    .gt(from)
                    .and(tokens::last_used_at.le(to))
                    .or(tokens::last_used_at
                        .is_null()
                        .and(tokens::created_at.gt(from))
                        .and(tokens::created_at.le(to))),
            )
            .filter(tokens::enabled_at.is_null().or(tokens::enabled_at.le(to)))
            .load(conn)?;
        // Due by being enabled again, their last use older.
        let by_enabling: Vec<Row> = candidates!()
            .filter(tokens::enabled_at.gt(from).and(tokens::enabled_at.le(to)))
            .filter(
                tokens::last_used_at.le(from).or(tokens::last_used_at
                    .is_null()
                    .and(tokens::created_at.le(from))),
            )
            .load(conn)?;
        soon.extend(by_use.into_iter().chain(by_enabling).map(
            |(id, name, created, used, enabled_at, owner, email)| {
                let at = disabled_at(days, created, used, enabled_at);
                (id, name, at, Account::from(owner), email)
            },
        ));
    }
    // Each query read the first `limit` after `after`: together, the first
    // `limit` of them all are known, and no more.
    soon.sort_by_key(|s| s.0);
    let more = soon.len() as i64 >= limit;
    soon.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((soon, more))
}
