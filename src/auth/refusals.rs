//! Refusals strangers can cause in floods (refused API calls), counted in
//! memory and written in batches into one audit row per address, minute
//! and reason: ten thousand refused calls from one address in a minute are
//! one row with a count, and cost no write each.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::ops::audit::{self, Counted};
use crate::ops::OpError;

/// Distinct rows kept between writes; past it, refusals count into one
/// row per minute ("many more").
const MAX_PENDING: usize = 10_000;

#[derive(Default)]
pub struct Refusals {
    pending: Mutex<HashMap<String, (Counted, i64)>>,
}

/// The row a counted event adds to: what it is, from where, in which
/// minute, and why (hashed: any length in, a fixed length stored).
pub fn bucket(event: &str, ip: Option<&str>, at: i64, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in [event, ip.unwrap_or("-"), &(at / 60).to_string()]
        .into_iter()
        .chain(parts.iter().copied())
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// A counted event with its bucket (per address, minute and `parts`), at
/// the current request; the caller adds who and what it concerns.
pub fn counted(
    event: &'static str,
    at: i64,
    ip: Option<String>,
    parts: &[&str],
    detail: String,
) -> Counted {
    Counted {
        bucket: bucket(event, ip.as_deref(), at, parts),
        at,
        event,
        actor: None,
        token: None,
        target: None,
        ip,
        request_id: Some(crate::web::request::current_id()),
        detail,
    }
}

impl Refusals {
    pub fn record(&self, event: Counted) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, n)) = pending.get_mut(&event.bucket) {
            *n += 1;
            return;
        }
        if pending.len() >= MAX_PENDING {
            let overflow = Counted {
                bucket: bucket("overflow", None, event.at, &[event.event]),
                ip: None,
                actor: None,
                token: None,
                target: None,
                request_id: None,
                detail: "many more, from many addresses".to_owned(),
                ..event
            };
            pending
                .entry(overflow.bucket.clone())
                .or_insert((overflow, 0))
                .1 += 1;
            return;
        }
        pending.insert(event.bucket.clone(), (event, 1));
    }

    /// Writes what was counted since the last write.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<usize, OpError> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let rows = pending.len();
        for (event, n) in pending.into_values() {
            audit::add_counted(conn, &event, n)?;
        }
        Ok(rows)
    }
}
