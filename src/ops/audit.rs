//! The audit trail: an event for everything that changes or tries to use a
//! token or an account. Events written by the operations go in the same
//! transaction as the change they describe; refusals that strangers can
//! cause in floods are counted into one row per address, minute and reason
//! (see [`crate::auth::refusals`]). Events are kept for
//! `WHM_TOKENS_AUDIT_RETENTION_DAYS` and pruned as time passes.

use diesel::prelude::*;

use crate::db::schema::{accounts, audit_events};
use crate::db::DbConnection;

use super::{Account, Actor, OpError};

/// Every kind of event, as stored and as the Activity page filters them.
pub const KINDS: &[(&str, &str)] = &[
    ("token_created", "Token created"),
    ("token_updated", "Token edited"),
    ("token_regenerated", "Token regenerated"),
    ("token_revoked", "Token revoked"),
    ("token_new_address", "Token used from a new address"),
    ("api_refused", "API call refused"),
    ("sign_in", "Signed in"),
    ("sign_in_failed", "Sign-in failed"),
    ("password_changed", "Password changed"),
    ("two_factor_on", "Two-factor turned on"),
    ("two_factor_off", "Two-factor turned off"),
    ("two_factor_reset", "Two-factor reset"),
    ("two_factor_required", "Two-factor rule changed"),
    ("two_factor_failed", "Wrong second-factor code"),
    ("recovery_codes_new", "New recovery codes"),
    ("session_ended", "Session ended"),
    ("account_created", "Account created"),
    ("account_suspended", "Account suspended"),
    ("account_unsuspended", "Account unsuspended"),
    ("account_renamed", "Account renamed"),
    ("account_deleted", "Account deleted"),
    ("privileges_changed", "Privileges changed"),
    ("contact_email_changed", "Contact address changed"),
    ("expiry_notice_sent", "Expiry notice sent"),
    ("expiry_notice_failed", "Expiry notice undeliverable"),
];

/// What an event is about, beyond its actor.
#[derive(Clone, Debug, Default)]
pub struct About {
    /// The token, by name.
    pub token: Option<String>,
    /// The account acted on (or owning the token), as it is now.
    pub target: Option<(String, i64, Option<i64>)>,
    pub detail: String,
}

impl About {
    /// About `account` (the account acted on, or owning the token).
    pub fn account(account: &Account) -> Self {
        Self {
            target: Some((account.username.to_string(), account.id, account.owner_id)),
            ..Self::default()
        }
    }

    pub fn token(mut self, name: impl ToString) -> Self {
        self.token = Some(name.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// Records `event`, done by `actor`, about `about`, now.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    event: &'static str,
    about: About,
) -> Result<(), OpError> {
    let now = chrono::Utc::now().timestamp();
    let (target, target_id, owner_id) = match about.target {
        Some((name, id, owner)) => (Some(name), Some(id), owner),
        None => (None, None, None),
    };
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::at.eq(now),
            audit_events::event.eq(event),
            audit_events::actor.eq(actor.account.username.as_str()),
            audit_events::actor_id.eq(actor.id()),
            audit_events::token.eq(about.token.or_else(|| actor.origin.token.clone())),
            audit_events::target.eq(target),
            audit_events::target_id.eq(target_id),
            audit_events::owner_id.eq(owner_id),
            audit_events::ip.eq(&actor.origin.ip),
            audit_events::request_id.eq(&actor.origin.request_id),
            audit_events::detail.eq(about.detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// One `token_revoked` event per token of `owner` that went (`why`: what
/// revoked them, when not the actor's own choice).
pub fn tokens_revoked(
    conn: &mut DbConnection,
    actor: &Actor,
    owner: &Account,
    names: &[crate::domain::TokenName],
    why: &str,
) -> Result<(), OpError> {
    for name in names {
        record(
            conn,
            actor,
            "token_revoked",
            About::account(owner).token(name).detail(why),
        )?;
    }
    Ok(())
}

/// Records `event`, done by the server itself (no account, no request).
pub fn record_system(
    conn: &mut DbConnection,
    event: &'static str,
    about: About,
) -> Result<(), OpError> {
    let (target, target_id, owner_id) = match about.target {
        Some((name, id, owner)) => (Some(name), Some(id), owner),
        None => (None, None, None),
    };
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::at.eq(chrono::Utc::now().timestamp()),
            audit_events::event.eq(event),
            audit_events::token.eq(about.token),
            audit_events::target.eq(target),
            audit_events::target_id.eq(target_id),
            audit_events::owner_id.eq(owner_id),
            audit_events::detail.eq(about.detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// A counted event: a refusal (or a failed sign-in) that may come in
/// floods. Every one with the same `bucket` adds to one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub bucket: String,
    pub at: i64,
    pub event: &'static str,
    pub actor: Option<String>,
    pub token: Option<String>,
    /// The account the refusal concerns (the token's owner), if known.
    pub target: Option<(String, i64, Option<i64>)>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
    /// A name the caller chose (a user name typed, perhaps a stranger's):
    /// never part of the row's key, only of a sample in its detail.
    pub tried: Option<String>,
}

/// Adds `n` to the counted event's row, making it if needed.
pub fn add_counted(conn: &mut DbConnection, e: &Counted, n: i64) -> Result<(), OpError> {
    let (target, target_id, owner_id) = match &e.target {
        Some((name, id, owner)) => (Some(name.as_str()), Some(*id), *owner),
        None => (None, None, None),
    };
    macro_rules! upsert {
        () => {
            diesel::insert_into(audit_events::table)
                .values((
                    audit_events::at.eq(e.at),
                    audit_events::event.eq(e.event),
                    audit_events::actor.eq(&e.actor),
                    audit_events::token.eq(&e.token),
                    audit_events::target.eq(target),
                    audit_events::target_id.eq(target_id),
                    audit_events::owner_id.eq(owner_id),
                    audit_events::ip.eq(&e.ip),
                    audit_events::request_id.eq(&e.request_id),
                    audit_events::detail.eq(&e.detail),
                    audit_events::count.eq(n),
                    audit_events::bucket.eq(&e.bucket),
                ))
                .on_conflict(audit_events::bucket)
                .do_update()
                .set(audit_events::count.eq(audit_events::count + n))
        };
    }
    match conn {
        DbConnection::Pg(c) => upsert!().execute(c)?,
        DbConnection::Sqlite(c) => upsert!().execute(c)?,
    };
    Ok(())
}

/// A token used from an address it had not been used from before (after
/// its first use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddress {
    pub token_id: i64,
    pub address: String,
    pub at: i64,
}

/// Records that a token was used from an address it had not been used from.
pub fn new_address(conn: &mut DbConnection, new: &NewAddress) -> Result<(), OpError> {
    use crate::db::schema::tokens;
    let found: Option<(String, i64, String, Option<i64>)> = tokens::table
        .inner_join(accounts::table)
        .filter(tokens::id.eq(new.token_id))
        .select((
            tokens::name,
            accounts::id,
            accounts::username,
            accounts::owner_id,
        ))
        .first(conn)
        .optional()?;
    let Some((token, owner_id, owner, owners_owner)) = found else {
        return Ok(());
    };
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::at.eq(new.at),
            audit_events::event.eq("token_new_address"),
            audit_events::actor.eq(&owner),
            audit_events::actor_id.eq(owner_id),
            audit_events::token.eq(&token),
            audit_events::target.eq(&owner),
            audit_events::target_id.eq(owner_id),
            audit_events::owner_id.eq(owners_owner),
            audit_events::ip.eq(&new.address),
            audit_events::detail.eq(format!(
                "{token} was used from {} for the first time",
                new.address
            )),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes events older than `keep_secs`.
pub fn prune(conn: &mut DbConnection, now: i64, keep_secs: i64) -> Result<usize, OpError> {
    Ok(
        diesel::delete(audit_events::table.filter(audit_events::at.lt(now - keep_secs)))
            .execute(conn)?,
    )
}

/// One event as the Activity page and the `audit` command show it.
#[derive(Clone, Debug, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct Event {
    #[serde(skip)]
    pub id: i64,
    pub at: i64,
    pub event: String,
    pub actor: Option<String>,
    pub token: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
    pub count: i64,
}

/// Which events to show.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// An account by name: events it did or that were about it, under any
    /// name it had.
    pub account: Option<String>,
    pub token: Option<String>,
    pub event: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// 1-based; 0 lists everything (the command line).
    pub page: i64,
    pub per_page: i64,
}

pub struct EventPage {
    pub events: Vec<Event>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl EventPage {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page.max(1)).max(1)
    }
}

/// Events the actor may see, newest first: root sees all; a reseller sees
/// what it did, and what concerns it, its tokens and the accounts it owns.
pub fn list(conn: &mut DbConnection, actor: &Actor, q: &EventQuery) -> Result<EventPage, OpError> {
    let account_id: Option<i64> = match &q.account {
        Some(name) => accounts::table
            .filter(accounts::username.eq(name))
            .select(accounts::id)
            .first(conn)
            .optional()?,
        None => None,
    };
    let filtered = || {
        let mut query = audit_events::table.into_boxed();
        if !actor.account.is_root() {
            let me = actor.id();
            query = query.filter(
                audit_events::actor_id
                    .eq(me)
                    .or(audit_events::target_id.eq(me))
                    .or(audit_events::owner_id.eq(me)),
            );
        }
        if let Some(name) = &q.account {
            let by_name = audit_events::actor
                .eq(name.clone())
                .or(audit_events::target.eq(name.clone()));
            query = match account_id {
                Some(id) => query.filter(
                    by_name
                        .or(audit_events::actor_id.eq(id))
                        .or(audit_events::target_id.eq(id)),
                ),
                None => query.filter(by_name),
            };
        }
        if let Some(token) = &q.token {
            query = query.filter(audit_events::token.eq(token.clone()));
        }
        if let Some(event) = &q.event {
            query = query.filter(audit_events::event.eq(event.clone()));
        }
        if let Some(since) = q.since {
            query = query.filter(audit_events::at.ge(since));
        }
        if let Some(until) = q.until {
            query = query.filter(audit_events::at.lt(until));
        }
        query
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let per_page = q.per_page.clamp(1, 500);
    let mut query = filtered()
        .select(Event::as_select())
        .order((audit_events::at.desc(), audit_events::id.desc()));
    let page = if q.page == 0 {
        1
    } else {
        let page = q.page.clamp(1, ((total + per_page - 1) / per_page).max(1));
        query = query.limit(per_page).offset((page - 1) * per_page);
        page
    };
    Ok(EventPage {
        events: query.load(conn)?,
        total,
        page,
        per_page,
    })
}

/// The latest "used from a new address" events of an account's tokens,
/// after event `after` and no older than `since`: the notices on its
/// tokens page.
pub fn new_address_notices(
    conn: &mut DbConnection,
    account_id: i64,
    after: i64,
    since: i64,
) -> Result<Vec<(i64, String)>, OpError> {
    Ok(audit_events::table
        .filter(audit_events::event.eq("token_new_address"))
        .filter(audit_events::target_id.eq(account_id))
        .filter(audit_events::id.gt(after))
        .filter(audit_events::at.ge(since))
        .order(audit_events::id.desc())
        .limit(5)
        .select((audit_events::id, audit_events::detail))
        .load(conn)?)
}
