use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::domain::ServerClock;

/// What every handler shares: the store, the clock and the settings.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: ServerClock,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        Self {
            db,
            clock: ServerClock::new(config.time_zone),
            config: Arc::new(config),
        }
    }
}
