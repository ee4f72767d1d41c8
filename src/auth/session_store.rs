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

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn digest(key: &SessionKey) -> Vec<u8> {
    Sha256::digest(key.as_ref().as_bytes()).to_vec()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn account_of(state: &State) -> Option<i64> {
    state.get(ACCOUNT_ID).and_then(|v| v.parse().ok())
}

fn new_key() -> SessionKey {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    SessionKey::try_from(Alphanumeric.sample_string(&mut rng, 64))
        .expect("64 characters is a valid key")
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let d = digest(key);
        let state: Option<String> = self
            .db
            .read(move |conn| {
                sessions::table
                    .filter(sessions::key_digest.eq(&d))
                    .filter(sessions::expires_at.gt(now()))
                    .select(sessions::state)
                    .first(conn)
                    .optional()
                    .map_err(anyhow::Error::from)
            })
            .await
            .map_err(LoadError::Other)?;
        state
            .map(|s| serde_json::from_str(&s).map_err(|e| LoadError::Deserialization(e.into())))
            .transpose()
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key();
        let row = SessionRow {
            key_digest: digest(&key),
            account_id: account_of(&state),
            state: serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?,
            expires_at: now() + ttl.whole_seconds(),
        };
        self.db
            .write_bookkeeping(move |conn| {
                // Housekeeping rides along with new sessions: cheap, indexed.
                diesel::delete(sessions::table.filter(sessions::expires_at.le(now())))
                    .execute(conn)?;
                diesel::insert_into(sessions::table)
                    .values(&row)
                    .execute(conn)?;
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
        let expires_at = now() + ttl.whole_seconds();
        let account_id = account_of(&state);
        let updated = self
            .db
            .write_bookkeeping(move |conn| {
                diesel::update(sessions::table.filter(sessions::key_digest.eq(d)))
                    .set((
                        sessions::state.eq(json),
                        sessions::expires_at.eq(expires_at),
                        sessions::account_id.eq(account_id),
                    ))
                    .execute(conn)
                    .map_err(anyhow::Error::from)
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
        self.save(anonymous, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let d = digest(key);
        let expires_at = now() + ttl.whole_seconds();
        self.db
            .write_bookkeeping(move |conn| {
                diesel::update(sessions::table.filter(sessions::key_digest.eq(d)))
                    .set(sessions::expires_at.eq(expires_at))
                    .execute(conn)
                    .map_err(anyhow::Error::from)
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
                    .map_err(anyhow::Error::from)
            })
            .await?;
        Ok(())
    }
}
