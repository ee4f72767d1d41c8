//! Throttling password guesses, in the database so that every instance
//! counts the same attempts.
//!
//! Three counters, each a bounded key (a user name is at most 16
//! characters, an address is an IPv4 address or an IPv6 /64), each over a
//! window of [`WINDOW_SECS`]:
//! - **pair**: one account from one address, [`MAX_PER_PAIR`];
//! - **account**: one account from anywhere, [`MAX_PER_ACCOUNT`], which
//!   holds back guessing spread over many addresses;
//! - **address**: one address whatever the account, [`MAX_PER_ADDRESS`].
//!
//! The account and address limits would let a stranger lock the owner out
//! (or, behind a proxy, everyone out): a browser that has signed in to the
//! account before carries a signed *known-device* cookie, and for it only
//! the pair limit counts. A one-time sign-in link is not a password and is
//! never throttled.
//!
//! An attempt is *reserved* before the password is checked, with an atomic
//! increment, so a burst of parallel attempts cannot all slip past a limit;
//! an attempt already over a limit is refused on a read alone and writes
//! nothing; a successful sign-in gives its reservation back. Expired
//! windows are deleted as attempts come in, so the table holds at most the
//! keys of the last window.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::db::schema::sign_in_failures::dsl::{
    failures, scope_key, sign_in_failures, window_start,
};
use crate::db::DbConnection;
use crate::domain::Username;
use crate::ops::OpError;

pub const WINDOW_SECS: i64 = 15 * 60;
/// Failed attempts at one account from one address, per window.
pub const MAX_PER_PAIR: i32 = 5;
/// Failed attempts at one account from anywhere, per window.
pub const MAX_PER_ACCOUNT: i32 = 20;
/// Failed attempts from one address, whatever the account, per window.
pub const MAX_PER_ADDRESS: i32 = 20;

/// The counters one attempt touches.
#[derive(Clone, Debug)]
pub struct Attempt {
    keys: Vec<(String, i32)>,
    /// The key a success clears (the others it only gives back).
    pair: Option<String>,
}

/// How an address is counted: IPv4 as it is, IPv6 by its /64 (one
/// customer's network, in which every address is theirs to use).
fn address_key(addr: Option<IpAddr>) -> String {
    match addr.map(|a| a.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(v4) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

impl Attempt {
    /// A password guess for `username` (`None`: a name no account can
    /// have, which counts against the address only) from `addr`.
    /// `known_device`: the browser signed in to this account before.
    pub fn new(username: Option<&Username>, addr: Option<IpAddr>, known_device: bool) -> Self {
        let address = address_key(addr);
        let pair = username.map(|u| format!("pair:{u}@{address}"));
        let mut keys = Vec::with_capacity(3);
        if let Some(pair) = &pair {
            keys.push((pair.clone(), MAX_PER_PAIR));
        }
        if !known_device {
            if let Some(u) = username {
                keys.push((format!("acct:{u}"), MAX_PER_ACCOUNT));
            }
            keys.push((format!("addr:{address}"), MAX_PER_ADDRESS));
        }
        Self { keys, pair }
    }

    /// Guesses at the second factor (a TOTP or recovery code) after the
    /// right password: counted per account.
    pub fn second_factor(username: &Username) -> Self {
        let key = format!("2fa:{username}");
        Self {
            keys: vec![(key.clone(), MAX_PER_PAIR)],
            pair: Some(key),
        }
    }

    /// Guesses at a signed-in account's current password (changing it):
    /// counted per account, since the session already tells who it is.
    pub fn current_password(username: &Username) -> Self {
        let key = format!("current:{username}");
        Self {
            keys: vec![(key.clone(), MAX_PER_PAIR)],
            pair: Some(key),
        }
    }
}

/// How long an attempt must wait because a limit is already reached, read
/// without writing: an attempt refused here costs no write at all.
pub fn already_blocked(
    conn: &mut DbConnection,
    attempt: &Attempt,
    now: i64,
) -> Result<Option<i64>, OpError> {
    let mut wait: Option<i64> = None;
    for (key, limit) in &attempt.keys {
        let row: Option<(i32, i64)> = sign_in_failures
            .filter(scope_key.eq(key))
            .filter(window_start.gt(now - WINDOW_SECS))
            .select((failures, window_start))
            .load(conn)?
            .pop();
        if let Some((count, start)) = row {
            if count >= *limit {
                let left = (start + WINDOW_SECS - now).max(1);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
    }
    Ok(wait)
}

/// [`reserve`] in a transaction of its own, off the async threads.
pub async fn reserve_in(
    db: &crate::db::Db,
    attempt: &Attempt,
    now: i64,
) -> Result<Option<i64>, OpError> {
    let attempt = attempt.clone();
    db.write_bookkeeping(move |conn| reserve(conn, &attempt, now))
        .await
}

/// A try, reserved against the throttle: first asked on a read alone, so
/// that a client already over its limit, however often it asks, takes no
/// write lock; then reserved in a write of its own. The wait left, if it
/// is refused.
pub async fn reserve_unless_blocked(
    db: &crate::db::Db,
    attempt: &Attempt,
    now: i64,
) -> Result<Option<i64>, OpError> {
    let check = attempt.clone();
    let blocked = db
        .read(move |conn| already_blocked(conn, &check, now))
        .await?;
    match blocked {
        Some(wait) => Ok(Some(wait)),
        None => reserve_in(db, attempt, now).await,
    }
}

/// [`succeeded`] in a transaction of its own, off the async threads.
pub async fn succeeded_in(db: &crate::db::Db, attempt: Attempt) -> Result<(), OpError> {
    db.write_bookkeeping(move |conn| succeeded(conn, &attempt))
        .await
}

/// Counts the attempt. Returns how many seconds the caller must wait when
/// it is over a limit (the attempt must then not be tried), or `None`.
pub fn reserve(
    conn: &mut DbConnection,
    attempt: &Attempt,
    now: i64,
) -> Result<Option<i64>, OpError> {
    if let Some(wait) = already_blocked(conn, attempt, now)? {
        return Ok(Some(wait));
    }
    // Every expired window, not only these keys': the table stays as small
    // as the last window's attempts.
    diesel::delete(sign_in_failures.filter(window_start.le(now - WINDOW_SECS))).execute(conn)?;
    let mut wait: Option<i64> = None;
    for (key, limit) in &attempt.keys {
        // One atomic statement per backend: read-then-write would lose
        // increments under concurrency.
        macro_rules! bump {
            () => {
                diesel::insert_into(sign_in_failures)
                    .values((scope_key.eq(key), failures.eq(1), window_start.eq(now)))
                    .on_conflict(scope_key)
                    .do_update()
                    .set(failures.eq(failures + 1))
            };
        }
        match conn {
            DbConnection::Pg(c) => bump!().execute(c)?,
            DbConnection::Sqlite(c) => bump!().execute(c)?,
        };
        let (count, start): (i32, i64) = sign_in_failures
            .filter(scope_key.eq(key))
            .select((failures, window_start))
            .first(conn)?;
        if count > *limit {
            let left = (start + WINDOW_SECS - now).max(1);
            wait = Some(wait.map_or(left, |w| w.max(left)));
        }
    }
    Ok(wait)
}

/// Gives back a successful attempt's reservation: the account's failures
/// from that address are forgotten, and the attempt no longer counts
/// against the address or the account.
pub fn succeeded(conn: &mut DbConnection, attempt: &Attempt) -> Result<(), OpError> {
    if let Some(pair) = &attempt.pair {
        diesel::delete(sign_in_failures.filter(scope_key.eq(pair))).execute(conn)?;
    }
    for (key, _) in &attempt.keys {
        if Some(key) != attempt.pair.as_ref() {
            diesel::update(sign_in_failures.filter(scope_key.eq(key)))
                .set(failures.eq(failures - 1))
                .execute(conn)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a = address_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = address_key(Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, address_key(Some("2001:db8:1:3::1".parse().unwrap())));
        assert_eq!(
            address_key(Some("::ffff:203.0.113.9".parse().unwrap())),
            "203.0.113.9"
        );
    }

    #[test]
    fn a_known_device_counts_only_against_its_pair() {
        let bob = Username::parse("bob").unwrap();
        let addr = Some("203.0.113.9".parse().unwrap());
        let stranger = Attempt::new(Some(&bob), addr, false);
        assert_eq!(stranger.keys.len(), 3);
        let known = Attempt::new(Some(&bob), addr, true);
        assert_eq!(
            known.keys,
            [("pair:bob@203.0.113.9".to_owned(), MAX_PER_PAIR)]
        );
        let nobody = Attempt::new(None, addr, false);
        assert_eq!(
            nobody.keys,
            [("addr:203.0.113.9".to_owned(), MAX_PER_ADDRESS)]
        );
    }
}
