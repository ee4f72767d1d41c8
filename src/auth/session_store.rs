//! Sessions kept in our own database, so that every instance sees them and
//! so that suspending, deleting or re-passwording an account can end its
//! sessions at once (`DELETE ... WHERE account_id = ?`). The cookie holds a
//! random key; the store keeps only the key's SHA-256.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};
use rand::TryRngCore;
use sha2::{Digest, Sha256};

use crate::db::models::SessionRow;
use crate::db::schema::sessions;
use crate::db::Db;

/// The session entry that names the signed-in account.
pub const ACCOUNT_ID: &str = "account_id";
/// The session entry of a sign-in that passed the password and waits for
/// its second factor. Stored with the account's id too, so that ending the
/// account's sessions (password change, reset, suspension, deletion) ends
/// such a half-finished sign-in as well.
pub const PENDING_ACCOUNT: &str = "pending_account";
/// Entries set at sign-in for the list of sessions: a public id for the
/// session (never its key), the client's address and its browser.
pub const SESSION_ID: &str = "sid";
pub const CLIENT_ADDRESS: &str = "ip";
pub const CLIENT_AGENT: &str = "agent";
/// A session ends after this many hours without a request.
pub const IDLE_HOURS: i64 = 8;
/// `last_seen` is written at most this often (seconds): a page view costs
/// no write most of the time.
const SEEN_EVERY: i64 = 60;

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    /// However active, a session ends this long after it began (seconds).
    max_age: i64,
}

impl DbSessionStore {
    pub fn new(db: Db, max_age: std::time::Duration) -> Self {
        Self {
            db,
            max_age: max_age.as_secs() as i64,
        }
    }
}

fn digest(key: &SessionKey) -> Vec<u8> {
    Sha256::digest(key.as_ref().as_bytes()).to_vec()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn account_of(state: &State) -> Option<i64> {
    state
        .get(ACCOUNT_ID)
        .or_else(|| state.get(PENDING_ACCOUNT))
        .and_then(|v| v.parse().ok())
}

fn new_key() -> SessionKey {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    SessionKey::try_from(Alphanumeric.sample_string(&mut rng, 64))
        .expect("64 characters is a valid key")
}

/// `created_at` of a session begun before the column existed (migration
/// 000003 adds it with this default), or by an instance of that release
/// still serving during a rolling upgrade: its start is not known.
const UNKNOWN_START: i64 = 0;

impl DbSessionStore {
    /// Gives a session whose start is not known the start `now`: it stays
    /// signed in across the upgrade, and its maximum age counts from the
    /// first time a new instance sees it.
    async fn stamp_start(&self, d: Vec<u8>) -> Result<(), anyhow::Error> {
        let now = now();
        self.db
            .write_bookkeeping(move |conn| {
                diesel::update(
                    sessions::table
                        .filter(sessions::key_digest.eq(d))
                        .filter(sessions::created_at.eq(UNKNOWN_START)),
                )
                .set(sessions::created_at.eq(now))
                .execute(conn)
                .map_err(crate::db::classify)
            })
            .await?;
        Ok(())
    }
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let d = digest(key);
        let max_age = self.max_age;
        let found: Option<(String, i64)> = self
            .db
            .read(move |conn| {
                sessions::table
                    .filter(sessions::key_digest.eq(&d))
                    .filter(sessions::expires_at.gt(now()))
                    .filter(
                        sessions::created_at
                            .gt(now() - max_age)
                            .or(sessions::created_at.eq(UNKNOWN_START)),
                    )
                    .select((sessions::state, sessions::created_at))
                    .first(conn)
                    .optional()
                    .map_err(crate::db::classify)
            })
            .await
            .map_err(LoadError::Other)?;
        if found
            .as_ref()
            .is_some_and(|(_, created)| *created == UNKNOWN_START)
        {
            self.stamp_start(digest(key))
                .await
                .map_err(LoadError::Other)?;
        }
        found
            .map(|(state, _)| state)
            .map(|s| serde_json::from_str(&s).map_err(|e| LoadError::Deserialization(e.into())))
            .transpose()
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key();
        let now = now();
        let row = SessionRow {
            key_digest: digest(&key),
            account_id: account_of(&state),
            state: serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?,
            expires_at: now + ttl.whole_seconds(),
            created_at: now,
            last_seen: now,
        };
        self.db
            .write_bookkeeping(move |conn| {
                // Housekeeping rides along with new sessions: cheap, indexed.
                diesel::delete(sessions::table.filter(sessions::expires_at.le(now)))
                    .execute(conn)
                    .map_err(crate::db::classify)?;
                diesel::insert_into(sessions::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(crate::db::classify)?;
                Ok::<_, anyhow::Error>(())
            })
            .await
            .map_err(SaveError::Other)?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let d = digest(&key);
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let now = now();
        let expires_at = now + ttl.whole_seconds();
        let account_id = account_of(&state);
        let updated = self
            .db
            .write_bookkeeping(move |conn| {
                diesel::update(sessions::table.filter(sessions::key_digest.eq(d)))
                    .set((
                        sessions::state.eq(json),
                        sessions::expires_at.eq(expires_at),
                        sessions::account_id.eq(account_id),
                        sessions::last_seen.eq(now),
                    ))
                    .execute(conn)
                    .map_err(crate::db::classify)
            })
            .await
            .map_err(UpdateError::Other)?;
        if updated > 0 {
            return Ok(key);
        }
        // The session was ended meanwhile (sign-out elsewhere, suspension):
        // never bring its sign-in back to life.
        let mut anonymous = state;
        anonymous.remove(ACCOUNT_ID);
        anonymous.remove(PENDING_ACCOUNT);
        self.save(anonymous, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    /// Called on every request: the idle timeout starts again, and the
    /// session was seen now; written at most once a minute.
    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let d = digest(key);
        let now = now();
        let expires_at = now + ttl.whole_seconds();
        self.db
            .write_bookkeeping(move |conn| {
                diesel::update(
                    sessions::table
                        .filter(sessions::key_digest.eq(d))
                        .filter(sessions::last_seen.lt(now - SEEN_EVERY)),
                )
                .set((
                    sessions::expires_at.eq(expires_at),
                    sessions::last_seen.eq(now),
                ))
                .execute(conn)
                .map_err(crate::db::classify)
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let d = digest(key);
        self.db
            .write_bookkeeping(move |conn| {
                diesel::delete(sessions::table.filter(sessions::key_digest.eq(d)))
                    .execute(conn)
                    .map_err(crate::db::classify)
            })
            .await?;
        Ok(())
    }
}

/// A text entry of a stored session's state (actix-session keeps each
/// value as JSON).
fn text_entry(state: &State, key: &str) -> String {
    state
        .get(key)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
        .unwrap_or_default()
}

/// A session as its account's list shows it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The public id (`sid`), to name it in a form; never its key.
    pub id: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub address: String,
    pub agent: String,
}

/// The live sessions of an account, most recently seen first.
pub fn of_account(
    conn: &mut crate::db::DbConnection,
    account_id: i64,
    max_age: std::time::Duration,
) -> Result<Vec<SessionInfo>, crate::ops::OpError> {
    let now = now();
    let rows: Vec<(String, i64, i64)> = sessions::table
        .filter(sessions::account_id.eq(account_id))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::created_at.gt(now - max_age.as_secs() as i64))
        .order(sessions::last_seen.desc())
        .select((sessions::state, sessions::created_at, sessions::last_seen))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(state, created_at, last_seen)| {
            let state: State = serde_json::from_str(&state).ok()?;
            Some(SessionInfo {
                id: text_entry(&state, SESSION_ID),
                created_at,
                last_seen,
                address: text_entry(&state, CLIENT_ADDRESS),
                agent: text_entry(&state, CLIENT_AGENT),
            })
        })
        .filter(|s| !s.id.is_empty())
        .collect())
}

/// Ends the account's sessions whose public ids are in `ids`, or all but
/// `keep`'s when `ids` is `None`. Returns how many ended.
pub fn end(
    conn: &mut crate::db::DbConnection,
    account_id: i64,
    ids: Option<&[String]>,
    keep: &str,
) -> Result<usize, crate::ops::OpError> {
    let rows: Vec<(Vec<u8>, String)> = sessions::table
        .filter(sessions::account_id.eq(account_id))
        .select((sessions::key_digest, sessions::state))
        .load(conn)?;
    let doomed: Vec<Vec<u8>> = rows
        .into_iter()
        .filter(|(_, state)| {
            let sid = serde_json::from_str::<State>(state)
                .map(|s| text_entry(&s, SESSION_ID))
                .unwrap_or_default();
            sid != keep && ids.is_none_or(|ids| ids.contains(&sid))
        })
        .map(|(digest, _)| digest)
        .collect();
    Ok(diesel::delete(
        sessions::table
            .filter(sessions::account_id.eq(account_id))
            .filter(sessions::key_digest.eq_any(doomed)),
    )
    .execute(conn)?)
}
