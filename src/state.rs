use std::sync::Arc;

use crate::auth::password::PasswordWorkers;
use crate::auth::token_cache::TokenCache;
use crate::config::Config;
use crate::db::Db;
use crate::domain::ServerClock;

/// What every handler shares: the store, the clock, the settings, the
/// password workers and the cache of checked tokens.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: ServerClock,
    pub config: Arc<Config>,
    pub passwords: PasswordWorkers,
    pub tokens: Arc<TokenCache>,
    /// Answers built in memory in one piece (a full `api_token_list`): as
    /// many at once as there are cores, so that many large lists at once
    /// queue instead of each holding its rows and its answer.
    pub large_answers: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let passwords = PasswordWorkers::start(config.password_concurrency, config.password_queue);
        Self {
            db,
            clock: ServerClock::new(config.time_zone),
            config: Arc::new(config),
            passwords,
            tokens: Arc::new(TokenCache::default()),
            large_answers: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        }
    }
}
