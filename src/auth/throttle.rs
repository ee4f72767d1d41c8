//! Throttling sign-ins, per (account, address) and per address, in the
//! database so that every instance counts the same attempts.
//!
//! An attempt is *reserved* before the password is checked, with an atomic
//! increment, so a burst of parallel attempts cannot all slip past the
//! limit; a successful sign-in gives its reservation back.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::db::schema::sign_in_failures::dsl::{
    failures, scope_key, sign_in_failures, window_start,
};
use crate::db::DbConnection;
use crate::ops::OpError;

pub const WINDOW_SECS: i64 = 15 * 60;
/// Failed attempts at one account from one address, per window.
pub const MAX_PER_ACCOUNT: i32 = 5;
/// Failed attempts from one address, whatever the account, per window.
pub const MAX_PER_ADDRESS: i32 = 20;

/// The counters one attempt touches. Keying the account limit by address
/// too means a stranger's bad guesses cannot lock the owner out.
#[derive(Clone)]
pub struct Attempt {
    account: String,
    address: String,
}

impl Attempt {
    pub fn new(username: &str, addr: Option<IpAddr>) -> Self {
        let addr = addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        Self {
            account: format!("user:{username}@{addr}"),
            address: format!("addr:{addr}"),
        }
    }

    fn keys(&self) -> [(&str, i32); 2] {
        [
            (&self.account, MAX_PER_ACCOUNT),
            (&self.address, MAX_PER_ADDRESS),
        ]
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
    for (key, limit) in attempt.keys() {
        let row: Option<(i32, i64)> = sign_in_failures
            .filter(scope_key.eq(key))
            .filter(window_start.gt(now - WINDOW_SECS))
            .select((failures, window_start))
            .load(conn)?
            .pop();
        if let Some((count, start)) = row {
            if count >= limit {
                let left = (start + WINDOW_SECS - now).max(1);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
    }
    Ok(wait)
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
    let mut wait: Option<i64> = None;
    for (key, limit) in attempt.keys() {
        diesel::delete(
            sign_in_failures
                .filter(scope_key.eq(key))
                .filter(window_start.le(now - WINDOW_SECS)),
        )
        .execute(conn)?;
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
        if count > limit {
            let left = (start + WINDOW_SECS - now).max(1);
            wait = Some(wait.map_or(left, |w| w.max(left)));
        }
    }
    Ok(wait)
}

/// Gives back a successful attempt's reservation and forgets the account's
/// failures from that address.
pub fn succeeded(conn: &mut DbConnection, attempt: &Attempt) -> Result<(), OpError> {
    diesel::delete(sign_in_failures.filter(scope_key.eq(&attempt.account))).execute(conn)?;
    diesel::update(sign_in_failures.filter(scope_key.eq(&attempt.address)))
        .set(failures.eq(failures - 1))
        .execute(conn)?;
    Ok(())
}
