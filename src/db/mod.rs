//! The store: one Diesel connection type over PostgreSQL and SQLite, a
//! pool, migrations, and helpers that run blocking Diesel work off the
//! async threads.

pub mod backup;
pub mod changes;
pub mod connection;
pub mod faults;
pub mod manager;
pub mod models;
pub mod schema;
pub mod sql_types;

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use changes::Changes;
pub use connection::{columns, snapshot, transaction, Backend, DbConnection};
pub use faults::{classify, Unavailable};
pub use manager::establish;
use manager::{Health, Manager, QuietErrors};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Whether migrations this binary knows are not applied to the store yet
/// (an older binary's store, or one restored from before an upgrade).
pub fn migrations_pending(conn: &mut DbConnection) -> anyhow::Result<bool> {
    let pending = match conn {
        DbConnection::Pg(c) => c.has_pending_migration(PG_MIGRATIONS),
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))
}

/// The migrations this binary knows for `backend`, by version.
pub fn known_migrations(backend: Backend) -> Vec<String> {
    use diesel::migration::MigrationSource;
    fn versions<B: diesel::backend::Backend>(source: &EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<B>,
    {
        MigrationSource::<B>::migrations(source)
            .map(|all| all.iter().map(|m| m.name().version().to_string()).collect())
            .unwrap_or_default()
    }
    match backend {
        Backend::Postgres => versions::<diesel::pg::Pg>(&PG_MIGRATIONS),
        Backend::Sqlite => versions::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS),
    }
}

/// Refuses a store that a newer release migrated: this binary would run
/// half-compatible on it (its columns and rules unknown here).
fn refuse_newer_store(conn: &mut DbConnection) -> anyhow::Result<()> {
    let known = known_migrations(conn.backend());
    let unreadable = |e| anyhow::anyhow!("cannot read the applied migrations: {e}");
    let applied: Vec<String> = match conn {
        DbConnection::Pg(c) => c.applied_migrations().map_err(unreadable)?,
        DbConnection::Sqlite(c) => c.applied_migrations().map_err(unreadable)?,
    }
    .iter()
    .map(|v| v.to_string())
    .collect();
    let unknown: Vec<&String> = applied.iter().filter(|v| !known.contains(v)).collect();
    if let Some(newest) = unknown.into_iter().max() {
        anyhow::bail!(
            "the store was migrated by a newer release of whm-tokens (migration {newest}, which \
             this binary does not know; it knows up to {}): run that release or a newer one",
            known.iter().max().map_or("none", String::as_str)
        );
    }
    Ok(())
}

/// Any number serialising migrations between instances that start together.
const MIGRATION_LOCK: i64 = 0x7768_6d5f_746f_6b31;

/// Applies pending migrations. Instances that start together take turns
/// (an advisory lock on PostgreSQL, the write lock on SQLite): the second
/// waits, then finds nothing left to do.
pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConnection::Pg(_) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            // Under the lock: reading the applied migrations may create
            // their table, which two instances must not do at once.
            let applied = refuse_newer_store(conn).and_then(|()| {
                let DbConnection::Pg(c) = conn else {
                    unreachable!()
                };
                c.run_pending_migrations(PG_MIGRATIONS)
                    .map(|a| a.len())
                    .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
            });
            let unlocked =
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            let applied = applied?;
            unlocked?;
            applied
        }
        // The write lock, taken before the pending migrations are worked
        // out, makes a second process wait and then find nothing to do.
        DbConnection::Sqlite(_) => transaction(conn, |conn| {
            refuse_newer_store(conn)?;
            let DbConnection::Sqlite(c) = conn else {
                unreachable!()
            };
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|a| a.len())
                .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
        })?,
    };
    Ok(applied)
}

pub type DbPool = Pool<Manager>;

/// How long a request waits for a connection before it is told the
/// database is unavailable (the page and the API answer 503).
const CHECKOUT_TIMEOUT: Duration = Duration::from_millis(1500);
/// After a failed attempt to connect, requests fail at once for this long
/// instead of each waiting [`CHECKOUT_TIMEOUT`].
const FAIL_FAST_MS: i64 = 1000;

/// How long a request to a server waits for the database to finish its work
/// before it is answered 503 with Retry-After: a database that stops answering
/// without closing its connections (a primary waiting for a synchronous
/// standby that is gone, a lock held by a stuck session) never hangs a
/// request. The work itself goes on, holding its connection, and a write
/// may still land; the answer says so.
pub const WORK_DEADLINE: Duration = Duration::from_secs(15);

/// How often SQLite's planner statistics are refreshed while serving.
pub const STATISTICS_EVERY: Duration = Duration::from_secs(3600);

/// SQLite's advice for long-running applications: `optimize` with 0x10000
/// looks at every table (not only those this connection used), and runs
/// `ANALYZE` on those whose size changed a lot since their statistics were
/// gathered, or that have none; `analysis_limit` samples each index rather
/// than reading it whole, so this stays quick at a million rows.
const SQLITE_OPTIMIZE: &str = "PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;";

/// How often SQLite's search index is merged while serving (a round finds
/// nothing to do unless tokens were made, renamed or removed).
pub const SEARCH_MERGE_EVERY: Duration = Duration::from_secs(300);

/// Pages of work in one step of merging SQLite's search index: about
/// 10-20 ms of holding the write lock.
pub const SEARCH_MERGE_PAGES: u32 = 100;
/// The pause between two steps of merging.
const SEARCH_MERGE_PAUSE: Duration = Duration::from_millis(20);
/// Steps in one round of merging at most (a round ends when nothing is
/// left to merge: one to a few steps on the scale bench's stores).
const SEARCH_MERGE_MAX_STEPS: usize = 10_000;
/// One number a query answers as `n`.
#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many times a read whose connection died is run again, each time on
/// a connection that answered just before.
const READ_RETRIES: usize = 3;

/// The error for work whose connection died under it: the database is
/// unavailable for a moment (503 with Retry-After), and nothing was written.
fn cut_off<E: From<anyhow::Error>>(what: &str) -> E {
    tracing::warn!("{what} was cut off: its database connection died");
    E::from(anyhow::Error::new(Unavailable(format!(
        "{what} was cut off: its connection died"
    ))))
}

/// A connection from the pool.
pub struct Conn(PooledConnection<Manager>);

impl std::ops::Deref for Conn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.0.conn
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0.conn
    }
}

impl Conn {
    /// Whether the connection still answers; a dead one is marked so the
    /// pool drops it. Asked only after a failure, never on checkout.
    fn check_alive(&mut self) -> bool {
        let alive = self.0.conn.batch_execute("SELECT 1").is_ok();
        if !alive {
            self.0.broken = true;
        }
        alive
    }
}

/// A handle on the store that front ends share.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    url: Arc<str>,
    /// Where sessions of their own go (the change listener, migrations):
    /// `url` itself unless a pooler stands between (see
    /// [`Db::connect_behind_pooler`]).
    direct_url: Arc<str>,
    health: Arc<Health>,
    changes: Arc<Changes>,
    metrics: Arc<crate::metrics::Metrics>,
    /// How long a request waits for its work (see [`WORK_DEADLINE`]);
    /// `None` for commands, whose work (a restore) may take long.
    deadline: Option<Duration>,
}

/// The pool's connections now: (in use, idle).
pub struct PoolState {
    pub in_use: u32,
    pub idle: u32,
}

impl Db {
    /// Opens the store. One connection is made at once so that a wrong URL
    /// fails here, naming its real cause.
    pub fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        Self::connect_with(url, None, max_connections)
    }

    /// Opens a PostgreSQL store whose `url` is a pooler's in transaction
    /// mode (PgBouncer): pooled connections use no prepared statements, and
    /// the change listener and migrations use `direct_url`, since LISTEN and
    /// session advisory locks need a server session of their own.
    pub fn connect_behind_pooler(
        url: &str,
        direct_url: &str,
        max_connections: u32,
    ) -> anyhow::Result<Self> {
        Self::connect_with(url, Some(direct_url), max_connections)
    }

    fn connect_with(
        url: &str,
        direct_url: Option<&str>,
        max_connections: u32,
    ) -> anyhow::Result<Self> {
        let backend = Backend::of_url(url);
        let first = establish(url)?;
        let health = Arc::new(Health::default());
        let pool = Pool::builder()
            .max_size(max_connections.max(1))
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A dead connection is found when it fails (see `read`), not by
            // a round trip on every checkout.
            .test_on_check_out(false)
            .error_handler(Box::new(QuietErrors))
            .build_unchecked(Manager::new(url, health.clone(), direct_url.is_some()));
        drop(first);
        Ok(Self {
            pool,
            backend,
            url: url.into(),
            direct_url: direct_url.unwrap_or(url).into(),
            health,
            changes: Changes::new(url, backend),
            metrics: Arc::default(),
            deadline: None,
        })
    }

    /// This handle, with requests' work answered 503 when it takes longer
    /// than [`WORK_DEADLINE`]: what a server uses.
    pub fn serving(mut self) -> Self {
        self.deadline = Some(WORK_DEADLINE);
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What tells cached reads that they are stale.
    pub fn changes(&self) -> &Arc<Changes> {
        &self.changes
    }

    /// Starts following changes made by other processes (PostgreSQL's
    /// listener thread); a server calls this, one-shot commands need not.
    pub fn follow_changes(&self) {
        self.changes.start_listener(&self.direct_url);
    }

    /// The metrics this store (and the server around it) counts into.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The pool's connections now, and whether the database is down.
    pub fn pool_state(&self) -> (PoolState, bool) {
        let state = self.pool.state();
        (
            PoolState {
                in_use: state.connections.saturating_sub(state.idle_connections),
                idle: state.idle_connections,
            },
            self.health.is_down(),
        )
    }

    pub fn get(&self) -> Result<Conn, Unavailable> {
        if !self.metrics.is_on() {
            return self.checkout();
        }
        let started = std::time::Instant::now();
        let got = self.checkout();
        self.metrics
            .checkout(started.elapsed().as_secs_f64(), got.is_ok());
        got
    }

    fn checkout(&self) -> Result<Conn, Unavailable> {
        let pooled = if self.health.recently_down(FAIL_FAST_MS) {
            // Hand out an idle connection if one is left, but do not queue
            // behind attempts that are failing.
            self.pool.try_get()
        } else {
            self.pool.get().ok()
        };
        match pooled {
            Some(c) => Ok(Conn(c)),
            None if self.health.is_down() => Err(Unavailable("no connection could be made".into())),
            None => Err(Unavailable(format!(
                "every connection stayed busy for {} ms",
                CHECKOUT_TIMEOUT.as_millis()
            ))),
        }
    }

    pub fn migrate(&self) -> anyhow::Result<usize> {
        if self.direct_url != self.url {
            // Behind a pooler: the migration lock is a session's.
            return run_migrations(&mut establish(&self.direct_url)?);
        }
        run_migrations(&mut *self.get()?)
    }

    /// Gathers the query planner's statistics where they are missing or out
    /// of date, as SQLite recommends (`PRAGMA optimize`, over every table,
    /// each sampled rather than read whole): without them SQLite plans a
    /// store that grew outside the server as if it were empty. Run by a
    /// server once it is listening, and every [`STATISTICS_EVERY`]: on a
    /// big store that never had statistics (filled behind the server's
    /// back), SQLite reads much of it, which with a cold cache takes
    /// minutes, and nothing should wait for that. PostgreSQL's autovacuum does this
    /// itself; nothing is done there.
    pub fn refresh_statistics(conn: &mut DbConnection) -> anyhow::Result<()> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(SQLITE_OPTIMIZE)?;
        }
        Ok(())
    }

    /// One step of merging the embedded store's search index (SQLite's
    /// FTS5 `merge` command, [`SEARCH_MERGE_PAGES`] pages of work in one
    /// short write): true if it found segments to merge. Nothing on
    /// PostgreSQL. See [`Db::merge_search_index_now`].
    pub fn merge_search_index(conn: &mut DbConnection) -> anyhow::Result<bool> {
        use diesel::RunQueryDsl;
        let DbConnection::Sqlite(_) = conn else {
            return Ok(false);
        };
        let changes = |conn: &mut DbConnection| -> anyhow::Result<i64> {
            Ok(diesel::sql_query("SELECT total_changes() AS n")
                .get_result::<Count>(conn)?
                .n)
        };
        let before = changes(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO tokens_search (tokens_search, rank) VALUES ('merge', {SEARCH_MERGE_PAGES})"
        ))
        .execute(conn)?;
        // SQLite's documented test: two or more changes mean work was done.
        Ok(changes(conn)? - before >= 2)
    }

    /// Merges the segments of SQLite's search index, step by step, each
    /// step its own short write so that nothing waits long for the write
    /// lock; returns how many steps did work. FTS5 adds a segment for
    /// each write and merges them only four at a time, so a store that
    /// grew keeps many, and a search reads each of its terms in every
    /// one. With `usermerge` at 2 (set by a migration) this merges any
    /// level that holds two. Measured (`"deploy-000050"`, the scale
    /// bench's stores after a run): a million tokens in 11 segments
    /// searched in 309 us, merged into 3 (one step, 70 ms) in 258 us; 1,000
    /// tokens in 16 segments in 149 us, in 3 in 58 us. (Merging all into
    /// one, an incremental `optimize`, would gain 230 and 41 us but
    /// rewrites the whole index: 66 steps, 1.6 s at a million.) Nothing on
    /// PostgreSQL, whose trigram indexes autovacuum keeps.
    pub async fn merge_search_index_now(&self) -> anyhow::Result<usize> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let mut steps = 0;
        while steps < SEARCH_MERGE_MAX_STEPS
            && self.write_bookkeeping(Self::merge_search_index).await?
        {
            steps += 1;
            // A pause between steps, so that a request's write waiting
            // in SQLite's busy handler (which retries, first come or not)
            // finds the lock free.
            tokio::time::sleep(SEARCH_MERGE_PAUSE).await;
        }
        Ok(steps)
    }

    /// [`Db::merge_search_index_now`], its outcome logged.
    pub async fn merge_search_index_logged(&self) {
        let started = std::time::Instant::now();
        match self.merge_search_index_now().await {
            Ok(0) => {}
            Ok(steps) => tracing::info!(
                steps,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "search index merged"
            ),
            Err(e) => tracing::warn!(error = %e, "the search index could not be merged"),
        }
    }

    /// Gathers the planner's statistics for every table, whatever it had
    /// (after a bulk load: a restore, a copy): `ANALYZE`, sampled on
    /// SQLite. It reads much of the store; run it where nothing waits.
    pub fn gather_statistics(conn: &mut DbConnection) -> anyhow::Result<()> {
        match conn {
            DbConnection::Sqlite(c) => c.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?,
            DbConnection::Pg(c) => c.batch_execute("ANALYZE")?,
        }
        Ok(())
    }

    /// Whether the store is small enough (SQLite: under 100,000 tokens and
    /// 1,000,000 audit events, by their highest ids) for its statistics to
    /// be gathered before the server answers, in milliseconds. A bigger
    /// one that never had any would take seconds to minutes.
    pub fn statistics_are_quick(conn: &mut DbConnection) -> anyhow::Result<bool> {
        use diesel::RunQueryDsl;
        let highest = |conn: &mut DbConnection, table: &str| -> anyhow::Result<i64> {
            Ok(
                diesel::sql_query(format!("SELECT COALESCE(MAX(id), 0) AS n FROM {table}"))
                    .get_result::<Count>(conn)?
                    .n,
            )
        };
        Ok(highest(conn, "tokens")? < 100_000 && highest(conn, "audit_events")? < 1_000_000)
    }

    /// Whether SQLite has gathered statistics in this store before.
    pub fn has_statistics(conn: &mut DbConnection) -> anyhow::Result<bool> {
        use diesel::RunQueryDsl;
        Ok(match conn {
            DbConnection::Pg(_) => true,
            DbConnection::Sqlite(_) => {
                diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1'",
                )
                .get_result::<Count>(conn)?
                .n > 0
            }
        })
    }

    /// [`Db::refresh_statistics`] on a blocking thread.
    pub async fn refresh_statistics_now(&self) -> anyhow::Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        self.write_bookkeeping(Self::refresh_statistics).await
    }

    /// Runs read-only work on a blocking thread. If it fails because its
    /// connection died (a restarted server, killed backends), it runs again
    /// on a live one, a few times; if the connection it last tried died
    /// too, the database is unavailable (503), not at fault.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: Fn(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        let db = self.clone();
        self.blocking(move || {
            let mut conn = db.get().map_err(anyhow::Error::from)?;
            let mut retries = 0;
            loop {
                match f(&mut conn) {
                    Err(e) if db.backend == Backend::Postgres && !conn.check_alive() => {
                        drop(conn);
                        if retries == READ_RETRIES {
                            drop(e);
                            return Err(cut_off("a read"));
                        }
                        retries += 1;
                        tracing::warn!("a database connection died; retrying on a live one");
                        conn = db.live_connection().map_err(anyhow::Error::from)?;
                    }
                    done => return done,
                }
            }
        })
        .await
    }

    /// A connection that answers: after one was found dead (a restarted
    /// server ends them all), every idle one is suspect, so each is asked
    /// before use and the dead are dropped.
    fn live_connection(&self) -> Result<Conn, Unavailable> {
        for _ in 0..=self.pool.max_size() {
            let mut conn = self.get()?;
            if conn.check_alive() {
                return Ok(conn);
            }
        }
        Err(Unavailable("every connection tried was dead".into()))
    }

    /// Runs `f` in one transaction on a blocking thread, then marks cached
    /// token checks as stale.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + From<diesel::result::Error> + Send + 'static,
    {
        self.write_then(f, true, |_: &Result<T, E>| {}).await
    }

    /// Runs `f` in one transaction on a blocking thread, for tables no token
    /// check reads (sessions, sign-in throttling, one-time links): cached
    /// token checks stay valid.
    pub async fn write_bookkeeping<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + From<diesel::result::Error> + Send + 'static,
    {
        self.write_then(f, false, |_: &Result<T, E>| {}).await
    }

    /// [`Db::write_bookkeeping`], then `settle` with the work's outcome, on
    /// the work's own thread, whether or not anyone still waits for it.
    /// Past [`WORK_DEADLINE`] the caller is told the database did not
    /// answer, but the work goes on and may still commit: what it took
    /// must be handed back (or not) by how it really ended, not by the
    /// caller's guess.
    pub async fn write_bookkeeping_settled<T, E, F, S>(&self, f: F, settle: S) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        S: FnOnce(&Result<T, E>) + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + From<diesel::result::Error> + Send + 'static,
    {
        self.write_then(f, false, settle).await
    }

    async fn write_then<T, E, F, S>(&self, f: F, announce: bool, settle: S) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        S: FnOnce(&Result<T, E>) + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + From<diesel::result::Error> + Send + 'static,
    {
        let db = self.clone();
        self.blocking(move || {
            let outcome = (|| {
                let mut conn = db.get().map_err(anyhow::Error::from)?;
                let result = transaction(&mut conn, f);
                // Here, not after the await: a request that goes away must
                // not leave its change unannounced.
                if announce {
                    db.changes.bump();
                }
                match result {
                    // Its connection died under it: the transaction did not
                    // commit, and the caller may try again (503).
                    Err(e) if db.backend == Backend::Postgres && !conn.check_alive() => {
                        drop(e);
                        Err(cut_off("a write"))
                    }
                    done => done,
                }
            })();
            settle(&outcome);
            outcome
        })
        .await
    }

    async fn blocking<T, E>(
        &self,
        f: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        // The work's log lines belong to the request that asked for it.
        let span = tracing::Span::current();
        let work = actix_web::web::block(move || span.in_scope(f));
        let Some(deadline) = self.deadline else {
            return work
                .await
                .map_err(|e| E::from(anyhow::anyhow!("blocking task failed: {e}")))?;
        };
        match tokio::time::timeout(deadline, work).await {
            Ok(done) => done.map_err(|e| E::from(anyhow::anyhow!("blocking task failed: {e}")))?,
            Err(_) => {
                tracing::warn!(
                    "the database did not answer within {} s",
                    deadline.as_secs()
                );
                Err(E::from(anyhow::Error::new(Unavailable(format!(
                    "the database did not answer within {} s (a change may still be applied)",
                    deadline.as_secs()
                )))))
            }
        }
    }
}
