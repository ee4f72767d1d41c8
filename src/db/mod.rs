//! The store: one Diesel connection type over PostgreSQL and SQLite, a
//! pool, migrations, and helpers that run blocking Diesel work off the
//! async threads.

pub mod models;
pub mod schema;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// Opens one connection of the kind the URL names. SQLite URLs may be a
/// bare path or start with `sqlite://`.
pub fn establish(url: &str) -> anyhow::Result<DbConnection> {
    use diesel::Connection;
    Ok(match Backend::of_url(url) {
        Backend::Postgres => DbConnection::Pg(
            PgConnection::establish(url).context("could not connect to PostgreSQL")?,
        ),
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let mut conn = SqliteConnection::establish(path)
                .with_context(|| format!("could not open the SQLite database {path}"))?;
            conn.batch_execute(SQLITE_PRAGMAS)?;
            DbConnection::Sqlite(conn)
        }
    })
}

const SQLITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

pub fn run_migrations(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConnection::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    Ok(applied.len())
}

/// Runs `f` in one transaction. On SQLite the transaction takes the write
/// lock at once (`BEGIN IMMEDIATE`), so that two writers queue on the busy
/// timeout instead of failing when one upgrades a read to a write.
pub fn transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
    }
    match f(conn) {
        Ok(value) => {
            match conn {
                DbConnection::Pg(c) => AnsiTransactionManager::commit_transaction(c)?,
                DbConnection::Sqlite(c) => AnsiTransactionManager::commit_transaction(c)?,
            }
            Ok(value)
        }
        Err(e) => {
            let rolled_back = match conn {
                DbConnection::Pg(c) => AnsiTransactionManager::rollback_transaction(c),
                DbConnection::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
            };
            if let Err(rollback_error) = rolled_back {
                tracing::error!(error = %rollback_error, "rollback failed");
            }
            Err(e)
        }
    }
}

pub type DbPool = Pool<ConnectionManager<DbConnection>>;

/// A handle on the store that front ends share.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
}

impl Db {
    pub fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let backend = Backend::of_url(url);
        let manager = ConnectionManager::<DbConnection>::new(url);
        let pool = Pool::builder()
            .max_size(max_connections)
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(SqlitePragmas))
            // A pooled SQLite connection cannot go stale; checking it on every
            // checkout would cost a query per request.
            .test_on_check_out(backend == Backend::Postgres)
            .build(manager)
            .context("could not open the database")?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn get(
        &self,
    ) -> anyhow::Result<diesel::r2d2::PooledConnection<ConnectionManager<DbConnection>>> {
        self.pool.get().context("no database connection available")
    }

    pub fn migrate(&self) -> anyhow::Result<usize> {
        run_migrations(&mut *self.get()?)
    }

    /// Runs read-only work on a blocking thread.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || {
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(anyhow::anyhow!("blocking task failed: {e}")))?
    }

    /// Runs `f` in one transaction on a blocking thread.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<anyhow::Error> + From<diesel::result::Error> + Send + 'static,
    {
        self.read(move |conn| transaction(conn, f)).await
    }
}
