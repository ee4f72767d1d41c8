//! Opening connections: the backend the URL names and nothing else, with
//! the real cause of a failure kept, and an outage logged once rather than
//! once per request.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

use super::connection::{Backend, DbConnection};
use super::faults::Unavailable;

const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/// The SQLite file a URL names: a bare path or `sqlite://path`.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// Opens one connection of the kind the URL names. An SQLite file's folder
/// is created if missing.
pub fn establish(url: &str) -> Result<DbConnection, Unavailable> {
    match Backend::of_url(url) {
        Backend::Postgres => PgConnection::establish(&with_defaults(url))
            .map(DbConnection::Pg)
            .map_err(|e| Unavailable(format!("could not connect to PostgreSQL: {e}"))),
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(parent) = Path::new(path).parent() {
                if !parent.as_os_str().is_empty() {
                    crate::private_files::create_dir(parent).map_err(|e| {
                        Unavailable(format!(
                            "could not create the folder {}: {e}",
                            parent.display()
                        ))
                    })?;
                }
            }
            let new_file = path != ":memory:" && !Path::new(path).exists();
            let mut conn = SqliteConnection::establish(path).map_err(|e| {
                Unavailable(format!("could not open the SQLite database {path}: {e}"))
            })?;
            // A file SQLite has just made is made private before anything is
            // written to it (its -wal and -shm files then follow its mode).
            if new_file {
                crate::private_files::make_private(Path::new(path)).map_err(|e| {
                    Unavailable(format!("could not protect the SQLite database {path}: {e}"))
                })?;
            }
            // Switching a new file to WAL takes a lock that SQLite does not
            // wait for: two processes opening a fresh store together see
            // "database is locked". Try again for a while before failing.
            let mut tries = 0;
            loop {
                match conn.batch_execute(SQLITE_PRAGMAS) {
                    Ok(()) => break,
                    // Diesel reports SQLITE_BUSY as an unknown database
                    // error with SQLite's own message: there is no kind to
                    // match, only the text.
                    Err(e) if e.to_string().contains("locked") && tries < 100 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(e) => {
                        return Err(Unavailable(format!(
                            "could not set up the SQLite database {path}: {e}"
                        )))
                    }
                }
            }
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// What a PostgreSQL URL gets unless it says otherwise:
/// - `connect_timeout=2`: libpq waits for an unreachable host as long as
///   the OS lets it; bound it so that an outage answers quickly;
/// - `target_session_attrs=read-write` when it names several hosts (a
///   failover pair): connect to whichever is the primary now, never to a
///   standby, where every write would fail.
fn with_defaults(url: &str) -> String {
    fn add(url: &mut String, setting: &str) {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(setting);
    }
    let mut url = url.to_owned();
    if !url.contains("connect_timeout=") {
        add(&mut url, "connect_timeout=2");
    }
    if names_several_hosts(&url) && !url.contains("target_session_attrs=") {
        add(&mut url, "target_session_attrs=read-write");
    }
    url
}

/// Whether a `postgres://` URL lists several hosts (`host1,host2`).
fn names_several_hosts(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    hosts.contains(',')
}

/// A pooled connection and whether it was found dead (the pool then drops
/// it instead of handing it out again).
pub struct Pooled {
    pub conn: DbConnection,
    pub broken: bool,
}

/// What the pool knows of the database's reachability, shared with [`super::Db`].
#[derive(Default)]
pub struct Health {
    down: AtomicBool,
    /// Unix milliseconds of the last failed attempt to connect.
    last_failure_ms: AtomicI64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Health {
    /// Whether a connection attempt failed within the last `window_ms` with
    /// none succeeding since: callers then fail at once instead of queueing.
    pub fn recently_down(&self, window_ms: i64) -> bool {
        self.down.load(Ordering::Acquire)
            && now_ms() - self.last_failure_ms.load(Ordering::Acquire) < window_ms
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    fn failed(&self, cause: &str) {
        self.last_failure_ms.store(now_ms(), Ordering::Release);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::error!(cause, "database unavailable");
        }
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("database reachable again");
        }
    }
}

pub struct Manager {
    url: String,
    health: Arc<Health>,
    /// Connections go through a pooler in transaction mode: a prepared
    /// statement would be looked for on another server connection.
    behind_pooler: bool,
}

impl Manager {
    pub fn new(url: &str, health: Arc<Health>, behind_pooler: bool) -> Self {
        Self {
            url: url.to_owned(),
            health,
            behind_pooler,
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = Unavailable;

    fn connect(&self) -> Result<Pooled, Unavailable> {
        match establish(&self.url) {
            Ok(mut conn) => {
                if self.behind_pooler {
                    use diesel::connection::{CacheSize, Connection};
                    if let DbConnection::Pg(c) = &mut conn {
                        c.set_prepared_statement_cache_size(CacheSize::Disabled);
                    }
                }
                self.health.succeeded();
                Ok(Pooled {
                    conn,
                    broken: false,
                })
            }
            Err(e) => {
                self.health.failed(&e.0);
                Err(e)
            }
        }
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), Unavailable> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(|e| Unavailable(e.to_string()))
    }

    /// Dropped rather than lent again: found dead, given back by a thread
    /// that panicked (perhaps mid-transaction), or left in a transaction
    /// that could not be ended.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.broken
            || std::thread::panicking()
            || match &mut conn.conn {
                DbConnection::Pg(c) => c.is_broken(),
                DbConnection::Sqlite(c) => c.is_broken(),
            }
    }
}

/// r2d2 would log every failed attempt; [`Health`] logs an outage once.
#[derive(Debug)]
pub struct QuietErrors;

impl diesel::r2d2::HandleError<Unavailable> for QuietErrors {
    fn handle_error(&self, _: Unavailable) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_naming_several_hosts_connects_only_to_the_primary() {
        assert_eq!(
            with_defaults("postgres://u:p@db1:5432,db2:5432/whm"),
            "postgres://u:p@db1:5432,db2:5432/whm?connect_timeout=2&target_session_attrs=read-write"
        );
        assert_eq!(
            with_defaults("postgres://db1,db2/whm?target_session_attrs=any"),
            "postgres://db1,db2/whm?target_session_attrs=any&connect_timeout=2"
        );
    }

    #[test]
    fn a_url_naming_one_host_gets_only_a_connect_timeout() {
        assert_eq!(
            with_defaults("postgres://u:p,q@db1/whm?options=a,b"),
            "postgres://u:p,q@db1/whm?options=a,b&connect_timeout=2"
        );
        assert_eq!(
            with_defaults("postgres://db1/whm?connect_timeout=5"),
            "postgres://db1/whm?connect_timeout=5"
        );
    }
}
