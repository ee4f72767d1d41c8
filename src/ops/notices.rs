//! Expiry notices as stored: which are due, and who sends each.
//!
//! A notice is one (token, expiry, threshold) on one channel. Any instance
//! may find it due; the one that *claims* it (a row inserted, or a lapsed
//! failed claim taken over, in one statement) sends it and then marks it
//! sent. A failed send gives the claim back, so the next round tries again;
//! a sent one is never claimed again. A token given a new expiry starts
//! afresh, because the expiry is part of the key.

use std::collections::HashSet;

use diesel::prelude::*;

use crate::db::schema::{accounts, expiry_notices, tokens};
use crate::db::DbConnection;
use crate::domain::AuditEvent;
use crate::domain::{EmailAddress, TokenName, Username};

use super::audit::{self, About, Target};
use super::OpError;

pub const DAY: i64 = 86_400;

/// How long after expiring a token still gets its "expired" notice: one
/// that expired long before notices were set up gets none.
pub const EXPIRED_GRACE: i64 = 7 * DAY;

/// How long a claim holds before another instance may take it over (an
/// instance that died mid-send).
pub const CLAIM_LEASE: i64 = 600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Threshold {
    /// Seven days before expiry.
    Week,
    /// One day before expiry.
    Day,
    /// Once it has expired.
    Expired,
    /// Reported leaked (and disabled): the instant in the key is when.
    Leaked,
    /// Root's policy disables it for disuse within a week: the instant in
    /// the key is when (a use since moves it, and a new notice is due).
    Unused,
}

impl Threshold {
    /// The notice a token is due now: the nearest threshold it has passed,
    /// so that a token first seen inside several gets one notice, not one
    /// per threshold.
    pub fn nearest(expires_at: i64, now: i64) -> Option<Self> {
        let left = expires_at - now;
        match left {
            l if l <= -EXPIRED_GRACE => None,
            l if l <= 0 => Some(Self::Expired),
            l if l <= DAY => Some(Self::Day),
            l if l <= 7 * DAY => Some(Self::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Week => "7d",
            Self::Day => "1d",
            Self::Expired => "expired",
            Self::Leaked => "leaked",
            Self::Unused => "unused",
        }
    }

    /// One of the expiry thresholds, which [`Threshold::nearest`] gives.
    pub fn is_expiry(self) -> bool {
        matches!(self, Self::Week | Self::Day | Self::Expired)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

/// A token that expires soon or just did, with its owner.
#[derive(Clone, Debug)]
pub struct Due {
    pub token_id: i64,
    pub token: TokenName,
    pub expires_at: i64,
    pub account_id: i64,
    pub owner_id: Option<i64>,
    pub account: Username,
    pub contact_email: Option<EmailAddress>,
    pub threshold: Threshold,
    /// For [`Threshold::Leaked`]: the reporter's address (and
    /// `expires_at` holds when it was reported).
    pub reported_from: Option<String>,
}

impl Due {
    /// The notice `threshold` of `owner`'s token (`at`: see `expires_at`).
    fn of_owner(
        owner: super::Account,
        contact_email: Option<EmailAddress>,
        token_id: i64,
        token: TokenName,
        at: i64,
        threshold: Threshold,
    ) -> Self {
        Self {
            token_id,
            token,
            expires_at: at,
            account_id: owner.id,
            owner_id: owner.owner_id,
            account: owner.username,
            contact_email,
            threshold,
            reported_from: None,
        }
    }

    /// The token's owner, whom the notice's audit event is about.
    pub fn owner(&self) -> Target {
        Target {
            name: self.account.to_string(),
            id: self.account_id,
            owner_id: self.owner_id,
        }
    }

    pub fn key(&self, channel: Channel) -> NoticeKey {
        NoticeKey {
            token_id: self.token_id,
            expires_at: self.expires_at,
            threshold: self.threshold,
            channel,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NoticeKey {
    pub token_id: i64,
    pub expires_at: i64,
    pub threshold: Threshold,
    pub channel: Channel,
}

impl NoticeKey {
    /// Stable across retries: receivers may drop a delivery they have seen.
    pub fn delivery_id(&self) -> String {
        format!(
            "{}-{}-{}",
            self.token_id,
            self.expires_at,
            self.threshold.as_str()
        )
    }
}

/// Where a walk through the due tokens has got to: the last (expiry, id).
pub type Cursor = (i64, i64);

type DueRow = (
    i64,
    TokenName,
    i64,
    i64,
    Option<i64>,
    Username,
    Option<EmailAddress>,
);

/// One page of tokens due a notice.
pub struct DuePage {
    pub due: Vec<Due>,
    /// Notices of these tokens already sent.
    pub sent: HashSet<NoticeKey>,
    /// Where the next page starts, when this one was full.
    pub next: Option<Cursor>,
}

/// Where a walk's page starts: within the grace period, and at the
/// cursor where there is one. One lower bound, so that each page starts in
/// the index where the last ended: given two, the planner may take the
/// looser one, and then every page read the range from its start (at a
/// million tokens, 26 s to walk 186,470 due on PostgreSQL).
fn walk_from(now: i64, after: Option<Cursor>) -> i64 {
    let grace = now - EXPIRED_GRACE + 1;
    after.map_or(grace, |(at, _)| at.max(grace))
}

/// Up to `limit` enabled tokens of active accounts that are due a notice
/// after `after`, by expiry, with the channels whose notice is not sent yet.
/// Cost: a range of the expiry index (two weeks of tokens at most), a page
/// at a time.
pub fn due(
    conn: &mut DbConnection,
    now: i64,
    after: Option<Cursor>,
    limit: i64,
) -> Result<DuePage, OpError> {
    let mut query = tokens::table
        .inner_join(accounts::table)
        .filter(tokens::expires_at.ge(walk_from(now, after)))
        .filter(tokens::expires_at.le(now + 7 * DAY))
        .filter(tokens::enabled.eq(true))
        .filter(accounts::suspended.eq(false))
        .select((
            tokens::id,
            tokens::name,
            tokens::expires_at.assume_not_null(),
            accounts::id,
            accounts::owner_id,
            accounts::username,
            accounts::contact_email,
        ))
        .order((tokens::expires_at.asc(), tokens::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        // The tie at the cursor's time, broken by id.
        query = query.filter(
            tokens::expires_at
                .gt(at)
                .or(tokens::expires_at.eq(at).and(tokens::id.gt(id))),
        );
    }
    let rows: Vec<DueRow> = query.load(conn)?;
    let next = rows
        .last()
        .filter(|_| rows.len() as i64 == limit)
        .map(|r| (r.2, r.0));
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let sent = sent_of(conn, &ids)?;
    let due = rows
        .into_iter()
        .filter_map(
            |(token_id, token, expires_at, account_id, owner_id, account, contact_email)| {
                Some(Due {
                    threshold: Threshold::nearest(expires_at, now)?,
                    token_id,
                    token,
                    expires_at,
                    account_id,
                    owner_id,
                    account,
                    contact_email,
                    reported_from: None,
                })
            },
        )
        .collect();
    Ok(DuePage { due, sent, next })
}

/// The notices of these tokens already sent.
fn sent_of(conn: &mut DbConnection, ids: &[i64]) -> Result<HashSet<NoticeKey>, OpError> {
    Ok(expiry_notices::table
        .filter(expiry_notices::token_id.eq_any(ids))
        .filter(expiry_notices::sent.eq(true))
        .select((
            expiry_notices::token_id,
            expiry_notices::expires_at,
            expiry_notices::threshold,
            expiry_notices::channel,
        ))
        .load::<(i64, i64, String, String)>(conn)?
        .into_iter()
        .filter_map(|(token_id, expires_at, threshold, channel)| {
            let threshold = [
                Threshold::Week,
                Threshold::Day,
                Threshold::Expired,
                Threshold::Leaked,
                Threshold::Unused,
            ]
            .into_iter()
            .find(|t| t.as_str() == threshold)?;
            let channel = [Channel::Email, Channel::Webhook]
                .into_iter()
                .find(|c| c.as_str() == channel)?;
            Some(NoticeKey {
                token_id,
                expires_at,
                threshold,
                channel,
            })
        })
        .collect())
}

/// Up to `limit` tokens reported leaked within the grace period after
/// `after`, by when, with the channels whose notice is not sent yet. Cost:
/// a range of the partial `leaked_at` index.
pub fn leaked(
    conn: &mut DbConnection,
    now: i64,
    after: Option<Cursor>,
    limit: i64,
) -> Result<DuePage, OpError> {
    let mut query = tokens::table
        .inner_join(accounts::table)
        .filter(tokens::leaked_at.ge(walk_from(now, after)))
        .select((
            tokens::id,
            tokens::name,
            tokens::leaked_at.assume_not_null(),
            tokens::leaked_from,
            accounts::id,
            accounts::owner_id,
            accounts::username,
            accounts::contact_email,
        ))
        .order((tokens::leaked_at.asc(), tokens::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        // The tie at the cursor's time, broken by id.
        query = query.filter(
            tokens::leaked_at
                .gt(at)
                .or(tokens::leaked_at.eq(at).and(tokens::id.gt(id))),
        );
    }
    type Row = (
        i64,
        TokenName,
        i64,
        Option<String>,
        i64,
        Option<i64>,
        Username,
        Option<EmailAddress>,
    );
    let rows: Vec<Row> = query.load(conn)?;
    let next = rows
        .last()
        .filter(|_| rows.len() as i64 == limit)
        .map(|r| (r.2, r.0));
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let sent = sent_of(conn, &ids)?;
    let due = rows
        .into_iter()
        .map(
            |(token_id, token, at, from, account_id, owner_id, account, contact_email)| Due {
                token_id,
                token,
                expires_at: at,
                account_id,
                owner_id,
                account,
                contact_email,
                threshold: Threshold::Leaked,
                reported_from: from,
            },
        )
        .collect();
    Ok(DuePage { due, sent, next })
}

/// Up to `limit` tokens root's policy disables for disuse within a week,
/// by id after the cursor's token (its time is not used: these are walked
/// by id alone), with the channels whose notice is not sent yet.
pub fn unused(
    conn: &mut DbConnection,
    now: i64,
    after: Option<Cursor>,
    limit: i64,
) -> Result<DuePage, OpError> {
    let (soon, more) = super::policies::unused_soon(conn, now, after.map(|(_, id)| id), limit)?;
    let next = soon.last().filter(|_| more).map(|s| (s.2, s.0));
    let ids: Vec<i64> = soon.iter().map(|s| s.0).collect();
    let sent = sent_of(conn, &ids)?;
    let due = soon
        .into_iter()
        .map(|(token_id, token, at, owner, contact_email)| {
            Due::of_owner(owner, contact_email, token_id, token, at, Threshold::Unused)
        })
        .collect();
    Ok(DuePage { due, sent, next })
}

/// The row of one notice.
macro_rules! notice {
    ($key:expr) => {
        expiry_notices::table
            .filter(expiry_notices::token_id.eq($key.token_id))
            .filter(expiry_notices::expires_at.eq($key.expires_at))
            .filter(expiry_notices::threshold.eq($key.threshold.as_str()))
            .filter(expiry_notices::channel.eq($key.channel.as_str()))
    };
}

/// Claims the notice `due` on `channel` for this instance to send, if it is
/// still due: the token and its owner are read again in the claim's
/// transaction, and the notice that comes back says what is true now (the
/// owner's address, names), not what the page read before earlier sends.
/// `None`: no longer due, already sent, or another instance holds it.
pub fn claim(
    conn: &mut DbConnection,
    due: &Due,
    channel: Channel,
    now: i64,
) -> Result<Option<Due>, OpError> {
    let Some(current) = still_due(conn, due, now)? else {
        return Ok(None);
    };
    if channel == Channel::Email && current.contact_email.is_none() {
        return Ok(None);
    }
    Ok(take(conn, &current.key(channel), now)?.then_some(current))
}

/// `due` as the store has it now, when it is still due the same notice:
/// the token still there (and enabled, its owner active, for an expiry or
/// disuse notice), its expiry, leak report or disabling time unchanged and
/// still in its window.
fn still_due(conn: &mut DbConnection, due: &Due, now: i64) -> Result<Option<Due>, OpError> {
    type Current = (
        TokenName,
        bool,
        Option<i64>,
        Option<i64>,
        Option<String>,
        i64,
        Option<i64>,
        Option<i64>,
        crate::db::models::AccountRow,
        Option<EmailAddress>,
    );
    let current: Option<Current> = tokens::table
        .inner_join(accounts::table)
        .filter(tokens::id.eq(due.token_id))
        .select((
            tokens::name,
            tokens::enabled,
            tokens::expires_at,
            tokens::leaked_at,
            tokens::leaked_from,
            tokens::created_at,
            tokens::last_used_at,
            tokens::enabled_at,
            crate::db::models::AccountRow::as_select(),
            accounts::contact_email,
        ))
        .first(conn)
        .optional()?;
    let Some((
        token,
        enabled,
        expires_at,
        leaked_at,
        leaked_from,
        created,
        used,
        enabled_at,
        owner,
        contact_email,
    )) = current
    else {
        return Ok(None);
    };
    let owner = super::Account::from(owner);
    let active = enabled && !owner.suspended;
    let at = due.expires_at;
    let still = match due.threshold {
        Threshold::Week | Threshold::Day | Threshold::Expired => {
            active && expires_at == Some(at) && Threshold::nearest(at, now) == Some(due.threshold)
        }
        Threshold::Leaked => leaked_at == Some(at),
        Threshold::Unused => {
            active
                && at > now
                && super::policies::disables_at(conn, &owner, created, used, enabled_at)?
                    == Some(at)
        }
    };
    Ok(still.then_some(Due {
        reported_from: leaked_from,
        ..Due::of_owner(owner, contact_email, due.token_id, token, at, due.threshold)
    }))
}

/// Takes the notice `key` for this instance to send. `false`: it is sent,
/// or another instance holds it.
fn take(conn: &mut DbConnection, key: &NoticeKey, now: i64) -> Result<bool, OpError> {
    let row = (
        expiry_notices::token_id.eq(key.token_id),
        expiry_notices::expires_at.eq(key.expires_at),
        expiry_notices::threshold.eq(key.threshold.as_str()),
        expiry_notices::channel.eq(key.channel.as_str()),
        expiry_notices::sent.eq(false),
        expiry_notices::claimed_until.eq(now + CLAIM_LEASE),
        expiry_notices::attempts.eq(1),
    );
    macro_rules! insert {
        () => {
            diesel::insert_into(expiry_notices::table)
                .values(row)
                .on_conflict_do_nothing()
        };
    }
    let inserted = match conn {
        DbConnection::Pg(c) => insert!().execute(c)?,
        DbConnection::Sqlite(c) => insert!().execute(c)?,
    };
    if inserted == 1 {
        return Ok(true);
    }
    // A failed (or abandoned) claim is taken over by one instance: the
    // condition is checked again under the row's lock.
    let taken = diesel::update(notice!(key))
        .filter(expiry_notices::sent.eq(false))
        .filter(expiry_notices::claimed_until.le(now))
        .set((
            expiry_notices::claimed_until.eq(now + CLAIM_LEASE),
            expiry_notices::attempts.eq(expiry_notices::attempts + 1),
        ))
        .execute(conn)?;
    Ok(taken == 1)
}

/// The notice was accepted: it is never sent again. Recorded in the
/// owner's audit trail once, by the write that marks it: marking it again
/// (a write that committed after its caller stopped waiting, then tried
/// again) records nothing more.
pub fn mark_sent(
    conn: &mut DbConnection,
    due: &Due,
    channel: Channel,
    now: i64,
) -> Result<(), OpError> {
    if !mark_done(conn, due, channel)? {
        return Ok(());
    }
    let what = match due.threshold {
        Threshold::Week => "expires within 7 days",
        Threshold::Day => "expires within a day",
        Threshold::Expired => "has expired",
        Threshold::Leaked => "was reported leaked and is disabled",
        Threshold::Unused => "will be disabled for disuse by the token policy",
    };
    let to = match (channel, &due.contact_email) {
        (Channel::Email, Some(address)) => format!("by email to {address}"),
        _ => "by webhook".to_owned(),
    };
    audit::record_system(
        conn,
        now,
        AuditEvent::ExpiryNoticeSent,
        About {
            token: Some(due.token.to_string()),
            target: Some(due.owner()),
            detail: format!("the token {what}; notice sent {to}"),
        },
    )
}

/// No round tries this notice on `channel` again. `false`: it was marked
/// already.
fn mark_done(conn: &mut DbConnection, due: &Due, channel: Channel) -> Result<bool, OpError> {
    let key = due.key(channel);
    let marked = diesel::update(notice!(key))
        .filter(expiry_notices::sent.eq(false))
        .set(expiry_notices::sent.eq(true))
        .execute(conn)?;
    Ok(marked == 1)
}

/// The notice can never be sent on `channel` (`why`): it is marked done,
/// so that no round tries it again, and the reason is recorded.
pub fn mark_undeliverable(
    conn: &mut DbConnection,
    due: &Due,
    channel: Channel,
    why: &str,
    now: i64,
) -> Result<(), OpError> {
    if !mark_done(conn, due, channel)? {
        return Ok(());
    }
    audit::record_system(
        conn,
        now,
        AuditEvent::ExpiryNoticeFailed,
        About {
            token: Some(due.token.to_string()),
            target: Some(due.owner()),
            detail: format!("no {} notice: {why}", channel.as_str()),
        },
    )
}

/// The send failed: the next round (of any instance) tries again.
pub fn give_back(conn: &mut DbConnection, key: &NoticeKey) -> Result<(), OpError> {
    diesel::update(notice!(key))
        .filter(expiry_notices::sent.eq(false))
        .set(expiry_notices::claimed_until.eq(0))
        .execute(conn)?;
    Ok(())
}

/// Forgets notices no round can need again: for expiries past the grace
/// period, and for tokens that are gone.
pub fn prune(conn: &mut DbConnection, now: i64) -> Result<usize, OpError> {
    // A day's margin past the grace period: an instance whose clock is a
    // little behind must still find the row and not send again.
    let old = diesel::delete(
        expiry_notices::table.filter(expiry_notices::expires_at.le(now - EXPIRED_GRACE - DAY)),
    )
    .execute(conn)?;
    let gone = diesel::delete(
        expiry_notices::table.filter(diesel::dsl::not(diesel::dsl::exists(
            tokens::table.filter(tokens::id.eq(expiry_notices::token_id)),
        ))),
    )
    .execute(conn)?;
    Ok(old + gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walks_next_page_starts_in_the_index_where_the_last_ended() {
        let now = 1_000_000_000;
        let grace = now - EXPIRED_GRACE + 1;
        // The first page: the grace period's start.
        assert_eq!(walk_from(now, None), grace);
        // The next: the cursor's time, the one lower bound (not the grace
        // period's, which would read the range from its start each page).
        assert_eq!(walk_from(now, Some((now + DAY, 7))), now + DAY);
        // A cursor the grace period has passed meanwhile: the grace.
        assert_eq!(walk_from(now, Some((grace - 10, 7))), grace);
    }

    #[test]
    fn a_token_is_due_the_nearest_threshold_it_has_passed() {
        let now = 1_000_000_000;
        assert_eq!(Threshold::nearest(now + 8 * DAY, now), None);
        assert_eq!(
            Threshold::nearest(now + 7 * DAY, now),
            Some(Threshold::Week)
        );
        assert_eq!(
            Threshold::nearest(now + 2 * DAY, now),
            Some(Threshold::Week)
        );
        assert_eq!(
            Threshold::nearest(now + 6 * 3600, now),
            Some(Threshold::Day)
        );
        assert_eq!(Threshold::nearest(now, now), Some(Threshold::Expired));
        assert_eq!(Threshold::nearest(now - DAY, now), Some(Threshold::Expired));
        assert_eq!(Threshold::nearest(now - EXPIRED_GRACE, now), None);
    }
}
