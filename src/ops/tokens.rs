//! API tokens: create, list, read, update, revoke. Every query names the
//! owner, so one account can never reach another's tokens.

use diesel::prelude::*;

use crate::db::models::NewTokenRow;
use crate::db::schema::tokens;
use crate::db::DbConnection;
use crate::domain::privileges::PrivilegeError;
use crate::domain::AuditEvent;
use crate::domain::Privilege;
use crate::domain::{
    Description, Expiry, IpAllowList, PrivilegeSet, TokenDigest, TokenName, TokenSecret,
};

use super::audit::{self, About};
use super::error::is_unique_violation;
use super::token_rules::{check_covers, check_covers_named, check_grantable};
use super::{accounts, Actor, OpError};

/// The privilege every token operation needs.
pub const MANAGE_TOKENS: Privilege = Privilege::MANAGE_API_TOKENS;

/// A token as both front ends show it (never with its secret), read
/// straight from its row.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct Token {
    pub id: i64,
    pub account_id: i64,
    pub name: TokenName,
    pub created_at: i64,
    #[diesel(column_name = expires_at, deserialize_as = Option<i64>)]
    pub expiry: Expiry,
    #[diesel(column_name = allowed_ips)]
    pub ips: IpAllowList,
    pub privileges: PrivilegeSet,
    /// The last successful call (up to a few seconds late: uses are
    /// written in batches), where it came from, and how many there were.
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub use_count: i64,
    /// A disabled token is refused like any other, and keeps its settings.
    pub enabled: bool,
    pub description: Description,
    /// When the token was reported leaked (and disabled), and from which
    /// address; cleared by Regenerate.
    pub leaked_at: Option<i64>,
    pub leaked_from: Option<String>,
}

pub struct NewToken {
    pub name: TokenName,
    pub description: Description,
    pub expiry: Expiry,
    pub ips: IpAllowList,
    /// `None`: everything the actor may grant.
    pub privileges: Option<PrivilegeSet>,
}

pub struct CreatedToken {
    pub token: Token,
    pub secret: TokenSecret,
}

#[tracing::instrument(name = "create_token", skip_all, fields(actor = %actor.account.username))]
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    new: NewToken,
    now: i64,
) -> Result<CreatedToken, OpError> {
    actor.require(MANAGE_TOKENS)?;
    // Read the owner afresh inside the transaction: a suspension that landed
    // a moment ago must already count.
    let owner = accounts::load(conn, actor.id())?;
    if !owner.kind.may_own_tokens() {
        return Err(OpError::CannotOwnTokens(owner.username.to_string()));
    }
    if owner.suspended {
        return Err(OpError::AccountSuspended(owner.username.to_string()));
    }
    // Absent (WHM's token without `acls`): a full-access token that follows
    // its owner, whose privileges it is cut down to at every call. A
    // caller that is itself a token with a list of its own can hand out no
    // more than it holds, now or later: the new token gets a copy of that.
    let privileges = match new.privileges {
        None if actor.follows_owner => PrivilegeSet::everything(),
        None => actor.privileges.normalized(),
        Some(set) => {
            let set = set.normalized();
            check_grantable(set, &owner, actor)?;
            set
        }
    };
    if privileges.is_empty() {
        return Err(OpError::Invalid(PrivilegeError::Empty.to_string()));
    }
    let policy = super::policies::for_account(conn, &owner)?;
    if let Some(breach) = policy.breach(new.expiry, &new.ips, privileges, now) {
        return Err(OpError::Policy(breach));
    }

    let secret = TokenSecret::generate();
    let digest = secret.digest();
    let row = NewTokenRow {
        account_id: owner.id,
        name: &new.name,
        digest: &digest,
        created_at: now,
        expires_at: new.expiry.to_column(),
        allowed_ips: &new.ips.to_column(),
        privileges: &privileges.to_column(),
        description: &new.description,
    };
    let token = diesel::insert_into(tokens::table)
        .values(&row)
        .returning(crate::db::columns::<Token>())
        .get_result::<Token>(conn)
        .map_err(|e| name_conflict(e, &new.name))?;
    tracing::info!(token = %token.name, "token created");
    audit::record(
        conn,
        actor,
        AuditEvent::TokenCreated,
        About::account(&owner)
            .token(&token.name)
            .detail(describe(&token)),
    )?;
    Ok(CreatedToken { token, secret })
}

fn name_conflict(e: diesel::result::Error, name: &TokenName) -> OpError {
    if is_unique_violation(&e) {
        OpError::TokenNameTaken(name.to_string())
    } else {
        e.into()
    }
}

/// Every token of the actor, newest first (the API's `api_token_list`).
pub fn all(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<Token>, OpError> {
    actor.require(MANAGE_TOKENS)?;
    tokens::table
        .filter(tokens::account_id.eq(actor.id()))
        .order((tokens::created_at.desc(), tokens::id.desc()))
        .select(Token::as_select())
        .load(conn)
        .map_err(OpError::from)
}

/// The names and ids of every token of the actor, from the (account,
/// name) index: the order of a long `api_token_list`.
pub fn names(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<(String, i64)>, OpError> {
    actor.require(MANAGE_TOKENS)?;
    tokens::table
        .filter(tokens::account_id.eq(actor.id()))
        .select((tokens::name, tokens::id))
        .load(conn)
        .map_err(OpError::from)
}

/// The actor's tokens among `ids` (in no order); others' are never read.
/// Found by id: the owner is checked on each row (`account_id + 0` keeps
/// the planner from walking the owner's index instead, which for a big
/// owner is every token it has, for each piece of a long list).
pub fn by_ids(conn: &mut DbConnection, actor: &Actor, ids: &[i64]) -> Result<Vec<Token>, OpError> {
    actor.require(MANAGE_TOKENS)?;
    tokens::table
        .filter(tokens::id.eq_any(ids))
        .filter((tokens::account_id + 0i64).eq(actor.id()))
        .select(Token::as_select())
        .load(conn)
        .map_err(OpError::from)
}

/// Holds the token's row to the end of the transaction on PostgreSQL, so
/// that the row read next is the one the write replaces: its transactions
/// read what is committed at each statement, and a leak report or another
/// edit landing between the read and the write would be undone (a leaked
/// token enabled again by an edit of its description). SQLite's writes
/// take turns already.
fn hold(conn: &mut DbConnection, owner_id: i64, name: &TokenName) -> Result<(), OpError> {
    if let DbConnection::Pg(c) = conn {
        tokens::table
            .filter(tokens::account_id.eq(owner_id))
            .filter(tokens::name.eq(name))
            .select(tokens::id)
            .for_update()
            .load::<i64>(c)?;
    }
    Ok(())
}

fn find(
    conn: &mut DbConnection,
    owner_id: i64,
    name: &TokenName,
) -> Result<Option<Token>, OpError> {
    tokens::table
        .filter(tokens::account_id.eq(owner_id))
        .filter(tokens::name.eq(name))
        .select(Token::as_select())
        .first(conn)
        .optional()
        .map_err(OpError::from)
}

/// Counts past this show as "100+" on the tokens page's banner.
pub const BANNER_COUNT_CAP: i64 = 100;

/// How many of the actor's tokens expire within `days` days, and how many
/// have expired: the tokens page's banner. Two walks of the expiry index,
/// each stopping past [`BANNER_COUNT_CAP`], whatever the number of tokens.
pub fn expiry_counts(
    conn: &mut DbConnection,
    actor: &Actor,
    now: i64,
    days: i64,
) -> Result<(i64, i64), OpError> {
    actor.require(MANAGE_TOKENS)?;
    let mine = || {
        tokens::table
            .filter(tokens::account_id.eq(actor.id()))
            .select(tokens::id)
            .limit(BANNER_COUNT_CAP + 1)
    };
    let soon: Vec<i64> = mine()
        .filter(tokens::expires_at.gt(now))
        .filter(tokens::expires_at.le(now + days * 86_400))
        .load(conn)?;
    let expired: Vec<i64> = mine().filter(tokens::expires_at.le(now)).load(conn)?;
    Ok((soon.len() as i64, expired.len() as i64))
}

/// Which of these names the actor's tokens have, by name.
pub fn existing(
    conn: &mut DbConnection,
    actor: &Actor,
    names: &[TokenName],
) -> Result<Vec<TokenName>, OpError> {
    actor.require(MANAGE_TOKENS)?;
    Ok(tokens::table
        .filter(tokens::account_id.eq(actor.id()))
        .filter(tokens::name.eq_any(names))
        .select(tokens::name)
        .order(tokens::name.asc())
        .load(conn)?)
}

pub fn get(conn: &mut DbConnection, actor: &Actor, name: &TokenName) -> Result<Token, OpError> {
    actor.require(MANAGE_TOKENS)?;
    find(conn, actor.id(), name)?.ok_or_else(|| OpError::TokenNotFound(name.to_string()))
}

/// The actor's token with this secret, if it exists and has not expired.
pub fn get_by_secret(
    conn: &mut DbConnection,
    actor: &Actor,
    secret: &TokenSecret,
    now: i64,
) -> Result<Option<Token>, OpError> {
    actor.require(MANAGE_TOKENS)?;
    let digest: TokenDigest = secret.digest();
    let token = tokens::table
        .filter(tokens::digest.eq(digest))
        .filter(tokens::account_id.eq(actor.id()))
        .select(Token::as_select())
        .first(conn)
        .optional()?;
    Ok(token.filter(|t| !t.expiry.is_expired(now)))
}

/// What to change; `None` keeps the stored value.
#[derive(Default)]
pub struct TokenChanges {
    pub new_name: Option<TokenName>,
    pub enabled: Option<bool>,
    pub description: Option<Description>,
    pub expiry: Option<Expiry>,
    pub ips: Option<IpAllowList>,
    pub privileges: Option<PrivilegeSet>,
}

impl TokenChanges {
    fn is_empty(&self) -> bool {
        self.new_name.is_none()
            && self.enabled.is_none()
            && self.description.is_none()
            && self.expiry.is_none()
            && self.ips.is_none()
            && self.privileges.is_none()
    }
}

#[tracing::instrument(name = "update_token", skip_all, fields(actor = %actor.account.username, token = %name))]
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &TokenName,
    changes: TokenChanges,
) -> Result<Token, OpError> {
    let owner = super::accounts::require_now(conn, actor, MANAGE_TOKENS)?;
    if changes.is_empty() {
        return Err(OpError::NothingToChange);
    }
    hold(conn, owner.id, name)?;
    let current =
        find(conn, owner.id, name)?.ok_or_else(|| OpError::TokenNotFound(name.to_string()))?;
    check_covers(actor, [(&current.name, current.privileges)])?;
    if let Some(p) = changes.privileges {
        check_grantable(p, &owner, actor)?;
    }
    let new_name = changes.new_name.unwrap_or_else(|| name.clone());
    let expiry = changes.expiry.unwrap_or(current.expiry);
    let enabled = changes.enabled.unwrap_or(current.enabled);
    if enabled && current.leaked_at.is_some() {
        return Err(OpError::TokenLeaked(name.to_string()));
    }
    let description = changes
        .description
        .unwrap_or_else(|| current.description.clone());
    let touches_policy =
        changes.expiry.is_some() || changes.ips.is_some() || changes.privileges.is_some();
    let ips = changes.ips.unwrap_or_else(|| current.ips.clone());
    let privileges = changes
        .privileges
        .map_or(current.privileges, PrivilegeSet::normalized);
    // An edit that breaks the policy is refused; one that changes nothing
    // the policy reads (a name, a description, disabling) goes through,
    // and the token stays blocked.
    if touches_policy {
        let policy = super::policies::for_account(conn, &owner)?;
        if let Some(breach) = policy.breach(expiry, &ips, privileges, actor.origin.at) {
            return Err(OpError::Policy(breach));
        }
    }
    // Enabled again by a person: the policy counts disuse from now.
    if enabled && !current.enabled {
        diesel::update(tokens::table.filter(tokens::id.eq(current.id)))
            .set(tokens::enabled_at.eq(actor.origin.at))
            .execute(conn)?;
    }
    let saved = diesel::update(tokens::table.filter(tokens::id.eq(current.id)))
        .set((
            tokens::name.eq(&new_name),
            tokens::expires_at.eq(expiry.to_column()),
            tokens::allowed_ips.eq(ips.to_column()),
            tokens::privileges.eq(privileges.to_column()),
            tokens::enabled.eq(enabled),
            tokens::description.eq(&description),
        ))
        .returning(crate::db::columns::<Token>())
        .get_result::<Token>(conn)
        .map_err(|e| name_conflict(e, &new_name))?;
    tracing::info!(name = %saved.name, "token updated");
    audit::record(
        conn,
        actor,
        AuditEvent::TokenUpdated,
        About::account(&owner)
            .token(&saved.name)
            .detail(changes_between(&current, &saved)),
    )?;
    Ok(saved)
}

/// A token's settings in words, for the audit trail (never its secret).
fn describe(t: &Token) -> String {
    format!(
        "expires: {}; IPs: {}; privileges: {}",
        t.expiry
            .to_column()
            .map_or_else(|| "never".to_owned(), |at| at.to_string()),
        t.ips,
        t.privileges.to_column()
    )
}

/// What an edit changed, in words.
fn changes_between(before: &Token, after: &Token) -> String {
    let mut changed = Vec::new();
    if before.name != after.name {
        changed.push(format!("renamed from {} to {}", before.name, after.name));
    }
    if before.expiry != after.expiry {
        changed.push(format!(
            "expires: {}",
            after
                .expiry
                .to_column()
                .map_or_else(|| "never".to_owned(), |at| at.to_string())
        ));
    }
    if before.ips != after.ips {
        changed.push(format!("IPs: {}", after.ips));
    }
    if before.privileges != after.privileges {
        changed.push(format!("privileges: {}", after.privileges.to_column()));
    }
    if before.enabled != after.enabled {
        changed.push(if after.enabled { "enabled" } else { "disabled" }.to_owned());
    }
    if before.description != after.description {
        changed.push(format!("description: {}", after.description));
    }
    if changed.is_empty() {
        "nothing changed".to_owned()
    } else {
        changed.join("; ")
    }
}

/// A new secret for the actor's token `name`, keeping everything else;
/// the old secret is refused from the next call on (the digest changes,
/// which tells every instance). With `expected` (a form's
/// [`TokenDigest::fingerprint`] of the secret it replaces), the secret is
/// replaced only if it is still that one: of two such forms sent at once,
/// the second finds it replaced and is refused.
#[tracing::instrument(name = "regenerate_token", skip_all, fields(actor = %actor.account.username, token = %name))]
pub fn regenerate(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &TokenName,
    expected: Option<&str>,
) -> Result<CreatedToken, OpError> {
    // The owner as it is now: `require_now` refuses a suspended one.
    let owner = super::accounts::require_now(conn, actor, MANAGE_TOKENS)?;
    // Held first, as `update` does: an edit widening the token commits
    // before the read below, or waits for this transaction.
    hold(conn, owner.id, name)?;
    let (current, digest): (Token, TokenDigest) = tokens::table
        .filter(tokens::account_id.eq(owner.id))
        .filter(tokens::name.eq(name))
        .select((Token::as_select(), tokens::digest))
        .first(conn)
        .optional()?
        .ok_or_else(|| OpError::TokenNotFound(name.to_string()))?;
    check_covers(actor, [(&current.name, current.privileges)])?;
    let replaced = || OpError::SecretAlreadyReplaced(name.to_string());
    if expected.is_some_and(|e| e != digest.fingerprint()) {
        return Err(replaced());
    }
    let secret = TokenSecret::generate();
    // Compare and set: on PostgreSQL a second transaction waits for the
    // first, then finds the digest changed; SQLite's writers take turns.
    let token: Token = diesel::update(
        tokens::table
            .filter(tokens::id.eq(current.id))
            .filter(tokens::digest.eq(digest)),
    )
    .set(tokens::digest.eq(secret.digest()))
    .returning(crate::db::columns::<Token>())
    .get_result(conn)
    .optional()?
    .ok_or_else(replaced)?;
    // A token reported leaked was disabled for its secret: with a new one
    // it is as it was before the report (enabled, or disabled if it
    // already was; a report before the column was kept: enabled).
    let (token, detail) = if token.leaked_at.is_some() {
        // Enabled again, the policy counts disuse from now, or the next
        // round would disable it for the days it sat leaked. (Both sides
        // of a SET read the row as it was.)
        let token: Token = diesel::update(tokens::table.filter(tokens::id.eq(token.id)))
            .set((
                tokens::enabled.eq(diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "COALESCE(enabled_before_leak, TRUE)",
                )),
                tokens::enabled_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
                >(
                    "CASE WHEN COALESCE(enabled_before_leak, TRUE) THEN "
                )
                .bind::<diesel::sql_types::BigInt, _>(actor.origin.at)
                .sql(" ELSE enabled_at END")),
                tokens::enabled_before_leak.eq(None::<bool>),
                tokens::leaked_at.eq(None::<i64>),
                tokens::leaked_from.eq(None::<String>),
            ))
            .returning(crate::db::columns::<Token>())
            .get_result(conn)?;
        let detail = if token.enabled {
            "a new secret in place of the one reported leaked; the token is enabled again"
        } else {
            "a new secret in place of the one reported leaked; the token stays disabled, as it was before the report"
        };
        (token, detail)
    } else {
        (token, "a new secret; the old one stopped working")
    };
    audit::record(
        conn,
        actor,
        AuditEvent::TokenRegenerated,
        About::account(&owner).token(&token.name).detail(detail),
    )?;
    Ok(CreatedToken { token, secret })
}

/// The fingerprint of the actor's token's current secret, for a form that
/// will replace it (see [`regenerate`]).
pub fn secret_fingerprint(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &TokenName,
) -> Result<String, OpError> {
    actor.require(MANAGE_TOKENS)?;
    let digest: TokenDigest = tokens::table
        .filter(tokens::account_id.eq(actor.id()))
        .filter(tokens::name.eq(name))
        .select(tokens::digest)
        .first(conn)
        .optional()?
        .ok_or_else(|| OpError::TokenNotFound(name.to_string()))?;
    Ok(digest.fingerprint())
}

/// Disables or enables the actor's tokens with these names (unknown names
/// are skipped); returns those changed.
#[tracing::instrument(name = "set_tokens_enabled", skip_all, fields(actor = %actor.account.username, enabled))]
pub fn set_enabled(
    conn: &mut DbConnection,
    actor: &Actor,
    names: &[TokenName],
    enabled: bool,
) -> Result<Vec<TokenName>, OpError> {
    super::accounts::require_now(conn, actor, MANAGE_TOKENS)?;
    check_covers_named(conn, actor, &actor.account, Some(names))?;
    if enabled {
        let leaked: Option<TokenName> = tokens::table
            .filter(tokens::account_id.eq(actor.id()))
            .filter(tokens::name.eq_any(names))
            .filter(tokens::leaked_at.is_not_null())
            .select(tokens::name)
            .first(conn)
            .optional()?;
        if let Some(name) = leaked {
            return Err(OpError::TokenLeaked(name.to_string()));
        }
    }
    // A disabled token is enabled only if it is not reported leaked, even
    // by a report that lands after the check above: the condition is
    // checked again on the row as it then is. (A row enabled now is one
    // being disabled.)
    let changed: Vec<TokenName> = diesel::update(
        tokens::table
            .filter(tokens::account_id.eq(actor.id()))
            .filter(tokens::name.eq_any(names))
            .filter(tokens::enabled.ne(enabled))
            .filter(tokens::leaked_at.is_null().or(tokens::enabled.eq(true))),
    )
    .set(tokens::enabled.eq(enabled))
    .returning(tokens::name)
    .get_results(conn)?;
    // Enabled again by a person: the policy counts disuse from now.
    if enabled && !changed.is_empty() {
        diesel::update(
            tokens::table
                .filter(tokens::account_id.eq(actor.id()))
                .filter(tokens::name.eq_any(&changed)),
        )
        .set(tokens::enabled_at.eq(actor.origin.at))
        .execute(conn)?;
    }
    for name in &changed {
        audit::record(
            conn,
            actor,
            AuditEvent::TokenUpdated,
            About::account(&actor.account)
                .token(name)
                .detail(if enabled { "enabled" } else { "disabled" }),
        )?;
    }
    Ok(changed)
}

/// Revokes the actor's tokens with these names; unknown names are skipped.
/// Returns how many were revoked.
#[tracing::instrument(name = "revoke_tokens", skip_all, fields(actor = %actor.account.username))]
pub fn revoke(
    conn: &mut DbConnection,
    actor: &Actor,
    names: &[TokenName],
) -> Result<usize, OpError> {
    super::accounts::require_now(conn, actor, MANAGE_TOKENS)?;
    check_covers_named(conn, actor, &actor.account, Some(names))?;
    let revoked: Vec<TokenName> = diesel::delete(
        tokens::table
            .filter(tokens::account_id.eq(actor.id()))
            .filter(tokens::name.eq_any(names)),
    )
    .returning(tokens::name)
    .get_results(conn)?;
    tracing::info!(
        asked = names.len(),
        revoked = revoked.len(),
        "tokens revoked"
    );
    audit::tokens_revoked(conn, actor, &actor.account, &revoked, "")?;
    Ok(revoked.len())
}

/// The id of the account's newest token (0 with none): what a Revoke All
/// confirmation counted up to.
pub fn newest_id(conn: &mut DbConnection, account_id: i64) -> Result<i64, OpError> {
    Ok(tokens::table
        .filter(tokens::account_id.eq(account_id))
        .select(diesel::dsl::max(tokens::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Revokes every token of the actor, or, with `upto`, every one up to that
/// id: those a confirmation counted, not one made since.
#[tracing::instrument(name = "revoke_all_tokens", skip_all, fields(actor = %actor.account.username))]
pub fn revoke_all(
    conn: &mut DbConnection,
    actor: &Actor,
    upto: Option<i64>,
) -> Result<usize, OpError> {
    super::accounts::require_now(conn, actor, MANAGE_TOKENS)?;
    check_covers_named(conn, actor, &actor.account, None)?;
    let revoked: Vec<TokenName> = diesel::delete(
        tokens::table
            .filter(tokens::account_id.eq(actor.id()))
            .filter(tokens::id.le(upto.unwrap_or(i64::MAX))),
    )
    .returning(tokens::name)
    .get_results(conn)?;
    tracing::info!(revoked = revoked.len(), "all tokens revoked");
    audit::tokens_revoked(conn, actor, &actor.account, &revoked, "Revoke All")?;
    Ok(revoked.len())
}
