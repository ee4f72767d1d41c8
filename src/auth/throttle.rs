//! Throttling failed sign-ins, per account and per client address, in the
//! database so that every instance counts the same failures.

use diesel::prelude::*;

use crate::db::schema::sign_in_failures;
use crate::db::DbConnection;
use crate::ops::OpError;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const MAX_PER_ACCOUNT: i32 = 5;
pub const MAX_PER_ADDRESS: i32 = 20;

pub fn account_key(username: &str) -> String {
    format!("user:{username}")
}

pub fn address_key(addr: std::net::IpAddr) -> String {
    format!("addr:{addr}")
}

/// Seconds until the caller may try again, if either key is over its limit.
pub fn blocked_for(
    conn: &mut DbConnection,
    keys: &[(String, i32)],
    now: i64,
) -> Result<Option<i64>, OpError> {
    let mut wait = None;
    for (key, limit) in keys {
        let row: Option<(i32, i64)> = sign_in_failures::table
            .find(key)
            .select((sign_in_failures::failures, sign_in_failures::window_start))
            .first(conn)
            .optional()?;
        if let Some((failures, start)) = row {
            let left = start + WINDOW_SECS - now;
            if failures >= *limit && left > 0 {
                wait = Some(wait.map_or(left, |w: i64| w.max(left)));
            }
        }
    }
    Ok(wait)
}

pub fn record_failure(conn: &mut DbConnection, keys: &[String], now: i64) -> Result<(), OpError> {
    for key in keys {
        let row: Option<(i32, i64)> = sign_in_failures::table
            .find(key)
            .select((sign_in_failures::failures, sign_in_failures::window_start))
            .first(conn)
            .optional()?;
        match row {
            Some((failures, start)) if start + WINDOW_SECS > now => {
                diesel::update(sign_in_failures::table.find(key))
                    .set(sign_in_failures::failures.eq(failures + 1))
                    .execute(conn)?;
            }
            Some(_) => {
                diesel::update(sign_in_failures::table.find(key))
                    .set((
                        sign_in_failures::failures.eq(1),
                        sign_in_failures::window_start.eq(now),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(sign_in_failures::table)
                    .values((
                        sign_in_failures::scope_key.eq(key),
                        sign_in_failures::failures.eq(1),
                        sign_in_failures::window_start.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

pub fn clear(conn: &mut DbConnection, key: &str) -> Result<(), OpError> {
    diesel::delete(sign_in_failures::table.find(key)).execute(conn)?;
    Ok(())
}
