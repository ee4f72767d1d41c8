//! One connection type over PostgreSQL and SQLite, which backend it is,
//! and transactions that behave alike on both.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Pg(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// The columns of `T`, for a `RETURNING` clause: on the two-backend
/// connection `T::as_returning()` does not build, the plain column list does.
pub fn columns<T: diesel::Selectable<<DbConnection as diesel::Connection>::Backend>>(
) -> T::SelectExpression {
    T::construct_selection()
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

/// Runs `f` in one transaction. On SQLite the transaction takes the write
/// lock at once (`BEGIN IMMEDIATE`), so that two writers queue on the busy
/// timeout instead of failing when one upgrades a read to a write.
pub fn transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error> + From<anyhow::Error>,
{
    within(conn, "BEGIN", "BEGIN IMMEDIATE", f)
}

/// Runs read-only `f` on one snapshot of the store (several statements that
/// must agree, such as a count and the page it counts).
pub fn snapshot<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error> + From<anyhow::Error>,
{
    within(
        conn,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "BEGIN DEFERRED",
        f,
    )
}

fn within<T, E>(
    conn: &mut DbConnection,
    pg_begin: &str,
    sqlite_begin: &str,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error> + From<anyhow::Error>,
{
    // A lock held too long or a connection gone: the database turned the
    // work away (503), not a fault.
    let turned_away = |e| E::from(super::faults::classify(e));
    match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, pg_begin),
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, sqlite_begin),
    }
    .map_err(turned_away)?;
    match f(conn) {
        Ok(value) => {
            match conn {
                DbConnection::Pg(c) => AnsiTransactionManager::commit_transaction(c),
                DbConnection::Sqlite(c) => AnsiTransactionManager::commit_transaction(c),
            }
            .map_err(turned_away)?;
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
