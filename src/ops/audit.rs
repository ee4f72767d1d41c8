//! The audit trail: an event for everything that changes or tries to use a
//! token or an account. Events written by the operations go in the same
//! transaction as the change they describe; refusals that strangers can
//! cause in floods are counted into one row per address, minute and reason
//! (see [`crate::auth::refusals`]). Events are kept for
//! `WHM_TOKENS_AUDIT_RETENTION_DAYS` and pruned as time passes.

use diesel::prelude::*;

use crate::db::schema::{accounts, audit_events};
use crate::db::DbConnection;
use crate::domain::{AuditEvent, TokenName, Username};

use super::{Account, Actor, OpError};

/// The account an event is about (acted on, or owning the token), as it
/// is now; its owner lets that reseller see the event too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub id: i64,
    pub owner_id: Option<i64>,
}

impl Target {
    pub fn of(account: &Account) -> Self {
        Self {
            name: account.username.to_string(),
            id: account.id,
            owner_id: account.owner_id,
        }
    }
}

/// What an event is about, beyond its actor.
#[derive(Clone, Debug, Default)]
pub struct About {
    /// The token, by name.
    pub token: Option<String>,
    pub target: Option<Target>,
    pub detail: String,
}

impl About {
    /// About `account` (the account acted on, or owning the token).
    pub fn account(account: &Account) -> Self {
        Self {
            target: Some(Target::of(account)),
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

/// One row of the audit trail as written: every way of recording an event
/// comes through here.
#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewEvent<'a> {
    at: i64,
    event: &'static str,
    actor: Option<&'a str>,
    actor_id: Option<i64>,
    token: Option<&'a str>,
    target: Option<&'a str>,
    target_id: Option<i64>,
    owner_id: Option<i64>,
    ip: Option<&'a str>,
    request_id: Option<&'a str>,
    detail: &'a str,
    count: i64,
    bucket: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    fn new(at: i64, event: AuditEvent, target: Option<&'a Target>, detail: &'a str) -> Self {
        Self {
            at,
            event: event.as_str(),
            actor: None,
            actor_id: None,
            token: None,
            target: target.map(|t| t.name.as_str()),
            target_id: target.map(|t| t.id),
            owner_id: target.and_then(|t| t.owner_id),
            ip: None,
            request_id: None,
            detail,
            count: 1,
            bucket: None,
        }
    }

    fn insert(self, conn: &mut DbConnection) -> Result<(), OpError> {
        diesel::insert_into(audit_events::table)
            .values(&self)
            .execute(conn)?;
        Ok(())
    }
}

/// Records `event`, done by `actor`, about `about`, at the moment the
/// actor's request began.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    event: AuditEvent,
    about: About,
) -> Result<(), OpError> {
    let token = about.token.as_deref().or(actor.origin.token.as_deref());
    NewEvent {
        actor: Some(actor.account.username.as_str()),
        actor_id: Some(actor.id()),
        token,
        ip: actor.origin.ip.as_deref(),
        request_id: actor.origin.request_id.as_deref(),
        ..NewEvent::new(actor.origin.at, event, about.target.as_ref(), &about.detail)
    }
    .insert(conn)
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
            AuditEvent::TokenRevoked,
            About::account(owner).token(name).detail(why),
        )?;
    }
    Ok(())
}

/// Records `event`, done by the server itself (no account, no request)
/// at `at`.
pub fn record_system(
    conn: &mut DbConnection,
    at: i64,
    event: AuditEvent,
    about: About,
) -> Result<(), OpError> {
    NewEvent {
        token: about.token.as_deref(),
        ..NewEvent::new(at, event, about.target.as_ref(), &about.detail)
    }
    .insert(conn)
}

/// A counted event: a refusal (or a failed sign-in) that may come in
/// floods. Every one with the same `bucket` adds to one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub bucket: String,
    pub at: i64,
    pub event: AuditEvent,
    pub actor: Option<String>,
    pub token: Option<String>,
    /// The account the refusal concerns (the token's owner), if known.
    pub target: Option<Target>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
    /// A name the caller chose (a user name typed, perhaps a stranger's):
    /// never part of the row's key, only of a sample in its detail.
    pub tried: Option<String>,
}

/// Adds `n` to the counted event's row, making it if needed.
pub fn add_counted(conn: &mut DbConnection, e: &Counted, n: i64) -> Result<(), OpError> {
    let row = NewEvent {
        actor: e.actor.as_deref(),
        token: e.token.as_deref(),
        ip: e.ip.as_deref(),
        request_id: e.request_id.as_deref(),
        count: n,
        bucket: Some(&e.bucket),
        ..NewEvent::new(e.at, e.event, e.target.as_ref(), &e.detail)
    };
    macro_rules! upsert {
        () => {
            diesel::insert_into(audit_events::table)
                .values(&row)
                .on_conflict(audit_events::bucket)
                .do_update()
                .set(audit_events::count.eq(audit_events::count + n))
        };
    }
    // The upsert is per backend: the two-backend connection has no ON
    // CONFLICT of its own.
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
    let Some((token, id, name, owner_id)) = found else {
        return Ok(());
    };
    let owner = Target { name, id, owner_id };
    let detail = format!("{token} was used from {} for the first time", new.address);
    NewEvent {
        actor: Some(&owner.name),
        actor_id: Some(owner.id),
        token: Some(&token),
        ip: Some(&new.address),
        ..NewEvent::new(new.at, AuditEvent::TokenNewAddress, Some(&owner), &detail)
    }
    .insert(conn)
}

/// How many events one prune deletes at most: each batch is a short
/// transaction of its own, so pruning a day of a big host's events (or a
/// backlog after a retention change) never holds the store's write lock
/// for long.
pub const PRUNE_BATCH: i64 = 2_000;

/// Deletes the oldest events older than `keep_secs`, at most
/// [`PRUNE_BATCH`] of them (through the `at` index); returns how many. Call
/// it again while it returns a full batch.
pub fn prune(conn: &mut DbConnection, now: i64, keep_secs: i64) -> Result<usize, OpError> {
    let oldest: Vec<i64> = audit_events::table
        .filter(audit_events::at.lt(now - keep_secs))
        .order(audit_events::at.asc())
        .select(audit_events::id)
        .limit(PRUNE_BATCH)
        .load(conn)?;
    if oldest.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::delete(audit_events::table.filter(audit_events::id.eq_any(oldest)))
            .execute(conn)?,
    )
}

/// Whether any event is older than `keep_secs`: one step of the `at`
/// index, read without a write lock, so that a round with nothing to
/// prune takes none.
pub fn any_to_prune(conn: &mut DbConnection, now: i64, keep_secs: i64) -> Result<bool, OpError> {
    Ok(diesel::select(diesel::dsl::exists(
        audit_events::table.filter(audit_events::at.lt(now - keep_secs)),
    ))
    .get_result(conn)?)
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
    #[serde(skip)]
    pub actor_id: Option<i64>,
    pub token: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
    pub count: i64,
}

/// What an account is not shown of events done by the accounts above it
/// (root, the reseller that owns it): the address they acted from, and
/// the token they acted with (an event about one of its own tokens keeps
/// that token's name). Root sees everything.
fn hide_what_is_above(
    conn: &mut DbConnection,
    viewer: &Actor,
    events: &mut [Event],
) -> Result<(), OpError> {
    if viewer.account.is_root() {
        return Ok(());
    }
    // The owners above the viewer, up the chain (a reseller's reseller).
    let mut above = Vec::new();
    let mut next = viewer.account.owner_id;
    while let Some(id) = next.filter(|id| !above.contains(id) && above.len() < 8) {
        above.push(id);
        next = accounts::table
            .find(id)
            .select(accounts::owner_id)
            .first::<Option<i64>>(conn)
            .optional()?
            .flatten();
    }
    // Root, even where no owner is recorded.
    above.extend(
        accounts::table
            .filter(accounts::kind.eq(crate::domain::AccountKind::Root.as_str()))
            .select(accounts::id)
            .load::<i64>(conn)?,
    );
    for e in events.iter_mut() {
        if e.actor_id.is_some_and(|id| above.contains(&id)) {
            e.ip = None;
            let about_a_token = e
                .event
                .parse::<AuditEvent>()
                .is_ok_and(AuditEvent::is_about_a_token);
            if !about_a_token {
                e.token = None;
            }
        }
    }
    Ok(())
}

/// Which events to show.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// An account by name: events it did or that were about it, under any
    /// name it had (found by id: the account now of that name, and those
    /// that were renamed from it or deleted under it).
    pub account: Option<String>,
    pub token: Option<String>,
    pub event: Option<AuditEvent>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Where the page starts; none: at the newest.
    pub cursor: Option<Cursor>,
    pub per_page: i64,
}

impl EventQuery {
    /// Whether any event can match: an account or token name that no
    /// account or token could have (a control character, say) finds
    /// nothing, without asking the store (PostgreSQL refuses text with a
    /// NUL in it, an error rather than an empty page).
    fn can_match(&self) -> bool {
        self.account
            .as_deref()
            .is_none_or(|name| Username::parse(name).is_ok())
            && self
                .token
                .as_deref()
                .is_none_or(|name| TokenName::parse(name).is_ok())
    }
}

/// Where a page of events starts, by the event at its edge (`at`, `id`):
/// the events strictly older than it, or strictly newer. Paging by what
/// was last shown, not by an offset, costs one page however deep it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    Older { at: i64, id: i64 },
    Newer { at: i64, id: i64 },
}

impl Cursor {
    /// `AT.ID`, as links carry it.
    pub fn text(at: i64, id: i64) -> String {
        format!("{at}.{id}")
    }

    /// Reads `AT.ID`; anything else is no cursor.
    pub fn parse(text: &str) -> Option<(i64, i64)> {
        let (at, id) = text.trim().split_once('.')?;
        Some((at.parse().ok()?, id.parse().ok()?))
    }
}

/// The most events a view counts: past it the page says "200+". Counting
/// ten million events for a number nobody reads would cost the page (and
/// at 1,000, counting a busy day cost a big host's page half its speed).
pub const COUNT_CAP: i64 = 200;

#[derive(Default)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Events matching the filters, up to [`COUNT_CAP`].
    pub total: i64,
    /// More than `total` match.
    pub more: bool,
    /// There are newer (older) events than this page's.
    pub newer: bool,
    pub older: bool,
}

/// Which index a walk of the trail follows: every event by time, or one
/// account's by time (each has an index on (column, at)).
#[derive(Clone, Copy, Debug)]
enum Walk {
    All,
    Actor(i64),
    Target(i64),
    Owner(i64),
}

type EventsQuery<'a> = audit_events::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

/// The events of one walk that pass every filter, unordered.
fn walk<'a>(
    walk: Walk,
    actor: &Actor,
    account_ids: Option<&[i64]>,
    q: &'a EventQuery,
) -> EventsQuery<'a> {
    let mut query = audit_events::table.into_boxed();
    query = match walk {
        Walk::All => query,
        Walk::Actor(id) => query.filter(audit_events::actor_id.eq(id)),
        Walk::Target(id) => query.filter(audit_events::target_id.eq(id)),
        Walk::Owner(id) => query.filter(audit_events::owner_id.eq(id)),
    };
    // A reseller walking an account's events still sees only what concerns
    // it; walking its own, the walk is the scope.
    if account_ids.is_some() && !actor.account.is_root() {
        let me = actor.id();
        query = query.filter(
            audit_events::actor_id
                .eq(me)
                .or(audit_events::target_id.eq(me))
                .or(audit_events::owner_id.eq(me)),
        );
    }
    if let Some(token) = &q.token {
        query = query.filter(audit_events::token.eq(token.as_str()));
    }
    if let Some(event) = q.event {
        query = query.filter(audit_events::event.eq(event.as_str()));
    }
    if let Some(since) = q.since {
        query = query.filter(audit_events::at.ge(since));
    }
    if let Some(until) = q.until {
        query = query.filter(audit_events::at.lt(until));
    }
    query
}

/// The walks that together find the query's events: one per index, their
/// union the answer.
fn walks(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &EventQuery,
) -> Result<(Vec<Walk>, Option<Vec<i64>>), OpError> {
    let ids = match &q.account {
        Some(name) => Some(account_ids(conn, name)?),
        None => None,
    };
    let walks = match (&ids, actor.account.is_root()) {
        (Some(ids), _) => ids
            .iter()
            .flat_map(|&id| [Walk::Actor(id), Walk::Target(id)])
            .collect(),
        (None, true) => vec![Walk::All],
        (None, false) => {
            let me = actor.id();
            vec![Walk::Actor(me), Walk::Target(me), Walk::Owner(me)]
        }
    };
    Ok((walks, ids))
}

/// The accounts that had `name`: the one that has it now, those renamed
/// from it and those deleted under it (both recorded in the trail, found
/// through the (event, at) index and picked out by the store).
fn account_ids(conn: &mut DbConnection, name: &str) -> Result<Vec<i64>, OpError> {
    let mut ids: Vec<i64> = accounts::table
        .filter(accounts::username.eq(name))
        .select(accounts::id)
        .load(conn)?;
    let deleted: Vec<Option<i64>> = audit_events::table
        .filter(audit_events::event.eq(AuditEvent::AccountDeleted.as_str()))
        .filter(audit_events::target.eq(name))
        .select(audit_events::target_id)
        .load(conn)?;
    // A name that gets here reads as a user name ([`EventQuery::can_match`]):
    // letters, digits and the spaces around them, none of them special in
    // a LIKE pattern. SQLite's LIKE ignores case; the check below does not.
    let from = format!("renamed from {name} to ");
    let renamed: Vec<(Option<i64>, String)> = audit_events::table
        .filter(audit_events::event.eq(AuditEvent::AccountRenamed.as_str()))
        .filter(audit_events::detail.like(format!("{from}%")))
        .select((audit_events::target_id, audit_events::detail))
        .load(conn)?;
    ids.extend(deleted.into_iter().flatten());
    ids.extend(
        renamed
            .into_iter()
            .filter(|(_, detail)| detail.starts_with(&from))
            .filter_map(|(id, _)| id),
    );
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Up to `limit` (at, id) of the events matching `q`, newest first (or,
/// `newer_than`, oldest first from just after that event): each walk
/// reads at most `limit` entries of its index, and the walks are merged.
fn edge(
    conn: &mut DbConnection,
    actor: &Actor,
    q: &EventQuery,
    (walks, ids): (&[Walk], Option<&[i64]>),
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<(i64, i64)>, OpError> {
    let mut found: Vec<(i64, i64)> = Vec::new();
    for &w in walks {
        let mut query = walk(w, actor, ids, q).select((audit_events::at, audit_events::id));
        // `at <= A` bounds the index range; the rest breaks the tie.
        query = match cursor {
            None => query.order((audit_events::at.desc(), audit_events::id.desc())),
            Some(Cursor::Older { at, id }) => query
                .filter(audit_events::at.le(at))
                .filter(audit_events::at.lt(at).or(audit_events::id.lt(id)))
                .order((audit_events::at.desc(), audit_events::id.desc())),
            Some(Cursor::Newer { at, id }) => query
                .filter(audit_events::at.ge(at))
                .filter(audit_events::at.gt(at).or(audit_events::id.gt(id)))
                .order((audit_events::at.asc(), audit_events::id.asc())),
        };
        found.extend(query.limit(limit).load::<(i64, i64)>(conn)?);
    }
    found.sort_unstable();
    found.dedup();
    if !matches!(cursor, Some(Cursor::Newer { .. })) {
        found.reverse();
    }
    found.truncate(limit as usize);
    Ok(found)
}

/// One page of the events the actor may see, newest first: root sees all;
/// a reseller sees what it did, and what concerns it, its tokens and the
/// accounts it owns. Cost: a page and [`COUNT_CAP`] entries of an index
/// per walk (one, or one per account column), however long the trail.
pub fn page(conn: &mut DbConnection, actor: &Actor, q: &EventQuery) -> Result<EventPage, OpError> {
    if !q.can_match() {
        return Ok(EventPage::default());
    }
    let per_page = q.per_page.clamp(1, 500);
    crate::db::snapshot(conn, |conn| {
        let (walks, ids) = walks(conn, actor, q)?;
        let found = (walks.as_slice(), ids.as_deref());
        let counted = edge(conn, actor, q, found, None, COUNT_CAP + 1)?;
        let (total, more) = (
            counted.len().min(COUNT_CAP as usize) as i64,
            counted.len() > COUNT_CAP as usize,
        );
        let mut edges = match q.cursor {
            // The first page is the count's first rows.
            None => counted.into_iter().take(per_page as usize + 1).collect(),
            Some(cursor) => edge(conn, actor, q, found, Some(cursor), per_page + 1)?,
        };
        let beyond = edges.len() > per_page as usize;
        edges.truncate(per_page as usize);
        let (newer, older) = match q.cursor {
            None => (false, beyond),
            Some(Cursor::Older { .. }) => (true, beyond),
            Some(Cursor::Newer { .. }) => {
                edges.reverse();
                (beyond, true)
            }
        };
        let ids: Vec<i64> = edges.iter().map(|&(_, id)| id).collect();
        let mut events = audit_events::table
            .filter(audit_events::id.eq_any(ids))
            .select(Event::as_select())
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .load(conn)?;
        hide_what_is_above(conn, actor, &mut events)?;
        Ok(EventPage {
            events,
            total,
            more,
            newer,
            older,
        })
    })
}

/// Every event matching `q` that the actor may see, newest first (the
/// `audit` command); `q.cursor` and `q.per_page` are not used.
pub fn all(conn: &mut DbConnection, actor: &Actor, q: &EventQuery) -> Result<Vec<Event>, OpError> {
    if !q.can_match() {
        return Ok(Vec::new());
    }
    let (walks, ids) = walks(conn, actor, q)?;
    let mut events: Vec<Event> = Vec::new();
    for w in walks {
        events.extend(
            walk(w, actor, ids.as_deref(), q)
                .select(Event::as_select())
                .load(conn)?,
        );
    }
    events.sort_unstable_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    events.dedup_by_key(|e| e.id);
    hide_what_is_above(conn, actor, &mut events)?;
    Ok(events)
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
        .filter(audit_events::event.eq(AuditEvent::TokenNewAddress.as_str()))
        .filter(audit_events::target_id.eq(account_id))
        .filter(audit_events::id.gt(after))
        .filter(audit_events::at.ge(since))
        .order(audit_events::id.desc())
        .limit(5)
        .select((audit_events::id, audit_events::detail))
        .load(conn)?)
}
