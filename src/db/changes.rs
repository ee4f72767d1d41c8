//! Knowing when tokens or accounts changed, so that what was read from them
//! may be kept in memory (the token cache) and dropped the moment it is
//! stale.
//!
//! A *generation* number goes up on every change:
//! - at once, in this process, after each write transaction ([`super::Db::write`]);
//! - on SQLite, when another process (the `whm-tokens` command, another
//!   instance on the same file) changed a token or an account: triggers bump
//!   a counter row, and [`Changes::current`] reads it (one read of one row on
//!   a connection kept for it, no pool, no thread hop) at most every
//!   [`SQLITE_RECHECK`];
//! - on PostgreSQL, when another instance or process changed one: triggers
//!   send `NOTIFY whm_tokens_changes` at commit, and a listener thread polls
//!   for it every [`POLL`].
//!
//! When changes by others cannot be seen (the listener is not connected, or
//! the counter cannot be read), [`Changes::current`] says `None` and nothing
//! may be served from memory.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use super::connection::{Backend, DbConnection};

/// How often the PostgreSQL listener looks for notifications.
pub const POLL: Duration = Duration::from_millis(5);
/// How often the listener asks the server for an answer: a notification
/// sent before the question arrives before the answer, so every change
/// committed before it was asked has been seen once it is answered.
/// Reading alone proves nothing: a connection gone silent reads as one
/// with nothing to say.
pub const ASK_EVERY: Duration = Duration::from_millis(20);
/// A listener whose last answered question was asked this long ago is
/// taken as cut off or stuck, and nothing is served from memory until it
/// is back: a change is seen by every instance within this (or that
/// instance serves nothing from memory), which is what the command's
/// [`SETTLE`] waits for.
pub const LISTENER_STALE: Duration = SETTLE;
/// How long one read of SQLite's change counter stands for calls that
/// follow it.
pub const SQLITE_RECHECK: Duration = Duration::from_millis(2);
/// How long a process that changed something waits before it ends, so
/// that every instance has seen the change (see `whm-tokens` commands).
pub const SETTLE: Duration = Duration::from_millis(50);
/// The channel the triggers notify.
pub const CHANNEL: &str = "whm_tokens_changes";

diesel::table! {
    /// SQLite only: a counter that triggers on `tokens` and `accounts` bump.
    auth_changes (id) {
        id -> BigInt,
        version -> BigInt,
    }
}

pub struct Changes {
    generation: AtomicU64,
    tracking: Tracking,
}

enum Tracking {
    Sqlite {
        url: String,
        conn: Mutex<Option<SqliteConnection>>,
        seen: AtomicI64,
        /// When the counter was last read (µs since `epoch`).
        checked_us: AtomicU64,
        epoch: Instant,
    },
    Postgres {
        /// Whether the listener is connected and listening.
        listening: AtomicBool,
        /// When the listener asked the question last answered (µs since
        /// `epoch`): every change committed before it has been seen. Past
        /// [`LISTENER_STALE`] (a peer gone silent, a stuck thread), nothing
        /// is served from memory.
        asked_us: AtomicU64,
        epoch: Instant,
    },
}

impl Changes {
    pub fn new(url: &str, backend: Backend) -> Arc<Self> {
        let tracking = match backend {
            Backend::Sqlite => Tracking::Sqlite {
                url: super::manager::sqlite_path(url).to_owned(),
                conn: Mutex::new(None),
                seen: AtomicI64::new(i64::MIN),
                checked_us: AtomicU64::new(0),
                epoch: Instant::now(),
            },
            Backend::Postgres => Tracking::Postgres {
                listening: AtomicBool::new(false),
                asked_us: AtomicU64::new(0),
                epoch: Instant::now(),
            },
        };
        Arc::new(Self {
            generation: AtomicU64::new(1),
            tracking,
        })
    }

    /// Marks everything read so far as stale.
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The generation now, having looked for changes by other processes;
    /// `None` when those cannot be seen.
    pub fn current(&self) -> Option<u64> {
        match &self.tracking {
            Tracking::Postgres {
                listening,
                asked_us,
                epoch,
            } => {
                let age_us = (epoch.elapsed().as_micros() as u64)
                    .saturating_sub(asked_us.load(Ordering::Acquire));
                (listening.load(Ordering::Acquire) && age_us < LISTENER_STALE.as_micros() as u64)
                    .then(|| self.generation.load(Ordering::Acquire))
            }
            Tracking::Sqlite {
                url,
                conn,
                seen,
                checked_us,
                epoch,
            } => {
                // Under load, one read of the counter serves the calls of the
                // next moment.
                let now_us = epoch.elapsed().as_micros() as u64 + 1;
                let last = checked_us.load(Ordering::Acquire);
                if last != 0 && now_us.saturating_sub(last) < SQLITE_RECHECK.as_micros() as u64 {
                    return Some(self.generation.load(Ordering::Acquire));
                }
                let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                if guard.is_none() {
                    *guard = open_sqlite(url);
                }
                let c = guard.as_mut()?;
                // `load`, not `first`: a query without LIMIT stays prepared.
                let version = match auth_changes::table
                    .select(auth_changes::version)
                    .load::<i64>(c)
                {
                    Ok(v) => v.first().copied()?,
                    Err(_) => {
                        *guard = None;
                        return None;
                    }
                };
                if seen.swap(version, Ordering::AcqRel) != version {
                    self.bump();
                }
                checked_us.store(now_us, Ordering::Release);
                Some(self.generation.load(Ordering::Acquire))
            }
        }
    }

    /// On PostgreSQL, starts the listener thread; it stops when `self` is
    /// dropped. Nothing to do on SQLite.
    pub fn start_listener(self: &Arc<Self>, url: &str) {
        if let Tracking::Postgres { .. } = self.tracking {
            let weak = Arc::downgrade(self);
            let url = url.to_owned();
            std::thread::Builder::new()
                .name("change-listener".into())
                .spawn(move || listen(weak, url))
                .expect("spawn the change listener");
        }
    }
}

fn open_sqlite(path: &str) -> Option<SqliteConnection> {
    use diesel::connection::SimpleConnection;
    let mut c = SqliteConnection::establish(path).ok()?;
    // Reads in WAL mode do not wait on writers; bound the rare wait anyway.
    c.batch_execute("PRAGMA busy_timeout = 100;").ok()?;
    Some(c)
}

fn set_listening(changes: &Changes, on: bool) {
    if let Tracking::Postgres { listening, .. } = &changes.tracking {
        listening.store(on, Ordering::Release);
    }
    // Whatever was read while changes could not be seen is suspect.
    changes.bump();
}

/// Notes that every change committed before `asked` has been seen.
fn heartbeat(changes: &Changes, asked: Instant) {
    if let Tracking::Postgres {
        asked_us, epoch, ..
    } = &changes.tracking
    {
        let at = asked.saturating_duration_since(*epoch).as_micros() as u64;
        asked_us.fetch_max(at, Ordering::AcqRel);
    }
}

/// The listener's life: connect, LISTEN, poll; on any failure stop serving
/// from memory, wait, and start again. It holds the [`Changes`] only for a
/// moment at a time, so it ends soon after its owner is dropped.
fn listen(changes: Weak<Changes>, url: String) {
    let mut logged_down = false;
    loop {
        match listen_once(&changes, &url) {
            Ok(()) => return,
            Err(e) => {
                let Some(strong) = changes.upgrade() else {
                    return;
                };
                set_listening(&strong, false);
                if !logged_down {
                    tracing::warn!(error = %e, "change listener disconnected; tokens are read from the database until it is back");
                    logged_down = true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
        if changes.strong_count() == 0 {
            return;
        }
    }
}

/// Returns `Ok` when the owner is gone, `Err` when the connection failed.
fn listen_once(weak: &Weak<Changes>, url: &str) -> anyhow::Result<()> {
    // Keepalives: a peer gone silent is noticed in seconds, not hours.
    // Named, so that it can be told apart in pg_stat_activity.
    let settings = "keepalives_idle=5&keepalives_interval=1&keepalives_count=3\
                    &application_name=whm-tokens-listener";
    let url = if url.contains('?') {
        format!("{url}&{settings}")
    } else {
        format!("{url}?{settings}")
    };
    let mut conn = match super::manager::establish(&url)? {
        DbConnection::Pg(c) => c,
        DbConnection::Sqlite(_) => anyhow::bail!("not a PostgreSQL URL"),
    };
    let asked = Instant::now();
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    {
        let Some(changes) = weak.upgrade() else {
            return Ok(());
        };
        heartbeat(&changes, asked);
        set_listening(&changes, true);
    }
    let mut last_asked = asked;
    loop {
        std::thread::sleep(POLL);
        // Asked before the notifications are drained, so that those the
        // answer brought along are drained with them.
        let answered = if last_asked.elapsed() >= ASK_EVERY {
            let asked = Instant::now();
            ping(&mut conn)?;
            last_asked = asked;
            Some(asked)
        } else {
            None
        };
        let mut changed = false;
        for n in conn.notifications_iter() {
            n?;
            changed = true;
        }
        let Some(changes) = weak.upgrade() else {
            return Ok(());
        };
        if changed {
            changes.bump();
        }
        if let Some(asked) = answered {
            heartbeat(&changes, asked);
        }
    }
}

fn ping(conn: &mut PgConnection) -> QueryResult<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute("SELECT 1")
}
