//! When the database turns work away: the error pages and the API answer
//! with 503 and Retry-After, and how a Diesel error is told apart from a
//! fault. A leaf of the store: it imports nothing else of it.

/// Why the database could not be reached. Pages and the API turn this into
/// 503 "database unavailable"; the cause goes to the log.
#[derive(Debug, thiserror::Error)]
#[error("{UNAVAILABLE_PREFIX}: {0}")]
pub struct Unavailable(pub String);

/// How [`Unavailable`] reads, so that it can be recognised wherever it ends
/// up wrapped (the session middleware keeps only its text).
pub const UNAVAILABLE_PREFIX: &str = "the database is unavailable";

/// Why an error means the database turned the work away for a moment, if
/// it does: SQLite's write lock held past the busy timeout, or a
/// PostgreSQL connection closed or shut down under the statement.
fn turned_away(e: &diesel::result::Error) -> Option<&'static str> {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    match e {
        Error::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _) => {
            Some("its connection closed")
        }
        Error::DatabaseError(_, info) => {
            let message = info.message();
            if message.contains("database is locked") || message.contains("database is busy") {
                Some("the store stayed locked by another writer")
            } else if message.contains("read-only transaction") {
                // SQLSTATE 25006: the connection reached a standby (a URL
                // without target_session_attrs=read-write, or a primary
                // demoted under it).
                Some("its connection reached a standby, not the primary")
            } else if message.contains("terminating connection")
                || message.contains("the database system is shutting down")
                || message.contains("server closed the connection")
            {
                Some("its connection was ended by the server")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A Diesel error as the server reports it: [`Unavailable`] (a 503 with
/// Retry-After; nothing was written) when the database turned the work
/// away for a moment, else the error itself (a fault).
pub fn classify(e: diesel::result::Error) -> anyhow::Error {
    match turned_away(&e) {
        Some(why) => {
            tracing::warn!(error = %e, "the database turned work away");
            Unavailable(why.to_owned()).into()
        }
        None => e.into(),
    }
}
