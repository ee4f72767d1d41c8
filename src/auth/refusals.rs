//! Refusals strangers can cause in floods (refused API calls, failed
//! sign-ins), counted in memory and written in batches into one audit row
//! per address, minute and reason: ten thousand refused calls from one
//! address in a minute are one row with a count, and cost no write each.
//!
//! What a stranger chooses freely (the user name typed, an unknown token)
//! is never part of a row's key: it only joins a short sample of the names
//! tried, kept in the row's detail. IPv6 addresses count by their /64 (one
//! host's share of addresses), and every minute has at most
//! [`MAX_ROWS_PER_MINUTE`] rows; past it, refusals of that minute count into
//! one "many more" row. So a stranger's flood costs at most that many rows
//! a minute, whatever names and addresses it varies.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};

use crate::db::DbConnection;
use crate::domain::AuditEvent;
use crate::ops::audit::{self, Counted};
use crate::ops::OpError;

/// Rows one minute of refusals may add, over every reason and address.
pub const MAX_ROWS_PER_MINUTE: usize = 100;
/// Names a row remembers as a sample of those tried.
const SAMPLE: usize = 5;

#[derive(Default)]
pub struct Refusals {
    inner: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    rows: HashMap<String, Row>,
    /// The minute being counted, and the rows it has made so far (written
    /// or not): the cap holds across writes.
    minute: i64,
    minute_rows: HashSet<String>,
}

#[derive(Clone)]
struct Row {
    event: Counted,
    n: i64,
    tried: Vec<String>,
    /// More names were tried than the sample holds.
    more: bool,
}

/// How an address counts: itself for IPv4, its /64 for IPv6.
pub fn counted_address(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
    }
}

/// The row a counted event adds to: what it is, from where, in which
/// minute, and `parts` (hashed: any length in, a fixed length stored).
/// `parts` must be things a stranger cannot vary at will.
fn bucket(event: &str, ip: Option<&str>, at: i64, parts: &[&str]) -> String {
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

/// A counted event from `client`, keyed by its address, minute and
/// `parts`, at the request `request_id`; the caller adds who and what it
/// concerns.
pub fn counted(
    event: AuditEvent,
    at: i64,
    client: Option<IpAddr>,
    parts: &[&str],
    detail: String,
    request_id: String,
) -> Counted {
    let ip = client.map(counted_address);
    Counted {
        bucket: bucket(event.as_str(), ip.as_deref(), at, parts),
        at,
        event,
        actor: None,
        token: None,
        target: None,
        ip,
        request_id: Some(request_id),
        detail,
        tried: None,
    }
}

impl Refusals {
    pub fn record(&self, event: Counted) {
        let mut pending = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // A later minute starts a new count; an event stamped a little
        // earlier (a slow request) counts against the current one, so that
        // interleaved minutes cannot reset the cap again and again.
        let minute = event.at / 60;
        if minute > pending.minute {
            pending.minute = minute;
            pending.minute_rows.clear();
        }
        let event = if pending.minute_rows.contains(&event.bucket)
            || pending.minute_rows.len() < MAX_ROWS_PER_MINUTE
        {
            event
        } else {
            Counted {
                // The current minute's: a late event joins it too.
                bucket: bucket(
                    "overflow",
                    None,
                    pending.minute * 60,
                    &[event.event.as_str()],
                ),
                ip: None,
                actor: None,
                token: None,
                target: None,
                request_id: None,
                detail: "many more, from many addresses".to_owned(),
                ..event
            }
        };
        // The overflow row is one more row of the minute, over the cap.
        pending.minute_rows.insert(event.bucket.clone());
        let tried = event.tried.clone();
        let row = pending
            .rows
            .entry(event.bucket.clone())
            .or_insert_with(|| Row {
                event,
                n: 0,
                tried: Vec::new(),
                more: false,
            });
        row.n += 1;
        if let Some(name) = tried {
            if !row.tried.contains(&name) {
                if row.tried.len() < SAMPLE {
                    row.tried.push(name);
                } else {
                    row.more = true;
                }
            }
        }
    }

    /// Rows counted and not written yet.
    pub fn pending(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .rows
            .len()
    }

    /// Takes the rows counted, to be written; see [`Refusals::put_back`].
    pub fn take(&self) -> RefusalBatch {
        RefusalBatch(std::mem::take(
            &mut self.inner.lock().unwrap_or_else(|p| p.into_inner()).rows,
        ))
    }

    /// Counts again rows whose write failed (their transaction wrote
    /// nothing), with what was counted into the same rows meanwhile.
    pub fn put_back(&self, batch: RefusalBatch) {
        let mut pending = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (bucket, old) in batch.0 {
            match pending.rows.get_mut(&bucket) {
                Some(row) => {
                    row.n += old.n;
                    for name in old.tried {
                        if row.tried.contains(&name) {
                            continue;
                        }
                        if row.tried.len() < SAMPLE {
                            row.tried.push(name);
                        } else {
                            row.more = true;
                        }
                    }
                    row.more |= old.more;
                }
                None => {
                    pending.rows.insert(bucket, old);
                }
            }
        }
    }

    /// Writes what was counted since the last write; what cannot be
    /// written is put back.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<usize, OpError> {
        let batch = self.take();
        batch
            .write(conn)
            .inspect_err(|_| self.put_back(batch.clone()))
    }
}

/// Rows taken out of memory to be written.
#[derive(Clone, Default)]
pub struct RefusalBatch(HashMap<String, Row>);

impl RefusalBatch {
    /// No refusal was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the rows and returns how many. Run in a transaction, it
    /// writes all or nothing, and may be run again after a failure.
    pub fn write(&self, conn: &mut DbConnection) -> Result<usize, OpError> {
        for row in self.0.values() {
            let mut event = row.event.clone();
            if !row.tried.is_empty() {
                event.detail = format!(
                    "{}; names tried: {}{}",
                    event.detail,
                    row.tried.join(", "),
                    if row.more { ", and others" } else { "" }
                );
            }
            audit::add_counted(conn, &event, row.n)?;
        }
        Ok(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(ip: &str, name: &str, at: i64) -> Counted {
        Counted {
            tried: Some(name.to_owned()),
            ..counted(
                AuditEvent::ApiRefused,
                at,
                Some(ip.parse().unwrap()),
                &["unknown token"],
                "unknown token".to_owned(),
                "-".to_owned(),
            )
        }
    }

    fn buckets(r: &Refusals) -> HashMap<String, (i64, Vec<String>)> {
        let p = r.inner.lock().unwrap();
        p.rows
            .iter()
            .map(|(k, row)| (k.clone(), (row.n, row.tried.clone())))
            .collect()
    }

    #[test]
    fn names_a_stranger_varies_share_one_row_with_a_sample() {
        let r = Refusals::default();
        for i in 0..1000 {
            r.record(refusal("198.51.100.7", &format!("user{i}"), 600));
        }
        let rows = buckets(&r);
        assert_eq!(rows.len(), 1);
        let (n, tried) = rows.values().next().unwrap();
        assert_eq!(*n, 1000);
        assert_eq!(tried.len(), SAMPLE);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(
            counted_address("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            counted_address("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
        let r = Refusals::default();
        for i in 0..500 {
            r.record(refusal(&format!("2001:db8:1:2::{i:x}"), "x", 600));
        }
        assert_eq!(buckets(&r).len(), 1);
    }

    #[test]
    fn a_minute_makes_at_most_the_cap_of_rows_plus_one() {
        let r = Refusals::default();
        for i in 0..10_000u32 {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            r.record(refusal(&ip, "x", 600));
        }
        let rows = buckets(&r);
        assert_eq!(rows.len(), MAX_ROWS_PER_MINUTE + 1);
        assert_eq!(rows.values().map(|(n, _)| n).sum::<i64>(), 10_000);
        // An event of the minute before, arriving late, does not reset it.
        r.record(refusal("10.9.9.9", "x", 599));
        assert_eq!(buckets(&r).len(), MAX_ROWS_PER_MINUTE + 1);
        // The next minute starts afresh.
        r.record(refusal("10.0.0.1", "x", 660));
        assert_eq!(buckets(&r).len(), MAX_ROWS_PER_MINUTE + 2);
    }

    #[test]
    fn rows_put_back_add_to_the_same_rows_counted_meanwhile() {
        let r = Refusals::default();
        r.record(refusal("198.51.100.7", "alice", 600));
        let failed = r.take();
        assert!(buckets(&r).is_empty());
        r.record(refusal("198.51.100.7", "bob", 600));
        r.put_back(failed);
        let rows = buckets(&r);
        assert_eq!(rows.len(), 1);
        let (n, tried) = rows.values().next().unwrap();
        assert_eq!(*n, 2);
        assert_eq!(tried.len(), 2);
    }
}
